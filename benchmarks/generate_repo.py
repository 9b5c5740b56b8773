#!/usr/bin/env python3
"""Generate a valid Driftless manifest repository of N documents, committed with git.

A realistic mix per project: the project, 4 networks, 25 volumes and 70 instances with fixed IPs,
and one user per project; one document per file, spread over directories per project.

usage: generate_repo.py N DIR
"""
import os
import subprocess
import sys

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII707D44LQTl/mEfM+bS16dcCPfNFO+Lu/d8nmNiQVA0 bench@lab"
DIGEST = "1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1"


def documents(n):
    yield "image-tiny.yaml", f"""apiVersion: driftless.dev/v1
kind: Image
metadata: {{name: tiny}}
spec:
  source: {{path: /var/lib/driftless/images/tiny.qcow2}}
  sha256: {DIGEST}
  format: qcow2
"""
    count, p = 1, 0
    while count < n:
        project = f"p{p:04d}"
        vlan_base = (p * 4) % 4000 + 1
        items = [(f"{project}/project.yaml", f"""apiVersion: driftless.dev/v1
kind: Project
metadata: {{name: {project}}}
spec:
  description: Generated project {p}
""")]
        items.append((f"{project}/user.yaml", f"""apiVersion: driftless.dev/v1
kind: User
metadata: {{name: u-{project}}}
spec:
  email: u{p}@example.com
  sshKeys: ["{KEY}"]
  roles: [{{project: {project}, role: member}}]
"""))
        for k in range(4):
            items.append((f"{project}/networks/net-{k}.yaml", f"""apiVersion: driftless.dev/v1
kind: Network
metadata: {{name: net-{k}, project: {project}}}
spec:
  cidr: 10.{k}.0.0/16
  vlan: {vlan_base + k}
  mtu: 1500
"""))
        for v in range(25):
            items.append((f"{project}/volumes/vol-{v}.yaml", f"""apiVersion: driftless.dev/v1
kind: Volume
metadata: {{name: vol-{v}, project: {project}}}
spec:
  size: {v + 1}GiB
  format: qcow2
  deletionPolicy: Retain
"""))
        for i in range(70):
            volumes = f"[vol-{i}]" if i < 25 else "[]"
            items.append((f"{project}/instances/vm-{i}.yaml", f"""apiVersion: driftless.dev/v1
kind: Instance
metadata:
  name: vm-{i}
  project: {project}
  labels: {{tier: t{i % 3}}}
spec:
  image: tiny
  vcpus: {1 + i % 4}
  memory: {256 * (1 + i % 4)}MiB
  rootDisk: 10GiB
  networks:
    - network: net-{i % 4}
      ip: 10.{i % 4}.{1 + i // 200}.{10 + i % 200}
  volumes: {volumes}
  users: [u-{project}]
"""))
        for path, text in items:
            if count >= n:
                return
            yield path, text
            count += 1
        p += 1


def main():
    n, root = int(sys.argv[1]), sys.argv[2]
    os.makedirs(root, exist_ok=True)
    for path, text in documents(n):
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@example.com")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", f"{n} manifests"], cwd=root, check=True, env=env)


if __name__ == "__main__":
    main()
