#!/usr/bin/env python3
"""Drift-detection latency of `driftless serve` (issue 6): from an out-of-band change to the drift report.

    python3 benchmarks/drift_latency.py [--rounds 10]

Sets up its own lab (one project, two QEMU guests on a netdev bridge, pools under /var/tmp), starts
`driftless serve` (release build) with a token, then repeats two out-of-band changes:

  * `virsh destroy` of a guest (a libvirt lifecycle event), and
  * `ovs-vsctl del-port` of a guest's port (an OVSDB monitor update),

and times each from the moment the command is issued until GET /api/v1/drift shows the item (polled
every 10 ms). Between rounds the guest is started again and the report must clear. Prints the median,
p90 and max per change, and the time after the command returned. Removes everything at the end.
Goal: median at most 1 s (Argo CD polls every 3 minutes; Nova's power-state sync runs every 10).
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, time, urllib.request, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIFTLESS = os.path.join(ROOT, ".build", "release", "driftless")
IMAGE_SHA = "1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1"


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    sh("swift", "build", "-c", "release", "--product", "driftless")
    lab_id = uuid.uuid4().hex[:6]
    work = f"/var/tmp/driftless-dlat-{lab_id}"
    project, bridge = f"lat{lab_id}", f"br-l{lab_id}"
    repo, state = f"{work}/repo", f"{work}/state"
    os.makedirs(repo)
    sh("qemu-img", "create", "-q", "-f", "qcow2", f"{work}/tiny.qcow2", "64M")
    docs = [f"""apiVersion: driftless.dev/v1
kind: Host
metadata: {{name: local}}
spec:
  bridge: {bridge}
  datapath: netdev
  storagePool: {{name: dlat-{lab_id}-vols, path: {work}/vols}}
  imagePool: {{name: dlat-{lab_id}-imgs, path: {work}/imgs}}""",
            f"apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {{name: {project}}}",
            "apiVersion: driftless.dev/v1\nkind: User\nmetadata: {name: ops}\nspec: {admin: true}",
            f"apiVersion: driftless.dev/v1\nkind: Image\nmetadata: {{name: tiny}}\nspec:\n  source: {{path: {work}/tiny.qcow2}}\n  sha256: {IMAGE_SHA}\n  format: qcow2",
            f"apiVersion: driftless.dev/v1\nkind: Network\nmetadata: {{name: net, project: {project}}}\nspec: {{cidr: 10.88.0.0/24, vlan: 88}}"]
    for name in ["a", "b"]:
        docs.append(f"apiVersion: driftless.dev/v1\nkind: Instance\nmetadata: {{name: {name}, project: {project}}}\n"
                    "spec: {image: tiny, vcpus: 1, memory: 64MiB, rootDisk: 128MiB, networks: [{network: net}]}")
    with open(f"{repo}/cloud.yaml", "w") as f:
        f.write("\n---\n".join(docs) + "\n")
    git = ["git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@b"]
    sh(*git, "init", "-q", "-b", "main"); sh(*git, "add", "-A"); sh(*git, "commit", "-q", "-m", "lab")
    port = 29000 + int(lab_id[:3], 16) % 1000
    log = open(f"{work}/serve.log", "w")
    server = subprocess.Popen([DRIFTLESS, "serve", "--repo", repo, "--state", state, "--listen", f"127.0.0.1:{port}",
                               "--interval", "1h", "--drift-interval", "1h"], stdout=log, stderr=log)
    domain = f"{project}.a"
    try:
        token = sh(DRIFTLESS, "token", "create", "--user", "ops", "--state", state).stdout.strip()

        def drift():
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/drift", headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return json.load(response).get("items", [])
            except Exception:
                return None

        def wait(predicate, timeout=60):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                items = drift()
                if items is not None and predicate(items):
                    return time.monotonic()
                time.sleep(0.01)
            raise SystemExit(f"timed out; serve log: {work}/serve.log")

        def fields(items):
            return [f["field"] for i in items if i.get("name") == "a" for f in i.get("fields", [])]

        wait(lambda items: items == [] and sh("virsh", "domstate", domain).stdout.strip() == "running", timeout=120)
        results = {"virsh destroy": [], "ovs-vsctl del-port": []}
        after = {"virsh destroy": [], "ovs-vsctl del-port": []}
        for _ in range(rounds):
            start = time.monotonic()
            sh("virsh", "destroy", domain)
            returned = time.monotonic()
            seen = wait(lambda items: "power" in fields(items))
            results["virsh destroy"].append(seen - start); after["virsh destroy"].append(seen - returned)
            sh("virsh", "start", domain)
            wait(lambda items: not fields(items))
            ports = [p for p in sh("ovs-vsctl", "list-ports", bridge).stdout.split()
                     if sh("ovs-vsctl", "get", "Interface", p, "external_ids:attached-mac", check=False).returncode == 0]
            iface = sh("virsh", "domiflist", domain).stdout.split("\n")[2].split()[0]
            start = time.monotonic()
            sh("ovs-vsctl", "del-port", bridge, iface)
            returned = time.monotonic()
            seen = wait(lambda items: any(f.endswith(".port") for f in fields(items)))
            results["ovs-vsctl del-port"].append(seen - start); after["ovs-vsctl del-port"].append(seen - returned)
            sh("virsh", "destroy", domain); sh("virsh", "start", domain)   # libvirt plugs the port again
            wait(lambda items: not fields(items))
        for change, times in results.items():
            times.sort()
            print(f"{change:20s} drift reported after: median {statistics.median(times):.3f} s, "
                  f"p90 {times[int(len(times) * 0.9) - 1]:.3f} s, max {times[-1]:.3f} s "
                  f"(after the command returned: median {statistics.median(after[change]):.3f} s; {len(times)} rounds)")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        for name in ["a", "b"]:
            sh("virsh", "destroy", f"{project}.{name}", check=False); sh("virsh", "undefine", f"{project}.{name}", check=False)
        for pool in [f"dlat-{lab_id}-vols", f"dlat-{lab_id}-imgs"]:
            sh("virsh", "pool-destroy", pool, check=False); sh("virsh", "pool-undefine", pool, check=False)
        sh("ovs-vsctl", "--if-exists", "del-br", bridge, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
