import Foundation

/// Runs blocking libvirt work on a global dispatch queue, so that many driver actions proceed in parallel
/// without starving Swift's cooperative threads; errors become `DriverError`s that say which host failed.
func runBlocking<T: Sendable>(host: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
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
