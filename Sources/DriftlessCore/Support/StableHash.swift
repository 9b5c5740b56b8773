import Crypto

/// Hashes that are the same in every process and release (unlike `Hasher`), for identities and spec hashes.
public enum StableHash {
    /// The lowercase hexadecimal SHA-256 of a string's UTF-8 bytes.
    public static func sha256Hex(_ text: String) -> String {
        hex(SHA256.hash(data: Array(text.utf8)))
    }

    /// The lowercase hexadecimal SHA-256 of bytes.
    public static func sha256Hex(bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// Bytes (a digest) as lowercase hexadecimal, two digits a byte.
    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }
}
