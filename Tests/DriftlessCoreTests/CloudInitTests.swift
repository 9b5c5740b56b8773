import DriftlessCore
import Testing
import Yams

@Suite("cloud-init seed")
struct CloudInitTests {
    static let owner = NICOwner(project: "shop", instance: "web-1", network: "front", ordinal: 0)

    @Test func rendersKeysAddressesAndUserDataWithoutSplicing() throws {
        let hostile = "web-1\"\nruncmd: [rm -rf /]"
        let nic = NICAttachment(
            identity: NICIdentity(owner: Self.owner), bridge: "br-int", vlan: 100, mtu: 1450,
            address: IPv4Address("10.0.0.11"), prefixLength: 24, gateway: IPv4Address("10.0.0.1"))
        let documents = try CloudInitDocuments.render(
            instanceID: "abc", seed: CloudInitSeed(hostname: hostile, sshKeys: [Fixtures.aliceKey], userData: "#cloud-config\npackages: [htop]\n"),
            nics: [nic])

        let meta = try Yams.load(yaml: documents.metaData) as? [String: Any]
        #expect(meta?["local-hostname"] as? String == hostile)
        #expect(meta?["runcmd"] == nil)
        #expect(meta?["public-keys"] as? [String] == [Fixtures.aliceKey])
        #expect(documents.userData == "#cloud-config\npackages: [htop]\n")

        let network = try Yams.load(yaml: documents.networkConfig) as? [String: Any]
        let eth0 = (network?["ethernets"] as? [String: Any])?["eth0"] as? [String: Any]
        #expect((eth0?["match"] as? [String: Any])?["macaddress"] as? String == nic.identity.mac)
        #expect(eth0?["addresses"] as? [String] == ["10.0.0.11/24"])
        #expect(eth0?["mtu"] as? Int == 1450)
        #expect(network?["version"] as? Int == 2)
    }

    @Test func nicIdentitiesAreStableAndDistinct() {
        let a = NICIdentity(owner: Self.owner)
        let b = NICIdentity(owner: Self.owner)
        let other = NICIdentity(owner: NICOwner(project: "shop", instance: "web-1", network: "front", ordinal: 1))
        #expect(a == b)
        #expect(a.mac != other.mac && a.interfaceID != other.interfaceID && a.deviceName != other.deviceName)
        #expect(a.mac.hasPrefix("52:54:00:") && a.mac.count == 17)
        #expect(a.deviceName.count == 15 && a.deviceName.hasPrefix("dl"))
        #expect(a.interfaceID.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
    }
}
