import DriftlessCore
import Foundation

/// Dashboard sessions, in memory: a restart of the daemon signs everyone out, and nothing about a
/// session is ever written to disk.
///
/// The cookie carries 256 random bits; the store keeps only their SHA-256, so a memory dump does not
/// yield a cookie. A session remembers the id of the token it was opened with (never the token) and
/// its user; every request checks that the token still exists and asks the applied commit's policy
/// for the user's grant, so revoking the token or disabling the user in git ends the session at once.
/// Each session also holds a random form token that its POST forms (sign-out) must carry.
final class SessionStore: @unchecked Sendable {
    struct Session: Sendable, Equatable {
        var user: String
        var tokenID: String
        /// The form token of this session's POST forms.
        var csrf: String
        var expires: Date
    }

    /// How long a session lasts from sign-in, whatever its use (no sliding renewal).
    let lifetime: TimeInterval
    /// At most this many sessions; signing in beyond it drops the one closest to expiring.
    let capacity: Int

    private let lock = NSLock()
    private var sessions: [String: Session] = [:]

    init(lifetime: TimeInterval = 12 * 3600, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Opens a session; returns the cookie value (shown to the browser only) and the session.
    func open(user: String, tokenID: String, now: Date = Date()) -> (cookie: String, session: Session) {
        let cookie = Self.randomToken()
        let session = Session(user: user, tokenID: tokenID, csrf: Self.randomToken(), expires: now.addingTimeInterval(lifetime))
        lock.withLock {
            sessions = sessions.filter { $0.value.expires > now }
            if sessions.count >= capacity, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires })?.key {
                sessions.removeValue(forKey: oldest)
            }
            sessions[Self.key(cookie)] = session
        }
        return (cookie, session)
    }

    /// The live session of a cookie value, nil when unknown or expired (an expired one is dropped).
    func session(cookie: String, now: Date = Date()) -> Session? {
        let key = Self.key(cookie)
        return lock.withLock {
            guard let session = sessions[key] else { return nil }
            guard session.expires > now else {
                sessions.removeValue(forKey: key)
                return nil
            }
            return session
        }
    }

    func close(cookie: String) {
        let key = Self.key(cookie)
        _ = lock.withLock { sessions.removeValue(forKey: key) }
    }

    var count: Int { lock.withLock { sessions.count } }

    static func key(_ cookie: String) -> String { StableHash.sha256Hex(cookie) }

    static func randomToken() -> String {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
