import ArgumentParser
import DriftlessCore
import Foundation

/// `--state DIR`: where Driftless keeps its store and fetch caches.
struct StateOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "State directory: the store and the fetch cache of remote repositories.",
        discussion: "Defaults to $DRIFTLESS_STATE, else /var/lib/driftless.",
        valueName: "dir"))
    var state: String?

    /// The state directory: the flag, else `DRIFTLESS_STATE`, else `/var/lib/driftless`.
    var directory: String {
        if let state { return state }
        if let env = ProcessInfo.processInfo.environment["DRIFTLESS_STATE"], !env.isEmpty { return env }
        return "/var/lib/driftless"
    }

    /// Where fetched remotes are cached.
    var repositoryCache: String { (directory as NSString).appendingPathComponent("repos") }
}

/// `--format text|json`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// Writes to standard output and error, and knows whether they are terminals.
enum Terminal {
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Colour only on a terminal, and never when `NO_COLOR` is set.
    static var useColor: Bool {
        stdoutIsTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }

    /// Colour on standard error (progress, diagnostics) only when it is a terminal.
    static var stderrUseColor: Bool {
        isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }

    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func writeError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// `--image-dir DIR` (repeatable): the directories Images' `source.path` files may be read from.
struct ImageDirectoryOptions: ParsableArguments {
    @Option(name: .customLong("image-dir"), help: ArgumentHelp(
        "A directory that Images' source.path files may be in (repeatable).",
        discussion: """
            The operator, not the repository, decides which files can become images: a path source must be a \
            regular file under one of these directories, reached without symbolic links, outside the state \
            directory. Defaults to $DRIFTLESS_IMAGE_DIRS (colon-separated), else /var/lib/driftless/images.
            """,
        valueName: "dir"))
    var imageDirs: [String] = []

    /// The flags, else `DRIFTLESS_IMAGE_DIRS`, else the default directory.
    var directories: [String] {
        ImagePathPolicy.directories(flags: imageDirs, environment: ProcessInfo.processInfo.environment,
                                    currentDirectory: FileManager.default.currentDirectoryPath)
    }

    /// The policy for a state directory.
    func policy(stateDirectory: String) -> ImagePathPolicy {
        ImagePathPolicy(directories: directories, stateDirectory: stateDirectory)
    }
}
