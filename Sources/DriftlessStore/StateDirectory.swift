import Foundation

/// Creates and tightens a state directory: the directory is 0700 and every file Driftless keeps in it
/// (the database, its WAL and shared-memory files, the lock) is 0600, opened without following a
/// symbolic link, since the database holds token hashes, run history and the journal.
public enum StateDirectory {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Makes `path` (and its parents) if needed and sets it to mode 0700.
    public static func prepare(_ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Failure(description: "cannot read the state directory \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(description: "the state directory \(path) is not a directory")
        }
        if info.st_mode & 0o077 != 0, chmod(path, 0o700) != 0 {
            throw Failure(description: "cannot make the state directory \(path) private (mode 0700): \(String(cString: strerror(errno)))")
        }
    }

    /// Opens (creating if needed) `path` with `O_NOFOLLOW` and mode 0600; returns the descriptor.
    public static func openPrivateFile(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == ELOOP ? "it is a symbolic link" : String(cString: strerror(errno))
            throw Failure(description: "cannot open \(path): \(reason)")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw Failure(description: "cannot open \(path): not a regular file")
        }
        if info.st_mode & 0o7777 != 0o600 { _ = fchmod(descriptor, 0o600) }
        return descriptor
    }

    /// Creates `path` as a private file if it is missing, or makes an existing one private.
    public static func securePrivateFile(_ path: String) throws {
        close(try openPrivateFile(path))
    }
}
