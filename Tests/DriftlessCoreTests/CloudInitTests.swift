import DriftlessCore
import DriftlessProcess
import Foundation
import Testing
import Yams

@Suite("cloud-init seed")
struct CloudInitTests {
    static let owner = NICOwner(project: "shop", instance: "web-1", network: "front", ordinal: 0)

    static let nic = NICAttachment(
        identity: NICIdentity(owner: owner), bridge: "br-int", vlan: 100, mtu: 1450,
        address: IPv4Address("10.0.0.11"), prefixLength: 24, gateway: IPv4Address("10.0.0.1"))

    /// The cloud-config part of `user-data`, with or without the user's part after it.
    static func ownPart(_ userData: String) throws -> [String: Any] {
        var text = userData
        if text.hasPrefix("Content-Type: multipart/mixed") {
            let part = try #require(text.components(separatedBy: "Content-Type: text/cloud-config").dropFirst().first)
            text = String(part.drop { $0 != "#" })
            let end = try #require(text.range(of: "\n--driftless-"))
            text = String(text[..<end.lowerBound]) + "\n"
        }
        #expect(text.hasPrefix("#cloud-config\n"))
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    @Test func rendersAccountsAddressesAndUserDataWithoutSplicing() throws {
        let hostile = "web-1\"\nruncmd: [rm -rf /]"
        let seed = CloudInitSeed(
            hostname: hostile,
            accounts: [GuestAccount(name: "alice", sshKeys: [Fixtures.aliceKey], sudo: true),
                       GuestAccount(name: "bob", sshKeys: [], sudo: false)],
            userData: "#cloud-config\npackages: [htop]\n")
        let documents = try CloudInitDocuments.render(instanceID: "abc", seed: seed, nics: [Self.nic])

        let meta = try Yams.load(yaml: documents.metaData) as? [String: Any]
        #expect(meta?["local-hostname"] as? String == hostile)
        #expect(meta?["instance-id"] as? String == "abc")
        #expect(meta?["runcmd"] == nil)

        // Driftless's part first, then the user's, which merges after it without replacing its keys.
        #expect(documents.userData.hasPrefix("Content-Type: multipart/mixed; boundary="))
        let user = try #require(documents.userData.range(of: "#cloud-config\npackages: [htop]\n"))
        let own = try #require(documents.userData.range(of: "Content-Type: text/cloud-config"))
        #expect(own.lowerBound < user.lowerBound)
        #expect(documents.userData.contains("Merge-Type: list(append)+dict(no_replace,recurse_list)+str()"))

        let config = try Self.ownPart(documents.userData)
        #expect(config["hostname"] as? String == hostile)
        #expect(config["runcmd"] == nil)
        #expect(config["ssh_pwauth"] as? Bool == false)
        let users = try #require(config["users"] as? [[String: Any]])
        #expect(users.map { $0["name"] as? String } == ["alice", "bob"])
        #expect(users[0]["ssh_authorized_keys"] as? [String] == [Fixtures.aliceKey])
        #expect(users[0]["sudo"] as? String == "ALL=(ALL) NOPASSWD:ALL")
        #expect(users[1]["sudo"] == nil, "bob is no admin")
        #expect(users.allSatisfy { $0["groups"] as? [String] == [CloudInitDocuments.accountGroup] })

        let network = try Yams.load(yaml: documents.networkConfig) as? [String: Any]
        let eth0 = (network?["ethernets"] as? [String: Any])?["eth0"] as? [String: Any]
        #expect((eth0?["match"] as? [String: Any])?["macaddress"] as? String == Self.nic.identity.mac)
        #expect(eth0?["addresses"] as? [String] == ["10.0.0.11/24"])
        #expect((eth0?["routes"] as? [[String: Any]])?.first?["to"] as? String == "0.0.0.0/0")
        #expect((eth0?["routes"] as? [[String: Any]])?.first?["via"] as? String == "10.0.0.1")
        #expect(eth0?["mtu"] as? Int == 1450)
        #expect(network?["version"] as? Int == 2)
    }

    @Test func withoutUserDataTheSeedIsOneCloudConfigWithNoDefaultUser() throws {
        let documents = try CloudInitDocuments.render(
            instanceID: "abc", seed: CloudInitSeed(hostname: "web-2", accounts: [], userData: nil), nics: [])
        #expect(documents.userData.hasPrefix("#cloud-config\n"))
        let config = try Self.ownPart(documents.userData)
        #expect((config["users"] as? [Any])?.isEmpty == true, "an empty list: not even cloud-init's default user")
    }

    /// The accounts script runs once per instance id (a changed seed), before cloud-init's users module:
    /// tried here against a fake `getent` and `usermod` to see which accounts it locks.
    @Test func theAccountsScriptLocksAccountsNoLongerListed() async throws {
        let config = try Self.ownPart(try CloudInitDocuments.render(
            instanceID: "abc", seed: CloudInitSeed(hostname: "web-1", accounts: [GuestAccount(name: "alice", sshKeys: [], sudo: false)],
                                                   userData: nil), nics: []).userData)
        let bootcmd = try #require((config["bootcmd"] as? [[String]])?.first)
        #expect(Array(bootcmd.prefix(3)) == ["cloud-init-per", "instance", "driftless-accounts"])
        let script = try #require(bootcmd.last)
        let directory = NSTemporaryDirectory() + "driftless-accounts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for home in ["alice", "bob"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/home/\(home)/.ssh", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: "\(directory)/home/\(home)/.ssh/authorized_keys", contents: Data("k\n".utf8))
        }
        let fakes = [
            "getent": "#!/bin/sh\ncase \"$1\" in group) echo 'driftless:x:999:alice,bob';; passwd) echo \"$2:x:1000:1000::\(directory)/home/$2:/bin/bash\";; esac\n",
            "usermod": "#!/bin/sh\necho \"$@\" >> \(directory)/usermod.log\n",
        ]
        for (name, body) in fakes {
            FileManager.default.createFile(atPath: "\(directory)/bin/\(name)", contents: Data(body.utf8), attributes: [.posixPermissions: 0o755])
        }
        // The sudoers path is the guest's; point it at the scratch directory.
        let scratchScript = script.replacingOccurrences(of: "/etc/sudoers.d/", with: directory + "/")
        let run = try await ChildProcess.run("/bin/sh", ["-c", scratchScript],
                                             environment: ["PATH": "\(directory)/bin:/usr/bin:/bin"], inheritEnvironment: false)
        #expect(run.status == 0, "\(run.stderr)")
        let log = try String(contentsOfFile: directory + "/usermod.log", encoding: .utf8)
        #expect(log.split(separator: "\n").sorted() == ["-L -e 1 bob", "-e  alice"])
        for home in ["alice", "bob"] {
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/home/\(home)/.ssh/authorized_keys"),
                    "cloud-init's users module writes the listed keys afresh")
        }
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
