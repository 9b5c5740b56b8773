import ArgumentParser
import DriftlessCore
import DriftlessGit
import Foundation

/// `driftless validate`: check manifests on disk or at a commit, offline, with file:line:column errors.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check manifests for errors without touching any host.",
        discussion: """
            Reads every *.yaml and *.yml file, from a directory on disk or from a commit read straight out of \
            git's object database (no checkout), and reports every error and warning as \
            path:line:column: error: message. Nothing on any host, and no network or image file, is touched; an \
            image's source.path is checked against the allowed image directories (--image-dir) by its text.

            Exit status: 0 when valid (warnings allowed), 1 when there are errors or the source cannot be read.

            Examples:
              driftless validate examples/lab
              driftless validate --repo . --rev HEAD --path manifests
              driftless validate --repo https://git.example.com/cloud.git --rev main --format json
            """
    )

    @Argument(help: ArgumentHelp("A directory of manifests on disk.", valueName: "dir"))
    var directory: String?

    @Option(name: .long, help: ArgumentHelp("A git repository: a local path or a URL (file://, https://, ssh).", valueName: "path-or-url"))
    var repo: String?

    @Option(name: .long, help: ArgumentHelp("A branch, tag or commit (default: HEAD of the default branch).", valueName: "rev"))
    var rev: String?

    @Option(name: .long, help: ArgumentHelp("The manifests' directory inside the repository (default: the root).", valueName: "subdir"))
    var path: String = ""

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @OptionGroup var stateOptions: StateOptions

    @OptionGroup var git: GitCredentialOptions
    @OptionGroup var imageOptions: ImageDirectoryOptions

    func validate() throws {
        if directory != nil && repo != nil {
            throw ValidationError("give either a directory or --repo, not both")
        }
        if repo == nil && rev != nil {
            throw ValidationError("--rev needs --repo")
        }
        if repo == nil && !path.isEmpty {
            throw ValidationError("--path needs --repo; to validate a directory on disk, give it as the argument")
        }
    }

    func run() async throws {
        let report: ValidationReport
        do {
            report = try makeReport()
        } catch {
            Terminal.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
        switch format {
        case .text: Terminal.write(report.renderText(color: Terminal.useColor))
        case .json: Terminal.write(try report.renderJSON())
        }
        if !report.valid { throw ExitCode.failure }
    }

    /// Where `source.path` files may be: the operator's image directories, never the state directory.
    var imagePaths: ImagePathPolicy { imageOptions.policy(stateDirectory: stateOptions.directory) }

    func makeReport() throws -> ValidationReport {
        if let repo {
            let repository = try GitRepository.openOrFetch(repo, cacheRoot: stateOptions.repositoryCache, credentials: git.credentials)
            let snapshot = try repository.readManifests(at: rev, under: path)
            let result = ManifestLoader.load(snapshot.files, imagePaths: imagePaths)
            var extra = snapshot.diagnostics
            if snapshot.files.isEmpty { extra.warning("no manifests (*.yaml, *.yml) found", at: nil) }
            return ValidationReport(
                source: .init(repository: repository.displayName, commit: snapshot.commit, path: path.isEmpty ? nil : path),
                result: result, extra: extra)
        }
        let directory = directory ?? "."
        let (files, diagnostics) = try DirectorySource.read(directory, displayPrefix: directory == "." ? "" : directory)
        let result = ManifestLoader.load(files, imagePaths: imagePaths)
        var extra = diagnostics
        if files.isEmpty { extra.warning("no manifests (*.yaml, *.yml) found", at: nil) }
        return ValidationReport(source: .init(directory: directory), result: result, extra: extra)
    }
}
