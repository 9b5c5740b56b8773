import Crypto
import Foundation

/// Checks of webhook deliveries, done on the raw body before anything parses it.
public enum WebhookSignature {
    /// GitHub's `X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, body)>`, compared in constant time.
    public static func verifyGitHub(body: [UInt8], header: String?, secret: [UInt8]) -> Bool {
        guard let header, header.hasPrefix("sha256="), let given = hexBytes(header.dropFirst("sha256=".count)) else { return false }
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret))
        return constantTimeEqual(Array(mac), given)
    }

    /// GitLab's `X-Gitlab-Token: <secret>`, compared in constant time.
    public static func verifyGitLab(header: String?, secret: [UInt8]) -> Bool {
        guard let header else { return false }
        return constantTimeEqual(Array(header.utf8), secret)
    }

    /// Equal bytes, in time that depends only on the lengths (never on where they first differ).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        // Compare digests of both so the time does not depend on the secret's length either.
        let da = Array(SHA256.hash(data: a)), db = Array(SHA256.hash(data: b))
        var difference: UInt8 = 0
        for index in 0..<da.count { difference |= da[index] ^ db[index] }
        return difference == 0 && a.count == b.count
    }

    static func hexBytes(_ text: Substring) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
