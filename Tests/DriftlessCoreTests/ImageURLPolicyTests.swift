import DriftlessCore
import Testing

/// Which addresses a URL import may reach, judged by value whatever the spelling, and how image URLs
/// are shown.
@Suite("Image URL policy")
struct ImageURLPolicyTests {
    // MARK: - Addresses, by value

    /// Every spelling of an address gets its value's verdict (nil: allowed).
    static let addresses: [(String, String?)] = [
        // IPv4, including the forms inet_aton (and so getaddrinfo) accepts.
        ("127.0.0.1", "a loopback address"),
        ("127.1", "a loopback address"),
        ("2130706433", "a loopback address"),
        ("0x7f.0.0.1", "a loopback address"),
        ("0177.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),
        ("0", "an unspecified address"),
        ("169.254.169.254", "a link-local address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("192.0.0.192", "a cloud metadata address"),
        ("224.0.0.1", "a multicast address"),
        ("255.255.255.255", "a reserved or broadcast address"),
        ("10.1.2.3", nil),
        ("172.16.0.1", nil),
        ("192.168.1.10", nil),
        ("8.8.8.8", nil),
        // IPv6 loopback and unspecified, however written.
        ("::1", "a loopback address"),
        ("0::1", "a loopback address"),
        ("0:0::1", "a loopback address"),
        ("0:0:0:0:0:0:0:1", "a loopback address"),
        ("[0::1]", "a loopback address"),
        ("::", "an unspecified address"),
        ("0::0", "an unspecified address"),
        // Scoped and local ranges.
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("febf:ffff::1", "a link-local address"),
        ("fec0::1", "a site-local address"),
        ("fc00::1", "a unique-local address"),
        ("fd12:3456:789a::1", "a unique-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("ff02::1", "a multicast address"),
        // IPv4 inside IPv6.
        ("::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1, a loopback address"),
        ("::ffff:7f00:1", "an IPv4-mapped form of 127.0.0.1, a loopback address"),
        ("::FFFF:169.254.169.254", "an IPv4-mapped form of 169.254.169.254, a link-local address"),
        ("::ffff:8.8.8.8", nil),
        ("::127.0.0.1", "an IPv4-compatible form of 127.0.0.1, a loopback address"),
        ("::8.8.8.8", "an IPv4-compatible address (deprecated"),
        ("::ffff:0:127.0.0.1", "an IPv4-translated form of 127.0.0.1"),
        ("64:ff9b::127.0.0.1", "a NAT64 form of 127.0.0.1, a loopback address"),
        ("64:ff9b::7f00:1", "a NAT64 form of 127.0.0.1, a loopback address"),
        ("64:ff9b::a9fe:a9fe", "a NAT64 form of 169.254.169.254, a link-local address"),
        ("64:ff9b::808:808", nil),
        ("64:ff9b:1::7f00:1", "a local-use NAT64 form of 127.0.0.1"),
        ("2002:7f00:1::", "a 6to4 form of 127.0.0.1, a loopback address"),
        ("2002:808:808::1", nil),
        // Public IPv6.
        ("2001:db8::1", nil),
        ("2606:4700:4700::1111", nil),
    ]

    @Test(arguments: addresses)
    func addressVerdicts(_ literal: String, _ expected: String?) throws {
        let address = try #require(ImageURLPolicy.Address(literal: literal), "\(literal) did not parse")
        let reason = ImageURLPolicy.forbiddenReason(address)
        if let expected {
            #expect(reason?.contains(expected) == true, "\(literal): \(reason ?? "allowed")")
        } else {
            #expect(reason == nil, "\(literal): \(reason ?? "")")
        }
    }

    @Test func namesAreNotAddresses() {
        for name in ["mirror.example.com", "cafe.be", "deadbeef", "1e100.net", ""] {
            #expect(ImageURLPolicy.Address(literal: name) == nil, "\(name)")
        }
    }

    /// The forms the hostile contributor found passing as public, now refused in validate.
    @Test(arguments: [
        ("http://[0::1]/a.img", "points at [::1], a loopback address"),
        ("http://[::ffff:7f00:1]/a.img", "points at [::ffff:127.0.0.1], an IPv4-mapped form of 127.0.0.1, a loopback address"),
        ("http://[::127.0.0.1]/a.img", "points at [::127.0.0.1], an IPv4-compatible form of 127.0.0.1, a loopback address"),
        ("http://[64:ff9b::a9fe:a9fe]/latest", "a NAT64 form of 169.254.169.254"),
        ("https://[fd00:ec2::254]/", "a cloud metadata address"),
    ])
    func hostileURLsAreRefused(_ url: String, _ expected: String) {
        let problem = ImageURLPolicy.problem(with: url)
        #expect(problem?.message.contains(expected) == true, "\(url): \(String(describing: problem))")
    }

    @Test(arguments: [
        ("https://user:s3cret@mirror.example.com/a.img", "https://mirror.example.com/a.img"),
        ("https://mirror.example.com/a.img?X-Amz-Signature=abc", "https://mirror.example.com/a.img?…"),
        ("http://tok@[::1]:8080/a", "http://[::1]:8080/a"),
        ("not a url with user:pw@host/x?y=1", "host/x"),
    ])
    func displayURLsCarryNoSecrets(_ url: String, _ shown: String) {
        #expect(ImageURLPolicy.displayURL(url) == shown)
    }

    @Test func shapeErrorsDoNotRepeatCredentials() {
        let problem = ImageURLPolicy.shapeProblem(with: "https://user:s3cret@/a.img")
        #expect(problem != nil)
        #expect(problem?.message.contains("s3cret") == false, "\(String(describing: problem))")
    }
}
