import DriftlessCore
import Foundation

extension LibvirtConnection {
    /// Runs blocking libvirt work on this connection's own threads (`LibvirtWorkers`) while the caller
    /// suspends; errors become `DriverError`s that say which host failed.
    func perform<T: Sendable>(host: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await workers.run(body)
        } catch {
            throw driverError(error, host: host)
        }
    }

    /// Opens a connection on a thread of its own: opening may wait for a remote host's TCP, TLS or SSH
    /// handshake, and there are no connection threads before there is a connection.
    static func open(uri: String, host: String, access: HostAccess = .none) async throws -> LibvirtConnection {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LibvirtConnection, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { () throws(LibvirtError) in try LibvirtConnection(uri: uri, access: access) }
                    .mapError { driverError($0, host: host) })
            }
            thread.name = "libvirt open"
            thread.start()
        }
    }
}

/// A failure of driver work as the applier sees it: Driftless's own driver errors pass through, anything
/// else (a libvirt call, building a seed) is wrapped with the host's name.
func driverError(_ error: any Error, host: String) -> any Error {
    switch error {
    case let error as LibvirtDriverError: error
    case let error as ImageImportError: error
    case let error as CancellationError: error
    default: LibvirtDriverError(error, host: host)
    }
}
