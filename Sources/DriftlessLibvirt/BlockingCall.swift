import Foundation

/// Runs blocking libvirt work on a global dispatch queue, so that many driver actions proceed in parallel
/// without starving Swift's cooperative threads; errors become `DriverError`s that say which host failed.
///
/// At most `LibvirtCallGate.limit` calls run at once per host: libvirtd serves at most
/// `max_client_requests` (5 by default) requests of one client at a time and answers keepalive probes
/// behind them, so an apply with more parallel calls on one connection had its keepalive time out and
/// the connection closed under it (seen applying 1,000 instances with --parallel 8).
func runBlocking<T: Sendable>(host: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    let gate = LibvirtCallGate.shared.semaphore(for: host)
    return try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            gate.wait()
            defer { gate.signal() }
            do {
                continuation.resume(returning: try body())
            } catch let error as LibvirtDriverError {
                continuation.resume(throwing: error)
            } catch let error as ImageImportError {
                continuation.resume(throwing: error)
            } catch {
                continuation.resume(throwing: LibvirtDriverError(error, host: host))
            }
        }
    }
}

/// One counting semaphore per host, shared by every driver of the process.
final class LibvirtCallGate: @unchecked Sendable {
    static let shared = LibvirtCallGate()
    /// Below libvirtd's default `max_client_requests` of 5, leaving room for keepalive.
    static let limit = 4

    private let lock = NSLock()
    private var semaphores: [String: DispatchSemaphore] = [:]

    func semaphore(for host: String) -> DispatchSemaphore {
        lock.withLock {
            if let existing = semaphores[host] { return existing }
            let semaphore = DispatchSemaphore(value: Self.limit)
            semaphores[host] = semaphore
            return semaphore
        }
    }
}
