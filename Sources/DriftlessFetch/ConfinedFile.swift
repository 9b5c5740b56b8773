import DriftlessCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Opens a `path:` image source the way `ImagePathPolicy` allows, and nothing else.
///
/// The allowed directory itself is the operator's and is opened as configured (it may be a symbolic link
/// the operator made). Below it, every component is opened with `openat(…, O_NOFOLLOW)` relative to the
/// one before, so a symbolic link anywhere below the allowed directory, in a parent directory or the file
/// itself, is refused rather than followed, and no `..` can climb out. The file's type is checked before
/// it is opened (a FIFO would block, a device could be `/dev/zero`) and again on the opened descriptor,
/// with its file system (never procfs, sysfs and the like) and its identity (never a file of the state directory,
/// not even through a hard link).
public enum ConfinedFile {
    /// An open, regular, allowed file; the descriptor is the caller's to close.
    public struct Opened: Sendable {
        public var descriptor: Int32
        public var size: Int64
    }

    public static func open(_ path: String, policy: ImagePathPolicy) throws -> Opened {
        if let problem = policy.problem(with: path) {
            throw ImageSourceError.pathRefused(path: path, reason: problem.message)
        }
        guard let (directory, components) = policy.containingDirectory(of: path), let name = components.last else {
            throw ImageSourceError.pathRefused(path: path, reason: "it is not under \(policy.directoryList)")
        }
        var current = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else {
            throw ImageSourceError.pathUnreadable(path: path, reason: "cannot open the image directory \(directory): \(errorText())")
        }
        var walked = directory
        for component in components.dropLast() {
            walked += "/" + component
            let next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let failure = errno
            guard next >= 0 else {
                defer { close(current) }
                throw refusal(path: path, at: current, name: component, shown: walked, errno: failure, expectDirectory: true)
            }
            close(current)
            current = next
        }
        defer { close(current) }

        // Before opening: only a regular file is opened at all.
        var before = stat()
        guard fstatat(current, name, &before, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw ImageSourceError.pathUnreadable(path: path, reason: errorText())
        }
        if before.st_mode & S_IFMT == S_IFLNK {
            throw ImageSourceError.pathRefused(path: path, reason: "\(path) is a symbolic link, which is never followed")
        }
        if let kind = nonRegularKind(before.st_mode) {
            throw ImageSourceError.pathRefused(path: path, reason: "it is \(kind), not a regular file")
        }
        // O_NONBLOCK: should the name be swapped for a FIFO since the check, opening it does not block.
        let descriptor = openat(current, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let failure = errno
            throw refusal(path: path, at: current, name: name, shown: path, errno: failure, expectDirectory: false)
        }
        do {
            let size = try checkOpened(descriptor, path: path, policy: policy)
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
            return Opened(descriptor: descriptor, size: size)
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// The checks on the opened descriptor itself: what it is, where it lives and which file it is.
    static func checkOpened(_ descriptor: Int32, path: String, policy: ImagePathPolicy) throws -> Int64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw ImageSourceError.pathUnreadable(path: path, reason: errorText())
        }
        if let kind = nonRegularKind(info.st_mode) {
            throw ImageSourceError.pathRefused(path: path, reason: "it is \(kind), not a regular file")
        }
        if let type = fileSystemType(of: info.st_dev), kernelFileSystems.contains(type) {
            throw ImageSourceError.pathRefused(path: path, reason: "it is on the kernel's \(type) file system, which is never read")
        }
        // The kernel's own name for what was opened: still under an allowed directory, not in the state
        // directory, not under /proc, /sys or /dev (a bind mount or a race would show here).
        if let real = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(descriptor)"),
           real.hasPrefix("/"), !real.hasSuffix(" (deleted)") {
            if let problem = policy.problem(with: real) {
                throw ImageSourceError.pathRefused(path: path, reason: "it is \(real): \(problem.message)")
            }
        }
        if let state = policy.stateDirectory, isStateFile(info, stateDirectory: state) {
            throw ImageSourceError.pathRefused(path: path, reason: "it is a file of the state directory \(state)")
        }
        return Int64(info.st_size)
    }

    /// Whether `info` is one of the files directly in the state directory (the store, its journal files,
    /// the lock), compared by device and inode so a hard link is caught too.
    static func isStateFile(_ info: stat, stateDirectory: String) -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: stateDirectory) else { return false }
        for name in names {
            var other = stat()
            if lstat(stateDirectory + "/" + name, &other) == 0, other.st_dev == info.st_dev, other.st_ino == info.st_ino {
                return true
            }
        }
        return false
    }

    /// Why opening `name` failed, as a refusal when it is a link or the wrong type, else as unreadable.
    static func refusal(path: String, at directory: Int32, name: String, shown: String, errno failure: Int32,
                        expectDirectory: Bool) -> ImageSourceError {
        var info = stat()
        if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            if info.st_mode & S_IFMT == S_IFLNK {
                return .pathRefused(path: path, reason: "\(shown) is a symbolic link, which is never followed")
            }
            if expectDirectory, info.st_mode & S_IFMT != S_IFDIR {
                return .pathRefused(path: path, reason: "\(shown) is not a directory")
            }
        }
        return .pathUnreadable(path: path, reason: "\(shown): \(String(cString: strerror(failure)))")
    }

    static func nonRegularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }

    /// File systems whose files are the kernel's, not images.
    static let kernelFileSystems: Set<String> = [
        "proc", "sysfs", "debugfs", "tracefs", "securityfs", "cgroup", "cgroup2", "bpf", "efivarfs", "configfs",
        "devpts", "devtmpfs", "pstore", "hugetlbfs", "mqueue", "fusectl", "binfmt_misc",
    ]

    /// The type of the file system that device `device` is mounted from, read from
    /// `/proc/self/mountinfo` (`36 35 0:22 / /proc rw,… - proc proc rw`); nil when it cannot be told.
    static func fileSystemType(of device: dev_t) -> String? {
        let value = UInt64(device)
        let major = (value >> 8) & 0xFFF | (value >> 32) & ~UInt64(0xFFF)
        let minor = value & 0xFF | (value >> 12) & ~UInt64(0xFF)
        let wanted = "\(major):\(minor)"
        guard let data = FileManager.default.contents(atPath: "/proc/self/mountinfo") else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 2, fields[2] == wanted, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count
            else { continue }
            return String(fields[dash + 1])
        }
        return nil
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
