import ArgumentParser
import DriftlessCore
import DriftlessEngine
import Foundation

/// `driftless plan`: what applying a commit would change on the hosts, without changing anything.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what applying a commit would change on the hosts; change nothing.",
        discussion: """
            Reads the commit from git, validates it, observes every host (libvirt and Open vSwitch, read only) \
            and prints the difference, field by field, each change labelled with its effect: live, at next \
            boot, replaces the instance (root disk data lost) or destroys data.

            Objects Driftless manages on the hosts (domains carrying its marker, volumes recorded in the state \
            directory) that the commit does not declare are deleted; nothing else ever is. A removed volume \
            is kept unless the last applied commit (or --base REV) gave it deletionPolicy: Delete.

            Exit status: 0 success; 1 error (invalid manifests, an unreachable host, a collision). With \
            --detailed-exitcode: 0 nothing to do, 1 error, 2 changes present.

            Examples:
              driftless plan --repo . --rev HEAD
              driftless plan --repo . --rev pr-branch --base main --format markdown > plan.md
              driftless plan --repo https://git.example.com/cloud.git --format json | jq .summary
              driftless plan --repo . --out plan.json && driftless apply --repo . plan.json
            """
    )

    @OptionGroup var source: SourceOptions

    @Option(name: .long, help: ArgumentHelp("The branch, tag or commit to plan (default: HEAD).", valueName: "rev"))
    var rev: String?

    @Option(name: .long, help: ArgumentHelp("Plan as if this commit were the last applied one (what it declares and REV does not is pruned).",
                                            valueName: "rev"))
    var base: String?

    @Option(name: .long, help: "Output format: text, markdown (a pull-request comment) or json.")
    var format: ReportFormat = .text

    @Option(name: .long, help: ArgumentHelp("For markdown: link each manifest file:line under this URL (e.g. https://github.com/o/r/blob/SHA).",
                                            valueName: "url"))
    var linkBase: String?

    @Flag(name: .long, help: "Exit 2 when there are changes, 0 when there are none, 1 on error.")
    var detailedExitcode = false

    @Option(name: .long, help: ArgumentHelp("Also save the plan to FILE, for `driftless apply FILE` to apply exactly as reviewed.",
                                            valueName: "file"))
    var out: String?

    @OptionGroup var stateOptions: StateOptions

    @OptionGroup var imageOptions: ImageDirectoryOptions

    @OptionGroup var hostAccess: HostAccessOptions

    func validate() throws {
        try source.requireRepository()
    }

    func run() async throws {
        var saved: SavedPlan?
        let planned = try await reportingErrors { () async throws -> Reconciler.PlannedRun in
            let reconciler = try Reconciler(stateDirectory: stateOptions.directory)
            reconciler.gitCredentials = source.git.credentials
            reconciler.imageDirectories = imageOptions.directories
            reconciler.hostAccess = hostAccess.access
            let source = try reconciler.source(self.source.location, path: self.source.path ?? "")
            let commit = try source.load(rev)
            let previous: DesiredState?
            if let base {
                previous = try source.load(base).state
            } else {
                previous = try reconciler.previousState(in: source)?.state
            }
            let sessions = await reconciler.connect(commit)
            defer { Task { await sessions.close() } }
            let baseCommit = try base.map { try source.resolve($0) }
            let planned = try await reconciler.plan(commit, previous: previous, sessions: sessions, baseCommit: baseCommit)
            await sessions.close()
            if let out {
                let plan = try reconciler.save(planned, location: Reconciler.recordedLocation(self.source.location))
                try DocumentJSON.render(plan).write(toFile: out, atomically: true, encoding: .utf8)
                saved = plan
            }
            return planned
        }
        switch format {
        case .text: Terminal.write(PlanRenderer.text(planned.plan, color: Terminal.useColor))
        case .markdown:
            Terminal.write(PlanRenderer.markdown(planned.plan, linkBase: linkBase))
            if let saved { Terminal.write("\n<sub>Driftless plan `\(saved.id)`: applied only as reviewed.</sub>\n") }
        case .json: Terminal.write(try PlanRenderer.json(planned.plan))
        }
        if let saved, let out { Terminal.writeError("Saved plan \(saved.id) to \(out).\n") }
        if planned.plan.hasErrors || planned.hosts.contains(where: { !$0.isKnown }) {
            if format != .text {
                for diagnostic in planned.plan.diagnostics { Terminal.writeError(diagnostic.description + "\n") }
            }
            throw ExitCode.failure
        }
        if detailedExitcode && !planned.plan.isEmpty { throw ExitStatus.changes }
    }
}
