import ArgumentParser

/// The `driftless` command: GitOps for a small OpenStack-style cloud on libvirt and Open vSwitch.
public struct Driftless: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "driftless",
        abstract: "Declarative GitOps for a small cloud: converge libvirt and Open vSwitch hosts to a git repository.",
        discussion: """
            A git repository of YAML manifests declares users, projects, images, networks, volumes and \
            instances. Driftless reads a commit, validates it, and (in later releases) plans and applies the \
            difference on the hosts.

            Start with:
              driftless validate examples/lab                 check manifests on disk
              driftless validate --repo . --rev main          check a commit, straight from git
              driftless schema --output-dir manifests         write JSON Schemas for editors
            """,
        version: DriftlessVersion.current,
        subcommands: [ValidateCommand.self, SchemaCommand.self]
    )

    public init() {}
}

/// The release this build reports with `--version`.
public enum DriftlessVersion {
    public static let current = "0.1.0"
}
