import DriftlessCore

/// Manifests for tests and benchmarks, written inline (as Terraform's tests write configuration).
public enum TestManifests {
    public static let aliceKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII707D44LQTl/mEfM+bS16dcCPfNFO+Lu/d8nmNiQVA0 alice@lab"
    public static let digest = "1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1"

    /// A small valid cloud on the default host: two projects, a user, an image, two networks, a volume and
    /// an instance.
    public static let smallCloud = """
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: shop}
        spec:
          quota: {instances: 3, vcpus: 8, memory: 4GiB, volumeStorage: 10GiB}
        ---
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: ops}
        ---
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: alice}
        spec:
          email: alice@example.com
          sshKeys: ["\(aliceKey)"]
          roles: [{project: shop, role: admin}]
        ---
        apiVersion: driftless.dev/v1
        kind: Image
        metadata: {name: tiny}
        spec:
          source: {path: /var/lib/driftless/images/tiny.qcow2}
          sha256: \(digest)
          format: qcow2
          minDisk: 64MiB
        ---
        apiVersion: driftless.dev/v1
        kind: Network
        metadata: {name: frontend, project: shop}
        spec: {cidr: 10.0.0.0/24, vlan: 10, dhcp: {start: 10.0.0.100, end: 10.0.0.200}}
        ---
        apiVersion: driftless.dev/v1
        kind: Network
        metadata: {name: mgmt, project: ops}
        spec: {cidr: 10.1.0.0/24, vlan: 20}
        ---
        apiVersion: driftless.dev/v1
        kind: Volume
        metadata: {name: data, project: shop}
        spec: {size: 1GiB}
        ---
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata: {name: web, project: shop}
        spec:
          image: tiny
          vcpus: 1
          memory: 256MiB
          rootDisk: 1GiB
          networks: [{network: frontend, ip: 10.0.0.10}]
          volumes: [data]
          users: [alice]

        """

    /// Loads `files` (path → text), `smallCloud` as `base.yaml` too unless `includeBase` is false.
    public static func load(_ files: [String: String] = [:], includeBase: Bool = true, limits: ManifestLimits = .default)
        -> ManifestLoader.Result {
        var all = files.map { ManifestFile(path: $0.key, text: $0.value) }
        if includeBase { all.append(ManifestFile(path: "base.yaml", text: smallCloud)) }
        return ManifestLoader.load(all, limits: limits)
    }
}
