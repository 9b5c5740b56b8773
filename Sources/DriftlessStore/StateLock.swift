import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The exclusive lock on a state directory: one apply (or daemon) at a time.
///
/// Built on `flock(2)` on `<state>/driftless.lock`: the kernel releases it when the holder's process
/// dies, so a crashed holder never blocks the next run (it is "recovered when the holder is gone"), and
/// only the owner releases it (by closing its descriptor). The file also names the holder so a refused
/// caller can say who holds it.
public final class StateLock: @unchecked Sendable {
    /// Who holds a lock: written into the lock file by the holder.
    public struct Holder: Codable, Sendable, Equatable, CustomStringConvertible {
        public var pid: Int32
        public var host: String
        public var command: String
        public var since: Date

        public var description: String {
            "pid \(pid) on \(host) (`\(command)`) since \(ISO8601DateFormatter().string(from: since))"
        }
    }

    /// Why the lock could not be taken.
    public enum Failure: Error, CustomStringConvertible {
        case held(by: Holder?, path: String)
        case io(String)

        public var description: String {
            switch self {
            case let .held(holder?, path): "the state directory is in use by another driftless: \(holder) (lock \(path))"
            case let .held(nil, path): "the state directory is in use by another driftless (lock \(path))"
            case let .io(message): message
            }
        }
    }

    public let path: String
    private var descriptor: Int32

    /// Takes the lock without waiting; throws `Failure.held` naming the holder when another process has it.
    public init(stateDirectory: String, command: String) throws {
        try StateDirectory.prepare(stateDirectory)
        path = (stateDirectory as NSString).appendingPathComponent("driftless.lock")
        do {
            descriptor = try StateDirectory.openPrivateFile(path)
        } catch {
            throw Failure.io("\(error)")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            let holder = Self.readHolder(path)
            close(descriptor)
            descriptor = -1
            if error == EWOULDBLOCK { throw Failure.held(by: holder, path: path) }
            throw Failure.io("cannot lock \(path): \(String(cString: strerror(error)))")
        }
        let holder = Holder(pid: getpid(), host: ProcessInfo.processInfo.hostName, command: command, since: Date())
        if let data = try? JSONEncoder().encode(holder) {
            _ = ftruncate(descriptor, 0)
            _ = data.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
            _ = fsync(descriptor)
        }
    }

    deinit { release() }

    /// Releases the lock; idempotent. Only this owner can release it.
    public func release() {
        guard descriptor >= 0 else { return }
        _ = ftruncate(descriptor, 0)
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    /// The holder named in the lock file, if it is readable.
    public static func readHolder(_ path: String) -> Holder? {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        return try? JSONDecoder().decode(Holder.self, from: data)
    }
}
