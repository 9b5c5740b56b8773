import CLibvirt
import DriftlessCore
import Foundation

/// What a connection shares with libvirt's callbacks: its redacted URI and whether it is alive.
///
/// The close callback runs on the libvirt event-loop thread while calls read the flag on
/// their own threads, so the mutable part sits behind a lock.
final class ConnectionState: @unchecked Sendable {
    /// The connection URI with credentials removed, safe for errors and logs.
    let redactedURI: String

    private let lock = NSLock()
    private var closeReason: LibvirtConnection.CloseReason?

    /// At most this many calls of one connection are in flight at once. libvirtd serves at most
    /// `max_client_requests` (5 by default) requests of a client at a time and answers keepalive
    /// probes behind them: an apply of 1,000 instances with eight calls in flight had its keepalive
    /// time out and the connection closed under it.
    static let requestsInFlight = 4
    /// Counts the calls in flight; taken around each C call by `libvirtCheck`.
    let requests = DispatchSemaphore(value: ConnectionState.requestsInFlight)

    init(redactedURI: String) {
        self.redactedURI = redactedURI
    }

    /// False once libvirt reported the connection closed.
    var isAlive: Bool {
        lock.withLock { closeReason == nil }
    }

    /// Why the connection closed, or nil while it is alive.
    var reason: LibvirtConnection.CloseReason? {
        lock.withLock { closeReason }
    }

    private var closeHandlers: [@Sendable (LibvirtConnection.CloseReason) -> Void] = []

    /// Records that libvirt closed the connection; the first reason wins, and tells the handlers once.
    func markClosed(_ reason: LibvirtConnection.CloseReason) {
        let handlers: [@Sendable (LibvirtConnection.CloseReason) -> Void] = lock.withLock {
            guard closeReason == nil else { return [] }
            closeReason = reason
            defer { closeHandlers.removeAll() }
            return closeHandlers
        }
        for handler in handlers { handler(reason) }
    }

    /// Calls `handler` once when the connection closes (at once when it already has).
    func onClose(_ handler: @escaping @Sendable (LibvirtConnection.CloseReason) -> Void) {
        let closed: LibvirtConnection.CloseReason? = lock.withLock {
            if closeReason == nil { closeHandlers.append(handler) }
            return closeReason
        }
        if let closed { handler(closed) }
    }
}

/// Removes credentials from a libvirt URI: `qemu+ssh://user:secret@host/system` becomes `qemu+ssh://host/system`.
///
/// Query parameters whose names suggest a secret keep their name but lose their value.
public func redactLibvirtURI(_ uri: String) -> String {
    URLRedaction.redact(uri, userInfo: .dropped)
}
