import CLibGit2
import Foundation

/// An owned `git_object` peeled to a commit; freed on deinit.
final class GitCommit {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { git_commit_free(pointer) }

    /// The commit's id as 40 hexadecimal characters.
    var id: String { GitOID.hex(git_commit_id(pointer)) }

    func tree() throws -> GitTree {
        var tree: OpaquePointer?
        try LibGit2.check(git_commit_tree(&tree, pointer), "git_commit_tree")
        guard let tree else { throw GitError(code: .generic, errorClass: 0, message: "no tree", function: "git_commit_tree") }
        return GitTree(owning: tree)
    }

    /// The first line of the message, the author's name and the author time.
    var summary: CommitSummary {
        let line = git_commit_summary(pointer).map { String(cString: $0) } ?? ""
        let author = git_commit_author(pointer)
        let name = author.flatMap { $0.pointee.name.map { String(cString: $0) } } ?? ""
        let time = author.map { Date(timeIntervalSince1970: TimeInterval($0.pointee.when.time)) }
        return CommitSummary(id: id, summary: line, author: name, date: time)
    }

    /// The commit's parents' ids.
    var parentIDs: [String] {
        (0..<git_commit_parentcount(pointer)).compactMap { i in
            git_commit_parent_id(pointer, i).map(GitOID.hex)
        }
    }
}

/// An owned `git_tree`; freed on deinit.
final class GitTree {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { git_tree_free(pointer) }

    /// The entries of this tree, borrowed: valid while the tree lives.
    var entries: [GitTreeEntryInfo] {
        (0..<git_tree_entrycount(pointer)).compactMap { i in
            guard let entry = git_tree_entry_byindex(pointer, i) else { return nil }
            return GitTreeEntryInfo(entry)
        }
    }

    /// The entry at a path below this tree (owned by the returned value).
    func entry(atPath path: String) throws -> GitTreeEntryInfo? {
        var entry: OpaquePointer?
        let result = git_tree_entry_bypath(&entry, pointer, path)
        if result == GIT_ENOTFOUND.rawValue { return nil }
        try LibGit2.check(result, "git_tree_entry_bypath")
        guard let entry else { return nil }
        defer { git_tree_entry_free(entry) }
        return GitTreeEntryInfo(entry)
    }
}

/// What a tree entry says about itself, copied out of libgit2 so it outlives the entry.
struct GitTreeEntryInfo {
    enum Mode {
        case tree
        case blob
        case executableBlob
        case symlink
        case submodule
        case other(UInt32)
    }

    var name: String
    var mode: Mode
    var oid: git_oid

    init(_ entry: OpaquePointer) {
        name = String(cString: git_tree_entry_name(entry))
        oid = git_tree_entry_id(entry).pointee
        let raw = git_tree_entry_filemode(entry)
        switch raw {
        case GIT_FILEMODE_TREE: mode = .tree
        case GIT_FILEMODE_BLOB: mode = .blob
        case GIT_FILEMODE_BLOB_EXECUTABLE: mode = .executableBlob
        case GIT_FILEMODE_LINK: mode = .symlink
        case GIT_FILEMODE_COMMIT: mode = .submodule
        default: mode = .other(raw.rawValue)
        }
    }
}

/// An owned `git_blob`; freed on deinit.
final class GitBlob {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { git_blob_free(pointer) }

    var size: Int { Int(git_blob_rawsize(pointer)) }

    /// The blob's bytes, copied.
    var bytes: [UInt8] {
        let count = size
        guard count > 0, let raw = git_blob_rawcontent(pointer) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: count))
    }
}

/// An owned `git_remote`; freed on deinit.
final class GitRemote {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { git_remote_free(pointer) }
}

/// An owned `git_diff`; freed on deinit.
final class GitDiff {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { git_diff_free(pointer) }
}

/// An owned `git_reference`; freed on deinit.
final class GitReference {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { git_reference_free(pointer) }
}

enum GitOID {
    static func hex(_ oid: UnsafePointer<git_oid>) -> String {
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, oid)
        return String(cString: buffer)
    }

    static func hex(_ oid: git_oid) -> String {
        withUnsafePointer(to: oid) { hex($0) }
    }

    static func parse(_ hex: String) -> git_oid? {
        var oid = git_oid()
        return git_oid_fromstr(&oid, hex) == 0 ? oid : nil
    }
}
