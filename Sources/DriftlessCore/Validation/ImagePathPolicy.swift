import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which files an Image's `source.path` may name: files under the directories the operator allows, never
/// the state directory, `/proc`, `/sys` or `/dev`.
///
/// The repository says which file; the operator, not the repository, says where image files may be
/// (`--image-dir DIR`, repeatable, else `DRIFTLESS_IMAGE_DIRS`, colon-separated, else
/// `/var/lib/driftless/images`). This type judges a path by its text, which is all `validate` can see
/// (the file may live on another machine). Opening it (no symbolic link in any component, a regular file,
/// not the state database) is `ConfinedFile` in `DriftlessFetch`, which checks this again first.
public struct ImagePathPolicy: Sendable, Hashable, Codable {
    /// The directory allowed when the operator names none.
    public static let defaultDirectory = "/var/lib/driftless/images"
    /// The environment variable that lists allowed directories, colon-separated.
    public static let environmentVariable = "DRIFTLESS_IMAGE_DIRS"
    /// Trees that are never read, whatever the operator allows: the kernel's views of processes, devices
    /// and its own state.
    public static let neverRead = ["/proc", "/sys", "/dev"]

    /// The allowed directories, absolute, without `.`, `..`, repeated or trailing slashes.
    public let directories: [String]
    /// The state directory (store, lock, fetch caches): its files are never image sources, unless the
    /// allowed directory that holds them is itself inside it (the default `/var/lib/driftless/images`
    /// in the default state `/var/lib/driftless`).
    public let stateDirectory: String?

    public init(directories: [String] = [Self.defaultDirectory], stateDirectory: String? = "/var/lib/driftless") {
        var seen: Set<String> = []
        self.directories = directories.map(Self.normalized).filter { seen.insert($0).inserted }
        self.stateDirectory = stateDirectory.map(Self.normalized)
    }

    /// The default directory, with the default state directory.
    public static let `default` = ImagePathPolicy()

    /// The allowed directories an operator chose: the `--image-dir` flags when there are any, else
    /// `DRIFTLESS_IMAGE_DIRS`, else the default. Relative directories are taken from `currentDirectory`.
    public static func directories(flags: [String], environment: [String: String], currentDirectory: String) -> [String] {
        var chosen = flags
        if chosen.isEmpty, let list = environment[environmentVariable] {
            chosen = list.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        if chosen.isEmpty { chosen = [defaultDirectory] }
        return chosen.map { $0.hasPrefix("/") ? $0 : (currentDirectory as NSString).appendingPathComponent($0) }
    }

    /// The directories as shown in messages: `/a, /b`.
    public var directoryList: String { directories.joined(separator: ", ") }

    // MARK: - Judging a path by its text

    /// Why `path` may not be an image source, or nil. Nothing is read but the allowed and state
    /// directories' own symbolic links (an operator may point `/var/lib/driftless/images` elsewhere).
    public func problem(with path: String) -> ParseProblem? {
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return ParseProblem("image path contains control characters", hint: "name the file with printable characters")
        }
        guard path.hasPrefix("/") else {
            return ParseProblem("image path \(path) is not absolute",
                                hint: "give the full path of a file under \(directoryList)")
        }
        let components = path.split(separator: "/")
        if components.contains(where: { $0 == "." || $0 == ".." }) {
            return ParseProblem("image path \(path) contains a \".\" or \"..\" component",
                                hint: "give the path without . or ..")
        }
        let clean = "/" + components.joined(separator: "/")
        if let tree = Self.neverRead.first(where: { Self.isInside(clean, $0) || clean == $0 }) {
            return ParseProblem("image path \(path) is under \(tree), which is never read")
        }
        if directories.contains(where: { Self.variants(of: $0).contains(clean) }) {
            return ParseProblem("image path \(path) names an image directory, not a file in it")
        }
        let holder = match(clean)
        // The state directory's files are never images, whether or not an allowed directory holds them;
        // only an allowed directory that is itself inside the state directory (in the form that matched,
        // written or resolved) speaks for its own files.
        if let state = stateDirectory, isInsideState(clean, state: state),
           !(holder.map { isInsideState($0.matched, state: state, strictly: true) } ?? false) {
            return ParseProblem("image path \(path) is inside the state directory \(state), which is never read")
        }
        guard holder != nil else {
            return ParseProblem(
                "image path \(path) is outside the allowed image directories (\(directoryList))",
                hint: "put the file under one of them; the operator allows others with --image-dir DIR or \(Self.environmentVariable)")
        }
        return nil
    }

    /// The allowed directory that holds `path` (as the operator wrote it) and the components of `path`
    /// below it; nil when no allowed directory holds it. `path` must already be free of `.` and `..`.
    public func containingDirectory(of path: String) -> (directory: String, components: [String])? {
        match(path).map { ($0.directory, $0.components) }
    }

    /// The allowed directory holding `path`, the form of it (as written, or resolved) that matched, and the
    /// components below it. The longest match wins, so a nested allowed directory decides for its files.
    func match(_ path: String) -> (directory: String, matched: String, components: [String])? {
        let clean = "/" + path.split(separator: "/").joined(separator: "/")
        var best: (directory: String, matched: String, components: [String])?
        for directory in directories {
            for variant in Self.variants(of: directory) where Self.isInside(clean, variant) {
                if let best, best.matched.count >= variant.count { continue }
                let rest = clean.dropFirst(variant == "/" ? 1 : variant.count + 1).split(separator: "/").map(String.init)
                best = (directory, variant, rest)
            }
        }
        return best
    }

    /// Whether `path` lies strictly inside `directory` (by text; both normalised).
    public static func isInside(_ path: String, _ directory: String) -> Bool {
        if directory == "/" { return path != "/" && path.hasPrefix("/") }
        return path.hasPrefix(directory + "/") && path.count > directory.count + 1
    }

    /// Whether `path` is inside the state directory (or is it, unless `strictly`), in either its written
    /// or its resolved form.
    func isInsideState(_ path: String, state: String, strictly: Bool = false) -> Bool {
        Self.variants(of: state).contains { (!strictly && path == $0) || Self.isInside(path, $0) }
    }

    /// A directory as written and, when it exists and differs, with its symbolic links resolved.
    static func variants(of directory: String) -> [String] {
        guard let resolved = realpath(directory, nil) else { return [directory] }
        defer { free(resolved) }
        let real = String(cString: resolved)
        return real == directory ? [directory] : [directory, real]
    }

    /// `/a//b/./c/` → `/a/b/c` (`..` is kept: an operator's `..` is resolved by the kernel, not here).
    static func normalized(_ path: String) -> String {
        let components = path.split(separator: "/").filter { $0 != "." }
        return "/" + components.joined(separator: "/")
    }
}
