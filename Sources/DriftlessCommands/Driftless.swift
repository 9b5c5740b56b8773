import ArgumentParser

/// The `driftless` command: GitOps for a small OpenStack-style cloud on libvirt and Open vSwitch.
public struct Driftless: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "driftless",
        abstract: "Declarative GitOps for a small cloud: converge libvirt and Open vSwitch hosts to a git repository.",
        discussion: """
            A git repository of YAML manifests declares users, projects, images, networks, volumes and \
            instances. Driftless reads a commit, validates it, plans the difference with what runs on the \
            hosts and applies it through libvirt and Open vSwitch.

            Start with:
              driftless validate examples/lab                 check manifests on disk
              driftless plan --repo . --rev main              what applying main would change
              driftless apply --repo . --rev main             converge the hosts (asks first)
              driftless drift --repo .                        where the hosts differ from the last apply
              driftless history                               past runs and their journals
            """,
        version: DriftlessVersion.current,
        subcommands: [ValidateCommand.self, PlanCommand.self, ApplyCommand.self, DriftCommand.self, StatusCommand.self,
                      HistoryCommand.self, ServeCommand.self, TokenCommand.self, SchemaCommand.self]
    )

    public init() {}
}

/// The release this build reports with `--version`.
public enum DriftlessVersion {
    public static let current = "0.1.0"
}
