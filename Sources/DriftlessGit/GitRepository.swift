import CLibGit2
import DriftlessCore
import Foundation

/// A git repository opened through libgit2: resolve revisions, read manifests from a commit's tree without a
/// checkout, list changed paths, fetch remotes into a cache.
///
/// Not thread-safe (libgit2 handles are not): use one instance from one task at a time.
public final class GitRepository {
    let pointer: OpaquePointer
    /// What the user named: a path, or a URL with credentials removed.
    public let displayName: String
    /// Whether this is a fetch cache of a remote (revisions are then looked up among `origin`'s branches).
    public let isRemoteCache: Bool

    init(owning pointer: OpaquePointer, displayName: String, isRemoteCache: Bool) {
        self.pointer = pointer
        self.displayName = displayName
        self.isRemoteCache = isRemoteCache
    }

    deinit { git_repository_free(pointer) }

    /// Opens a local repository (a work tree or a bare repository) at `path`.
    public static func open(path: String) throws -> GitRepository {
        _ = LibGit2.initialized
        var repo: OpaquePointer?
        let result = git_repository_open_ext(&repo, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil)
        if result == GIT_ENOTFOUND.rawValue { throw GitSourceError.notARepository(path) }
        try LibGit2.check(result, "git_repository_open_ext")
        guard let repo else { throw GitError(code: .notFound, errorClass: 0, message: "no repository", function: "git_repository_open_ext") }
        return GitRepository(owning: repo, displayName: path, isRemoteCache: false)
    }

    /// Whether `location` names a remote to fetch (a URL or scp-like `user@host:path`) rather than a local path.
    public static func isRemote(_ location: String) -> Bool {
        if location.contains("://") { return true }
        if let colon = location.firstIndex(of: ":"), !location[..<colon].contains("/"), location.contains("@") {
            return true
        }
        return false
    }

    /// Opens a local path, or fetches a remote URL into a bare cache under `cacheRoot` and opens that.
    public static func openOrFetch(_ location: String, cacheRoot: String, credentials: GitCredentials = .none) throws -> GitRepository {
        if isRemote(location) {
            return try fetch(url: location, cacheRoot: cacheRoot, credentials: credentials)
        }
        return try open(path: location)
    }

