#!/usr/bin/env python3
"""Create then delete 1,000 OVN logical ports with a security group three ways, side by side in one run.

  (a) Driftless: OVNNorthbound, one convergence to create and one to delete (the release-built
      DriftlessOVSBench in its `ovn` mode)
  (b) ovn-nbctl: one call per port (lsp-add with its addresses and port security), then the port
      group and one call per ACL; one call per port to delete, then the group and the switch
  (c) ovsdbapp: Neutron's Python OVSDB library, its OVN Northbound API, everything in one transaction
      to create and one to delete

Every way makes the same rows on its own switch: N ports with `MAC IP` addresses and port security,
and a port group of all of them with R to-lport ACLs (allow-related tcp to a port each); then deletes
them. The database is a private ovsdb-server with Debian's OVN Northbound schema on a socket in a
temporary directory (no ovn-northd: only the Northbound path is measured). Connecting is not timed.
The goals of issue 14 are checked at the end: Driftless at least 10x faster than the ovn-nbctl loop
and no slower than ovsdbapp in one transaction; the exit status is 1 when one is missed.

    python3 benchmarks/ovn_ports.py                      # builds DriftlessOVSBench in release mode
    python3 benchmarks/ovn_ports.py --bench-binary PATH  # a DriftlessOVSBench already built
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ovs_ports import REPO, build_bench, ensure_ovsdbapp, median_run, ovsdbapp_version, report  # noqa: E402

SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"


class Northbound:
    """ovsdb-server with the Northbound schema, on a socket of its own."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="dlt-nb-bench-")
        self.socket = os.path.join(self.directory, "nb.sock")
        database = os.path.join(self.directory, "nb.db")
        subprocess.run(["ovsdb-tool", "create", database, SCHEMA], check=True)
        self.server = subprocess.Popen(
            ["ovsdb-server", database, f"--remote=punix:{self.socket}",
             f"--unixctl={os.path.join(self.directory, 'nb.ctl')}", "--no-chdir",
             f"--log-file={os.path.join(self.directory, 'nb.log')}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket):
            if time.monotonic() > deadline or self.server.poll() is not None:
                raise RuntimeError("ovsdb-server did not open " + self.socket)
            time.sleep(0.02)
        self.endpoint = f"unix:{self.socket}"

    def nbctl(self, *args):
        return subprocess.run(["ovn-nbctl", f"--db={self.endpoint}", *args],
                              check=True, capture_output=True, text=True).stdout

    def count(self, table):
        return len([line for line in self.nbctl("--bare", "--columns=_uuid", "list", table).splitlines() if line])

    def stop(self):
        self.server.terminate()
        self.server.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


class Workload:
    """The same ports and rules for every way."""

    def __init__(self, prefix, count, rules):
        self.switch = f"{prefix}-lan"
        self.group = f"{prefix}_web"
        self.ports = []
        for index in range(count):
            mac = "52:54:00:%02x:%02x:%02x" % (index >> 16 & 255, index >> 8 & 255, index & 255)
            address = f"{mac} 10.{64 + (index >> 16 & 63)}.{index >> 8 & 255}.{index & 255}"
            self.ports.append((f"{prefix}-vm{index}-lan-0", address))
        self.acls = [f"outport == @{self.group} && ip4 && tcp.dst == {8000 + rule}" for rule in range(rules)]


def check_created(nb, workload):
    if nb.count("Logical_Switch_Port") != len(workload.ports) or nb.count("ACL") != len(workload.acls):
        raise RuntimeError(f"expected {len(workload.ports)} ports and {len(workload.acls)} ACLs, found "
                           f"{nb.count('Logical_Switch_Port')} and {nb.count('ACL')}")
    members = nb.nbctl("--bare", "--columns=ports", "list", "Port_Group").split()
    if len(members) != len(workload.ports):
        raise RuntimeError(f"the port group has {len(members)} ports")


def check_deleted(nb):
    left = {table: nb.count(table) for table in ("Logical_Switch", "Logical_Switch_Port", "Port_Group", "ACL")}
    if any(left.values()):
        raise RuntimeError(f"left behind: {left}")


# (a) Driftless -----------------------------------------------------------------------------------

def run_driftless(binary, count, rules):
    nb = Northbound()
    try:
        output = subprocess.run([binary, "ovn", "--endpoint", nb.endpoint, "--ports", str(count), "--rules", str(rules)],
                                check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        check_deleted(nb)
        return result["create_s"], result["delete_s"], int(result["transactions"])
    finally:
        nb.stop()


# (b) ovn-nbctl, one call per port ---------------------------------------------------------------------

def run_nbctl(workload):
    nb = Northbound()
    try:
        start = time.perf_counter()
        nb.nbctl("ls-add", workload.switch)
        for name, address in workload.ports:
            nb.nbctl("lsp-add", workload.switch, name, "--", "lsp-set-addresses", name, address,
                     "--", "lsp-set-port-security", name, address)
        nb.nbctl("pg-add", workload.group, *[name for name, _ in workload.ports])
        for match in workload.acls:
            nb.nbctl("acl-add", workload.group, "to-lport", "1002", match, "allow-related")
        created = time.perf_counter() - start
        check_created(nb, workload)
        start = time.perf_counter()
        for name, _ in workload.ports:
            nb.nbctl("lsp-del", name)
        nb.nbctl("pg-del", workload.group)
        nb.nbctl("ls-del", workload.switch)
        deleted = time.perf_counter() - start
        check_deleted(nb)
        return created, deleted, 2 * len(workload.ports) + len(workload.acls) + 4
    finally:
        nb.stop()


# (c) ovsdbapp, one transaction each way ---------------------------------------------------------------

def ovsdbapp_api(nb):
    """ovsdbapp's OVN Northbound API on `nb`, connected and synced (its backend keeps one connection per
    process, so every ovsdbapp run uses this one database)."""
    from ovsdbapp.backend.ovs_idl import connection
    from ovsdbapp.schema.ovn_northbound import impl_idl

    idl = connection.OvsdbIdl.from_server(nb.endpoint, "OVN_Northbound")
    api = impl_idl.OvnNbApiIdlImpl(connection.Connection(idl=idl, timeout=120))
    api.ls_list().execute(check_error=True)
    return api


def run_ovsdbapp(nb, api, workload):
    start = time.perf_counter()
    with api.transaction(check_error=True) as txn:
        txn.add(api.ls_add(workload.switch))
        ports = [txn.add(api.lsp_add(workload.switch, name, addresses=[address], port_security=[address]))
                 for name, address in workload.ports]
        txn.add(api.pg_add(workload.group, acls=[]))  # as Neutron does, so pg_acl_add finds the column
        txn.add(api.pg_add_ports(workload.group, ports))
        for match in workload.acls:
            txn.add(api.pg_acl_add(workload.group, "to-lport", 1002, match, "allow-related"))
    created = time.perf_counter() - start
    check_created(nb, workload)
    start = time.perf_counter()
    with api.transaction(check_error=True) as txn:
        txn.add(api.pg_del(workload.group))
        txn.add(api.ls_del(workload.switch))
    deleted = time.perf_counter() - start
    check_deleted(nb)
    return created, deleted, 2


# Report ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=10, help="ACLs of the port group")
    parser.add_argument("--repeat", type=int, default=3, help="runs of Driftless and ovsdbapp (the median is shown)")
    parser.add_argument("--package-path", default=REPO, help="the Swift package with DriftlessOVSBench")
    parser.add_argument("--scratch-path", help="SwiftPM build folder (default: the package's .build)")
    parser.add_argument("--bench-binary", help="a release-built DriftlessOVSBench; skips the build")
    args = parser.parse_args()

    for tool in ("ovsdb-server", "ovsdb-tool", "ovn-nbctl"):
        if shutil.which(tool) is None:
            sys.exit(f"ovn_ports.py: {tool} is missing (scripts/install-deps.sh installs ovn-central)")
    binary = build_bench(args)

    results = {}
    runs = [run_driftless(binary, args.ports, args.rules) for _ in range(args.repeat)]
    results["Driftless (OVNNorthbound)"] = (median_run(runs), f"{args.repeat} runs, median")
    nb = Northbound()
    try:
        api = ovsdbapp_api(nb)
        runs = [run_ovsdbapp(nb, api, Workload(f"dla{index}", args.ports, args.rules)) for index in range(args.repeat)]
    finally:
        nb.stop()
    results["ovsdbapp " + ovsdbapp_version()] = (median_run(runs), f"{args.repeat} runs, median")
    results["ovn-nbctl, one call per port"] = (run_nbctl(Workload("dlv", args.ports, args.rules)), "1 run")

    title = (f"{args.ports} logical ports with port security and a port group of {args.rules} ACLs, created then "
             f"deleted (OVN Northbound schema {schema_version()}, private ovsdb-server)")
    return report(title, results, loop="ovn-nbctl, one call per port", loop_words="the ovn-nbctl loop",
                  ovsdbapp_words="ovsdbapp in one transaction")


def schema_version():
    try:
        with open(SCHEMA) as schema:
            return json.load(schema)["version"]
    except Exception:
        return "?"


if __name__ == "__main__":
    ensure_ovsdbapp(__file__)
    sys.exit(main())
