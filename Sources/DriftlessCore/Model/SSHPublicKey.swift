import Foundation

/// An OpenSSH public key line: `type base64-blob [comment]`.
public struct SSHPublicKey: Hashable, Sendable, CustomStringConvertible {
    public var type: String
    public var blob: String
    public var comment: String?

    /// Key types OpenSSH accepts in `authorized_keys` today.
    public static let knownTypes: Set<String> = [
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]

    /// Parses a key line and checks that the blob is base64 and names the same type inside.
    public static func parse(_ line: String) -> Result<SSHPublicKey, ParseProblem> {
        // One key is one line: a line break would let a "comment" add another key or a `#cloud-config`
        // line to the seed's authorized_keys, and other control characters have no place in a key.
        if let bad = line.unicodeScalars.first(where: { TextEscaping.isUnsafe($0) && $0 != "\t" }) {
            return .failure(ParseProblem(
                "contains \(TextEscaping.describe(bad)); a key is one line of printable text",
                hint: "give each key as its own list item"))
        }
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2 else {
            return .failure(ParseProblem("is not an OpenSSH public key (expected \"TYPE BASE64 [COMMENT]\")"))
        }
        let type = String(fields[0])
        guard knownTypes.contains(type) else {
            let hint = Suggestion.closest(to: type, in: knownTypes).map { "did you mean \($0)?" }
            return .failure(ParseProblem("has unknown key type \"\(type)\"", hint: hint))
        }
        let blob = String(fields[1])
        guard let data = Data(base64Encoded: blob), data.count >= 4 else {
            return .failure(ParseProblem("has a key body that is not valid base64"))
        }
        // The blob starts with a uint32 length and the key type again.
        let length = data.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        guard length > 0, data.count >= 4 + length,
              String(decoding: data.dropFirst(4).prefix(length), as: UTF8.self) == type
        else {
            return .failure(ParseProblem("has a key body that does not match its type \"\(type)\""))
        }
        let comment = fields.count > 2 ? fields.dropFirst(2).joined(separator: " ") : nil
        return .success(SSHPublicKey(type: type, blob: blob, comment: comment))
    }

    public var description: String {
        [type, blob, comment].compactMap { $0 }.joined(separator: " ")
    }
}

/// A reason a value did not parse, with an optional hint; the caller adds the location.
public struct ParseProblem: Error, Equatable, Sendable {
    public var message: String
    public var hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
}