    /// Fetches every branch and tag of `url` into a bare repository under `cacheRoot` (created on first use)
    /// and records the remote's default branch as `refs/remotes/origin/HEAD`.
    ///
    /// Credentials reach libgit2 only through its callback: the remote URL stored in the cache's config
    /// has no password or https user information, and no message carries a secret.
    public static func fetch(url: String, cacheRoot: String, credentials: GitCredentials = .none) throws -> GitRepository {
        _ = LibGit2.initialized
        let display = Redaction.displayURL(url)
        let remoteURL = RemoteURL(url)
        let context = CredentialContext(credentials: credentials, remote: remoteURL)
        let secrets = (userInfo(of: url).map { [$0] } ?? []) + context.secrets
        let url = remoteURL.stored
        let directory = (cacheRoot as NSString).appendingPathComponent(cacheName(for: display))
        // The cache lives in the private state directory; it is private itself (0700) wherever it is.
        try FileManager.default.createDirectory(atPath: cacheRoot, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var repo: OpaquePointer?
        if FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("HEAD")) {
            try LibGit2.check(git_repository_open_bare(&repo, directory), "git_repository_open_bare")
        } else {
            try LibGit2.check(git_repository_init(&repo, directory, 1), "git_repository_init")
        }
        guard let repo else { throw GitError(code: .generic, errorClass: 0, message: "no repository", function: "git_repository_init") }
        let repository = GitRepository(owning: repo, displayName: display, isRemoteCache: true)

        var remotePointer: OpaquePointer?
        if git_remote_lookup(&remotePointer, repo, "origin") == 0, let existing = remotePointer {
            git_remote_free(existing)
            try LibGit2.check(git_remote_set_url(repo, "origin", url), "git_remote_set_url", redacting: secrets)
            remotePointer = nil
            try LibGit2.check(git_remote_lookup(&remotePointer, repo, "origin"), "git_remote_lookup")
        } else {
            try LibGit2.check(
                git_remote_create_with_fetchspec(&remotePointer, repo, "origin", url, "+refs/heads/*:refs/remotes/origin/*"),
                "git_remote_create", redacting: secrets)
        }
        guard let remotePointer else { throw GitError(code: .generic, errorClass: 0, message: "no remote", function: "git_remote_lookup") }
        let remote = GitRemote(owning: remotePointer)

        var options = git_fetch_options()
        try LibGit2.check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "git_fetch_options_init")
        options.prune = GIT_FETCH_PRUNE
        options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL
        let payload = Unmanaged.passRetained(context)
        defer { payload.release() }
        options.callbacks.credentials = credentialCallback
        options.callbacks.certificate_check = certificateCallback
        options.callbacks.payload = payload.toOpaque()
        do {
            try LibGit2.check(git_remote_fetch(remote.pointer, nil, &options, "driftless fetch"), "git_remote_fetch",
                              redacting: secrets)
        } catch var error as GitError {
            if let failure = context.failure { error.message = failure }
            error.message = Redaction.redact(error.message.replacingOccurrences(of: url, with: display), secrets: secrets)
            throw error
        }
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        if git_remote_default_branch(&buffer, remote.pointer) == 0, let raw = buffer.ptr {
            let head = String(cString: raw)  // refs/heads/main
            if head.hasPrefix("refs/heads/") {
                let target = "refs/remotes/origin/" + head.dropFirst("refs/heads/".count)
                var reference: OpaquePointer?
                if git_reference_symbolic_create(&reference, repo, "refs/remotes/origin/HEAD", target, 1, "driftless: remote HEAD") == 0,
                   let reference {
                    git_reference_free(reference)
                }
            }
        }
        return repository
    }

    /// `user:password` of a URL, if it carries one, so that it can be scrubbed from libgit2's messages.
    static func userInfo(of url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@") else { return nil }
        return String(authority[..<at])
    }

    /// A readable and unique cache directory name for a (credential-free) URL: the core's `StableHash`
    /// (SHA-256, first 16 hex digits), as everything else Driftless names by a hash.
    static func cacheName(for url: String) -> String {
        let hash = StableHash.sha256Hex(url).prefix(16)
        let readable = url.split(separator: "/").last.map { $0.replacingOccurrences(of: ".git", with: "") } ?? "repo"
        let safe = String(readable.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" }.prefix(40))
        return "\(safe)-\(hash)"
    }

    // MARK: - Revisions

    /// Resolves a branch, tag, commit id or any rev-parse expression to a commit id. `nil` means the default
    /// branch (HEAD, or the remote's HEAD in a fetch cache).
    public func resolve(_ revision: String?) throws -> String {
        try commit(revision).id
    }

    func commit(_ revision: String?) throws -> GitCommit {
        var candidates: [String] = []
        if isRemoteCache {
            if let revision {
                candidates = ["refs/remotes/origin/\(revision)", "refs/tags/\(revision)", revision]
            } else {
                candidates = ["refs/remotes/origin/HEAD", "refs/remotes/origin/main", "refs/remotes/origin/master"]
            }
        } else {
            candidates = [revision ?? "HEAD"]
        }
        for candidate in candidates {
            var object: OpaquePointer?
            let result = git_revparse_single(&object, pointer, candidate)
            if result == GIT_ENOTFOUND.rawValue || result == GIT_EINVALIDSPEC.rawValue || result == GIT_EAMBIGUOUS.rawValue {
                continue
            }
            try LibGit2.check(result, "git_revparse_single")
            guard let object else { continue }
            defer { git_object_free(object) }
            var peeled: OpaquePointer?
            try LibGit2.check(git_object_peel(&peeled, object, GIT_OBJECT_COMMIT), "git_object_peel")
            guard let peeled else { continue }
            return GitCommit(owning: peeled)
        }
        throw GitSourceError.revisionNotFound(revision ?? "HEAD", repository: displayName)
    }

    /// The subject line, author and time of `revision`.
    public func summary(of revision: String) throws -> CommitSummary {
        try commit(revision).summary
    }

    /// Whether `descendant` has `ancestor` in its history (or is it).
    public func isAncestor(_ ancestor: String, of descendant: String) throws -> Bool {
        guard var a = GitOID.parse(ancestor), var d = GitOID.parse(descendant) else { return false }
        if ancestor == descendant { return true }
        let result = git_graph_descendant_of(pointer, &d, &a)
        try LibGit2.check(result, "git_graph_descendant_of")
        return result == 1
    }

    // MARK: - Reading manifests

    /// Reads every `*.yaml`/`*.yml` under `path` at `revision`, straight from the object database.
    ///
    /// Symbolic links are never followed and their targets never read: each is a warning. Submodules are
    /// reported and skipped. Files above the size limit are errors and are not read.
    public func readManifests(
        at revision: String?, under path: String = "", limits: ManifestLimits = .default
    ) throws -> ManifestSnapshot {
        let commit = try commit(revision)
        let root = try normalize(path)
        let tree = try commit.tree()
        var diagnostics = Diagnostics()
        var files: [ManifestFile] = []
        let start: GitTree
        if root.isEmpty {
            start = tree
        } else {
            guard let entry = try tree.entry(atPath: root) else {
                throw GitSourceError.pathNotFound(root, revision: revision ?? "HEAD")
            }
            guard case .tree = entry.mode else {
                if case .symlink = entry.mode {
                    diagnostics.error("the manifest path is a symbolic link; Driftless never follows links",
                                      at: SourceLocation(file: root, line: 1, column: 1))
                    return ManifestSnapshot(commit: commit.id, files: [], diagnostics: diagnostics)
                }
                throw GitSourceError.pathNotADirectory(root)
            }
            start = try lookupTree(entry.oid)
        }
        try walk(start, prefix: root, files: &files, diagnostics: &diagnostics, limits: limits)
        return ManifestSnapshot(commit: commit.id, files: files, diagnostics: diagnostics)
    }

    /// Reads the given repository-relative paths at `revision` (for incremental reloads); absent paths are
    /// skipped, symbolic links reported.
    public func readFiles(
        _ paths: [String], at revision: String?, limits: ManifestLimits = .default
    ) throws -> ManifestSnapshot {
        let commit = try commit(revision)
        let tree = try commit.tree()
        var files: [ManifestFile] = []
        var diagnostics = Diagnostics()
        for path in paths {
            guard let entry = try tree.entry(atPath: path) else { continue }
            try read(entry, path: path, files: &files, diagnostics: &diagnostics, limits: limits)
        }
        return ManifestSnapshot(commit: commit.id, files: files, diagnostics: diagnostics)
    }

    /// Whether `path` is a directory at `revision` (the empty path, the root, always is): the condition for
    /// reading a manifest path's changes instead of all of it, since a path that became a file, a link or
    /// nothing is reported by `readManifests` alone.
    public func isDirectory(_ path: String, at revision: String?) throws -> Bool {
        let root = try normalize(path)
        if root.isEmpty { return true }
        guard let entry = try commit(revision).tree().entry(atPath: root), case .tree = entry.mode else { return false }
        return true
    }

    func walk(
        _ tree: GitTree, prefix: String, files: inout [ManifestFile], diagnostics: inout Diagnostics,
        limits: ManifestLimits
    ) throws {
        for entry in tree.entries {
            let path = prefix.isEmpty ? entry.name : prefix + "/" + entry.name
            if case .tree = entry.mode {
                try walk(try lookupTree(entry.oid), prefix: path, files: &files, diagnostics: &diagnostics, limits: limits)
            } else {
                try read(entry, path: path, files: &files, diagnostics: &diagnostics, limits: limits)
            }
        }
    }

    func read(
        _ entry: GitTreeEntryInfo, path: String, files: inout [ManifestFile], diagnostics: inout Diagnostics,
        limits: ManifestLimits
    ) throws {
        let location = SourceLocation(file: path, line: 1, column: 1)
        switch entry.mode {
        case .blob, .executableBlob:
            guard ManifestFile.isManifestPath(path) else { return }
            let blob = try lookupBlob(entry.oid)
            if blob.size > limits.maxFileBytes {
                diagnostics.error(
                    "file is \(blob.size) bytes; manifest files may be at most \(limits.maxFileBytes) bytes",
                    at: location, hint: "split it into several files")
                return
            }
            files.append(ManifestFile(path: path, contents: blob.bytes))
        case .symlink:
            diagnostics.warning("symbolic link skipped; Driftless never follows links", at: location)
        case .submodule:
            diagnostics.warning("submodule skipped; manifests in submodules are not read", at: location)
        case .tree:
            try walk(try lookupTree(entry.oid), prefix: path, files: &files, diagnostics: &diagnostics, limits: limits)
        case .other:
            return
        }
    }

    func lookupTree(_ oid: git_oid) throws -> GitTree {
        var oid = oid
        var tree: OpaquePointer?
        try LibGit2.check(git_tree_lookup(&tree, pointer, &oid), "git_tree_lookup")
        guard let tree else { throw GitError(code: .notFound, errorClass: 0, message: "no tree", function: "git_tree_lookup") }
        return GitTree(owning: tree)
    }

    func lookupBlob(_ oid: git_oid) throws -> GitBlob {
        var oid = oid
        var blob: OpaquePointer?
        try LibGit2.check(git_blob_lookup(&blob, pointer, &oid), "git_blob_lookup")
        guard let blob else { throw GitError(code: .notFound, errorClass: 0, message: "no blob", function: "git_blob_lookup") }
        return GitBlob(owning: blob)
    }

    /// Strips `./` and trailing slashes; refuses absolute paths and `..`.
    func normalize(_ path: String) throws -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        guard !path.hasPrefix("/"), !parts.contains("..") else { throw GitSourceError.invalidPath(path) }
        return parts.joined(separator: "/")
    }

    // MARK: - Changes

    /// A path changed between two commits.
    public struct ChangedPath: Hashable, Sendable {
        public enum Status: String, Sendable {
            case added, deleted, modified, renamed, typeChanged = "type-changed", other
        }

        public var status: Status
        public var oldPath: String?
        public var newPath: String?
    }

    /// The manifest files changed between two commits under `path` (renames count as delete + add).
    ///
    /// `manifestsOnly: false` lists every changed path under `path` instead, whatever its name: what an
    /// incremental load needs to report symbolic links and submodules exactly as a full read does.
    ///
    /// Walks the two trees side by side and descends only into the subtrees whose ids differ, so that
    /// the cost is that of the change, not of the repository; what it reports is what a tree-to-tree diff
    /// without rename or type-change detection reports (a change of type is a delete and an add), in
    /// path order.
    public func changedPaths(
        from base: String, to head: String, under path: String = "", manifestsOnly: Bool = true
    ) throws -> [ChangedPath] {
        let root = try normalize(path)
        func top(_ revision: String) throws -> GitTree? {
            let tree = try commit(revision).tree()
            if root.isEmpty { return tree }
            guard let entry = try tree.entry(atPath: root), case .tree = entry.mode else { return nil }
            return try lookupTree(entry.oid)
        }
        var changes: [ChangedPath] = []
        try compare(top(base), top(head), prefix: root.isEmpty ? "" : root + "/", into: &changes)
        guard manifestsOnly else { return changes }
        return changes.filter { change in
            [change.oldPath, change.newPath].contains { $0.map(ManifestFile.isManifestPath) ?? false }
        }
    }

    /// Appends the paths that differ between `old` and `new` (either absent: every path of the other),
    /// below `prefix`.
    func compare(_ old: GitTree?, _ new: GitTree?, prefix: String, into changes: inout [ChangedPath]) throws {
        // In git's order: a tree sorts as its name followed by "/".
        func key(_ entry: GitTreeEntryInfo) -> [UInt8] {
            if case .tree = entry.mode { return Array(entry.name.utf8) + [UInt8(ascii: "/")] }
            return Array(entry.name.utf8)
        }
        let before = (old?.entries ?? []).map { (key($0), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
        let after = (new?.entries ?? []).map { (key($0), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
        func removed(_ entry: GitTreeEntryInfo) throws {
            if case .tree = entry.mode {
                try compare(lookupTree(entry.oid), nil, prefix: prefix + entry.name + "/", into: &changes)
            } else {
                changes.append(ChangedPath(status: .deleted, oldPath: prefix + entry.name, newPath: nil))
            }
        }
        func added(_ entry: GitTreeEntryInfo) throws {
            if case .tree = entry.mode {
                try compare(nil, lookupTree(entry.oid), prefix: prefix + entry.name + "/", into: &changes)
            } else {
                changes.append(ChangedPath(status: .added, oldPath: nil, newPath: prefix + entry.name))
            }
        }
        /// Regular files, executable or not, are one type; links and submodules are others.
        func type(_ mode: GitTreeEntryInfo.Mode) -> String {
            switch mode {
            case .tree: "tree"
            case .blob, .executableBlob: "file"
            case .symlink: "link"
            case .submodule: "submodule"
            case let .other(raw): "other \(raw)"
            }
        }
        var (i, j) = (0, 0)
        while i < before.count || j < after.count {
            if j == after.count || (i < before.count && before[i].0.lexicographicallyPrecedes(after[j].0)) {
                try removed(before[i].1)
                i += 1
            } else if i == before.count || after[j].0.lexicographicallyPrecedes(before[i].0) {
                try added(after[j].1)
                j += 1
            } else {
                let (a, b) = (before[i].1, after[j].1)
                (i, j) = (i + 1, j + 1)
                let sameMode = type(a.mode) == type(b.mode) && String(describing: a.mode) == String(describing: b.mode)
                var (x, y) = (a.oid, b.oid)
                if sameMode, git_oid_cmp(&x, &y) == 0 { continue }
                if case .tree = a.mode {
                    try compare(lookupTree(a.oid), lookupTree(b.oid), prefix: prefix + a.name + "/", into: &changes)
                } else if type(a.mode) == type(b.mode) {
                    changes.append(ChangedPath(status: .modified, oldPath: prefix + a.name, newPath: prefix + b.name))
                } else {
                    try removed(a)
                    try added(b)
                }
            }
        }
    }
}

/// The manifest files of one commit, with the diagnostics of reading them (links, submodules, sizes).
/// What a person reads of a commit: its subject line, author and time (from the repository, so as much
/// to be trusted as the repository: pages escape it).
public struct CommitSummary: Sendable, Equatable {
    public var id: String
    public var summary: String
    public var author: String
    public var date: Date?
}

public struct ManifestSnapshot: Sendable {
    public var commit: String
    public var files: [ManifestFile]
    public var diagnostics: Diagnostics
}
