import DriftlessCore
import Foundation
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Which addresses a download may connect to. Applied to every address a name resolves to, for the
/// first request and for every redirect, before any connection is made.
public struct AddressPolicy: Sendable {
    /// Why an address is forbidden, or nil.
    public var reason: @Sendable (ImageURLPolicy.Address) -> String?
    /// Whether names that always mean this machine or a metadata service (`localhost`,
    /// `metadata.google.internal`) are refused before they are resolved.
    public var refusesLocalNames: Bool

    public init(refusesLocalNames: Bool = true, reason: @escaping @Sendable (ImageURLPolicy.Address) -> String?) {
        self.reason = reason
        self.refusesLocalNames = refusesLocalNames
    }

    /// `ImageURLPolicy`'s rules: no loopback, unspecified, link-local, unique-local, metadata or multicast
    /// address, in any of its IPv4 or IPv6 forms.
    public static let standard = AddressPolicy { ImageURLPolicy.forbiddenReason($0) }

    /// Any address: a host with `allowPrivateImageSources: true` (labs and tests that serve images on
    /// loopback).
    public static let allowingPrivate = AddressPolicy(refusesLocalNames: false) { _ in nil }

    /// The policy of a host.
    public static func forHost(allowPrivateImageSources: Bool) -> AddressPolicy {
        allowPrivateImageSources ? .allowingPrivate : .standard
    }
}

/// Resolves a URL's host once and checks every address it gets: the addresses returned are the only ones
/// the downloader connects to, so a name cannot be re-resolved to something else between check and use.
enum AddressResolver {
    struct Checked: Sendable {
        var address: ImageURLPolicy.Address
        var socketAddress: SocketAddress
    }

    static func resolve(_ url: ImageURL, policy: AddressPolicy) async throws -> [Checked] {
        if policy.refusesLocalNames, url.literalAddress == nil,
           let problem = ImageURLPolicy.addressProblem(with: "\(url.scheme)://\(url.hostHeader)/") {
            throw ImageSourceError.urlRefused(url: url.display, reason: problem.message)
        }
        let addresses: [ImageURLPolicy.Address]
        if let literal = url.literalAddress {
            addresses = [literal]
        } else {
            addresses = try await NIOThreadPool.singleton.runIfActive { try lookUp(url) }
        }
        guard !addresses.isEmpty else {
            throw ImageSourceError.unresolvable(url: url.display, host: url.host, reason: "no addresses", transient: false)
        }
        var checked: [Checked] = []
        for address in addresses {
            if let reason = policy.reason(address) {
                let what = url.literalAddress == nil ? "\(url.host) resolves to \(address.bracketed), \(reason)"
                    : "it points at \(address.bracketed), \(reason)"
                throw ImageSourceError.urlRefused(url: url.display, reason: what)
            }
            guard let socketAddress = try? SocketAddress(ipAddress: address.description, port: url.port) else { continue }
            if !checked.contains(where: { $0.address == address }) {
                checked.append(Checked(address: address, socketAddress: socketAddress))
            }
        }
        return checked
    }

    /// `getaddrinfo`, once; a failed lookup refuses (it never lets the request through).
    static func lookUp(_ url: ImageURL) throws -> [ImageURLPolicy.Address] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(url.host, nil, &hints, &result)
        guard status == 0, let first = result else {
            let reason = status == 0 ? "no addresses" : String(cString: gai_strerror(status))
            throw ImageSourceError.unresolvable(url: url.display, host: url.host, reason: reason,
                                                transient: status == EAI_AGAIN)
        }
        defer { freeaddrinfo(first) }
        var addresses: [ImageURLPolicy.Address] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let raw = info.pointee.ai_addr, let address = ImageURLPolicy.Address(socketAddress: raw) {
                addresses.append(address)
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}
