/// An IPv4 address, parsed strictly from dotted-quad notation.
public struct IPv4Address: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) {
        self.value = value
    }

    /// Parses `a.b.c.d` with four decimal octets 0–255 and no leading zeros (which some parsers read as octal).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(part.count > 1 && part.first == "0"),
                  let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        self.value = value
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPv4Address(text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "not an IPv4 address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An IPv4 network in CIDR notation: `10.10.0.0/24`.
public struct IPv4Network: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefixLength: Int

    /// Why a CIDR string was rejected.
    public enum ParseError: Error, Equatable, Sendable {
        case malformed
        case hostBitsSet(network: String)
    }

    public init(address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses `a.b.c.d/n`; host bits must be zero (`10.0.0.1/24` is an error naming `10.0.0.0/24`).
    public static func parse(_ text: String) -> Result<IPv4Network, ParseError> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(String(parts[0])),
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), !parts[1].isEmpty, parts[1].count <= 2,
              let length = Int(parts[1]), (0...32).contains(length)
        else { return .failure(.malformed) }
        let network = IPv4Network(address: address, prefixLength: length)
        guard network.networkAddress == address else {
            return .failure(.hostBitsSet(network: "\(network.networkAddress)/\(length)"))
        }
        return .success(network)
    }

    public var mask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << (32 - UInt32(prefixLength)) }
    public var networkAddress: IPv4Address { IPv4Address(address.value & mask) }
    public var broadcastAddress: IPv4Address { IPv4Address(address.value | ~mask) }
    /// The first usable host address (the default gateway).
    public var firstHost: IPv4Address {
        prefixLength >= 31 ? networkAddress : IPv4Address(networkAddress.value + 1)
    }
    public var lastHost: IPv4Address {
        prefixLength >= 31 ? broadcastAddress : IPv4Address(broadcastAddress.value - 1)
    }
    /// How many addresses the network holds, network and broadcast included.
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefixLength) }

    public func contains(_ ip: IPv4Address) -> Bool { ip.value & mask == networkAddress.value }

    public var description: String { "\(address)/\(prefixLength)" }
}
