import DriftlessCore
import Testing

@Suite("Value parsing")
struct ValueParsingTests {
    @Test(arguments: [
        ("512MiB", UInt64(512) << 20), ("2GiB", UInt64(2) << 30), ("1TiB", UInt64(1) << 40), ("4KiB", UInt64(4096)),
        ("0MiB", UInt64(0)),
    ])
    func binarySizesParse(_ text: String, _ bytes: UInt64) throws {
        #expect(try ByteSize.parse(text).get().bytes == bytes)
    }

    @Test(arguments: [
        ("2GB", "did you mean 2GiB?"), ("2G", "did you mean 2GiB?"), ("100MB", "did you mean 100MiB?"),
        ("7kb", "did you mean 7KiB?"), ("2048", "did you mean 2048MiB? sizes take a binary unit: KiB, MiB, GiB or TiB"),
    ])
    func nonBinarySizesGetAHint(_ text: String, _ hint: String) {
        guard case let .failure(error) = ByteSize.parse(text) else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(error.hint == hint)
    }

    @Test(arguments: ["", "GiB", "-1GiB", "1.5GiB", "2 parsecs", "99999999999999999999GiB", "20000000TiB"])
    func garbageSizesFail(_ text: String) {
        #expect((try? ByteSize.parse(text).get()) == nil)
    }

    @Test(arguments: [(UInt64(2) << 30, "2GiB"), (UInt64(1536) << 20, "1536MiB"), (UInt64(17), "17B")])
    func sizesPrintInTheLargestExactUnit(_ bytes: UInt64, _ text: String) {
        #expect(ByteSize(bytes: bytes).description == text)
    }

    @Test(arguments: ["10.0.0.1", "0.0.0.0", "255.255.255.255"])
    func validIPv4(_ text: String) {
        #expect(IPv4Address(text)?.description == text)
    }

    @Test(arguments: ["10.0.0", "10.0.0.256", "010.0.0.1", "1.2.3.4.5", "a.b.c.d", " 10.0.0.1", "10..0.1"])
    func invalidIPv4(_ text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test func cidrArithmetic() throws {
        let network = try IPv4Network.parse("10.10.0.0/24").get()
        #expect(network.firstHost.description == "10.10.0.1")
        #expect(network.broadcastAddress.description == "10.10.0.255")
        #expect(network.contains(IPv4Address("10.10.0.77")!))
        #expect(!network.contains(IPv4Address("10.10.1.0")!))
        #expect(IPv4Network.parse("10.10.0.5/24") == .failure(.hostBitsSet(network: "10.10.0.0/24")))
        #expect(IPv4Network.parse("10.10.0.0/33") == .failure(.malformed))
    }

    @Test(arguments: [
        ("http://mirror.example.com/a.img", nil),
        ("https://10.1.2.3/a.img", nil),
        ("file:///etc/passwd", "must use http or https"),
        ("gopher://x/y", "must use http or https"),
        ("http://localhost/a", "loopback or metadata"),
        ("http://api.localhost/a", "loopback or metadata"),
        ("http://metadata.google.internal/", "loopback or metadata"),
        ("http://127.1/a", "a loopback address"),
        ("http://0x7f000001/a", "a loopback address"),
        ("http://0177.0.0.1/a", "a loopback address"),
        ("http://169.254.169.254/latest", "a link-local address"),
        ("http://100.100.100.200/", "a cloud metadata address"),
        ("http://[fe80::1]/a", "a link-local address"),
        ("http://[::ffff:127.0.0.1]/a", "a loopback address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
    ] as [(String, String?)])
    func imageURLPolicy(_ url: String, _ expected: String?) {
        let problem = ImageURLPolicy.problem(with: url)
        if let expected {
            #expect(problem?.message.contains(expected) == true, "\(url): \(String(describing: problem))")
        } else {
            #expect(problem == nil, "\(url): \(String(describing: problem))")
        }
    }

    @Test func sshKeysAreCheckedInside() {
        #expect((try? SSHPublicKey.parse(Fixtures.aliceKey).get())?.comment == "alice@lab")
        // A valid ed25519 blob announced as RSA.
        let blob = Fixtures.aliceKey.split(separator: " ")[1]
        guard case let .failure(problem) = SSHPublicKey.parse("ssh-rsa \(blob)") else {
            Issue.record("mismatched key type accepted")
            return
        }
        #expect(problem.message.contains("does not match its type"))
    }

    @Test(arguments: [("instanse", "Instance"), ("netwroks", "networks"), ("vpcus", "vcpus")])
    func suggestions(_ typo: String, _ expected: String) {
        #expect(Suggestion.closest(to: typo, in: ["Instance", "networks", "vcpus", "volumes", "image"]) == expected)
    }

    @Test func farFetchedWordsGetNoSuggestion() {
        #expect(Suggestion.closest(to: "zebra", in: ["networks", "vcpus"]) == nil)
    }
}
