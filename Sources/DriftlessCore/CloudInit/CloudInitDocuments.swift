import Yams

/// The files of a cloud-init NoCloud seed (`meta-data`, `user-data`, `network-config`), rendered with a
/// YAML emitter so that no user value is spliced into YAML text.
public struct CloudInitDocuments: Sendable, Equatable {
    public var metaData: String
    public var userData: String
    public var networkConfig: String

    /// The files by name, as the seed ISO carries them.
    public var files: [(name: String, contents: String)] {
        [("meta-data", metaData), ("user-data", userData), ("network-config", networkConfig)]
    }

    /// Renders the seed of an instance: hostname and SSH keys in meta-data (NoCloud's `public-keys`), the
    /// user's data verbatim, and a v2 network config matching each NIC by MAC with its static address.
    public static func render(instanceID: String, seed: CloudInitSeed, nics: [NICAttachment]) throws -> CloudInitDocuments {
        var meta: [(Node, Node)] = [
            (Node("instance-id"), Node(instanceID, .implicit, .doubleQuoted)),
            (Node("local-hostname"), Node(seed.hostname, .implicit, .doubleQuoted)),
        ]
        if !seed.sshKeys.isEmpty {
            meta.append((Node("public-keys"), Node(seed.sshKeys.map { Node($0, .implicit, .doubleQuoted) })))
        }
        let metaData = try Yams.serialize(node: Node(meta))

        var ethernets: [(Node, Node)] = []
        for (index, nic) in nics.enumerated() {
            var entry: [(Node, Node)] = [
                (Node("match"), Node([(Node("macaddress"), Node(nic.identity.mac, .implicit, .doubleQuoted))])),
                (Node("set-name"), Node("eth\(index)", .implicit, .doubleQuoted)),
            ]
            if let address = nic.address {
                entry.append((Node("addresses"), Node([Node("\(address)/\(nic.prefixLength)", .implicit, .doubleQuoted)])))
                if let gateway = nic.gateway, index == 0 {
                    entry.append((Node("routes"), Node([Node([
                        (Node("to"), Node("default", .implicit, .doubleQuoted)),
                        (Node("via"), Node(gateway.description, .implicit, .doubleQuoted)),
                    ])])))
                }
            } else {
                entry.append((Node("dhcp4"), Node("true")))
            }
            if let mtu = nic.mtu { entry.append((Node("mtu"), Node(String(mtu)))) }
            ethernets.append((Node("eth\(index)"), Node(entry)))
        }
        let network = Node([
            (Node("version"), Node("2")),
            (Node("ethernets"), Node(ethernets)),
        ])
        let networkConfig = try Yams.serialize(node: network)
        let userData = seed.userData ?? "#cloud-config\n{}\n"
        return CloudInitDocuments(metaData: metaData, userData: userData, networkConfig: networkConfig)
    }
}
