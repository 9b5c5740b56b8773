import Yams

/// The files of a cloud-init NoCloud seed (`meta-data`, `user-data`, `network-config`), rendered with a
/// YAML emitter so that no user value is spliced into YAML text.
///
/// What the guest gets, as the real cloud-init reads it:
/// - `meta-data`: the instance id (it changes with the seed, so cloud-init treats a changed seed as a new
///   instance at the next boot and runs its per-instance modules again) and the hostname;
/// - `user-data`: Driftless's own cloud-config (hostname, one account per listed User with that user's
///   keys, passwordless sudo for admins, no default user, no password logins), then the instance's
///   `userData` as a second MIME part whose merge rules append to Driftless's lists and never replace its
///   keys;
/// - `network-config` (v2): each NIC matched by MAC, its static address, prefix, MTU, and the default
///   route via the first NIC's gateway.
///
/// Accounts Driftless made and the seed no longer lists are locked at the next boot, and every account
/// gets exactly the keys and sudo rights the seed lists (see `accountsScript`).
public struct CloudInitDocuments: Sendable, Equatable {
    public var metaData: String
    public var userData: String
    public var networkConfig: String

    /// The group every account Driftless makes belongs to: how the next seed finds the accounts to lock.
    public static let accountGroup = "driftless"

    /// The files by name, as the seed carries them.
    public var files: [(name: String, contents: String)] {
        [("meta-data", metaData), ("user-data", userData), ("network-config", networkConfig)]
    }

    public static func render(instanceID: String, seed: CloudInitSeed, nics: [NICAttachment]) throws -> CloudInitDocuments {
        let meta: [(Node, Node)] = [
            (Node("instance-id"), quoted(instanceID)),
            (Node("local-hostname"), quoted(seed.hostname)),
        ]
        let metaData = try Yams.serialize(node: Node(meta))
        let ownPart = "#cloud-config\n" + (try Yams.serialize(node: cloudConfig(seed)))
        let userData = try seed.userData.map { try multipart(ownPart, then: $0) } ?? ownPart
        return CloudInitDocuments(metaData: metaData, userData: userData, networkConfig: try networkConfig(nics))
    }

    static func quoted(_ text: String) -> Node { Node(text, .implicit, .doubleQuoted) }

    /// Driftless's cloud-config part.
    static func cloudConfig(_ seed: CloudInitSeed) -> Node {
        let users = seed.accounts.map { account -> Node in
            var entry: [(Node, Node)] = [
                (Node("name"), quoted(account.name)),
                (Node("groups"), Node([quoted(accountGroup)])),
                (Node("shell"), quoted("/bin/bash")),
                (Node("lock_passwd"), Node("true")),
                (Node("ssh_authorized_keys"), Node(account.sshKeys.map(quoted))),
            ]
            if account.sudo { entry.append((Node("sudo"), quoted("ALL=(ALL) NOPASSWD:ALL"))) }
            return Node(entry)
        }
        let config: [(Node, Node)] = [
            (Node("hostname"), quoted(seed.hostname)),
            (Node("preserve_hostname"), Node("false")),
            (Node("manage_etc_hosts"), Node("true")),
            (Node("ssh_pwauth"), Node("false")),
            (Node("disable_root"), Node("true")),
            // The host keys stay across seed changes (a new key for alice must not change the guest's).
            (Node("ssh_deletekeys"), Node("false")),
            (Node("groups"), Node([quoted(accountGroup)])),
            // An empty list: no default (debian) user, only the listed ones.
            (Node("users"), Node(users)),
            (Node("bootcmd"), Node([Node([
                quoted("cloud-init-per"), quoted("instance"), quoted("driftless-accounts"),
                quoted("sh"), quoted("-c"), quoted(accountsScript(keeping: seed.accounts.map(\.name))),
            ])])),
        ]
        return Node(config)
    }

    /// Runs once per instance id, before cloud-init's users module: forgets every Driftless account's keys
    /// and sudo rule (the users module then writes exactly the listed ones), unlocks the listed accounts
    /// and locks the others (a user removed from `users:`, or disabled, can no longer log in). Names are
    /// manifest names (lowercase letters, digits and '-'), so they need no quoting inside the script.
    static func accountsScript(keeping names: [String]) -> String {
        """
        keep=' \(names.joined(separator: " ")) '
        for u in $(getent group \(accountGroup) | cut -d: -f4 | tr , ' '); do
          home=$(getent passwd "$u" | cut -d: -f6)
          [ -n "$home" ] && rm -f "$home/.ssh/authorized_keys"
          case "$keep" in *" $u "*) usermod -e '' "$u" ;; *) usermod -L -e 1 "$u" ;; esac
        done
        rm -f /etc/sudoers.d/90-cloud-init-users
        """
    }

    /// The two parts as one MIME multipart message: Driftless's first, then the user's, which cloud-init
    /// types by its first line (`#cloud-config`, `#!`, …) and merges after Driftless's.
    static func multipart(_ own: String, then user: String) throws -> String {
        var boundary = "driftless-" + StableHash.sha256Hex(own + user).prefix(24)
        while own.contains(boundary) || user.contains(boundary) { boundary += "x" }
        func part(_ type: String, _ body: String, merge: Bool) -> String {
            var headers = "Content-Type: \(type); charset=\"utf-8\"\nMIME-Version: 1.0\n"
            if merge { headers += "Merge-Type: list(append)+dict(no_replace,recurse_list)+str()\n" }
            return "--\(boundary)\n\(headers)\n\(body.hasSuffix("\n") ? body : body + "\n")"
        }
        return "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\nMIME-Version: 1.0\n\n"
            + part("text/cloud-config", own, merge: false)
            + part("text/plain", user, merge: true)
            + "--\(boundary)--\n"
    }

    static func networkConfig(_ nics: [NICAttachment]) throws -> String {
        var ethernets: [(Node, Node)] = []
        for (index, nic) in nics.enumerated() {
            var entry: [(Node, Node)] = [
                (Node("match"), Node([(Node("macaddress"), quoted(nic.identity.mac))])),
                (Node("set-name"), quoted("eth\(index)")),
            ]
            if let address = nic.address {
                entry.append((Node("addresses"), Node([quoted("\(address)/\(nic.prefixLength)")])))
                if let gateway = nic.gateway, index == 0 {
                    entry.append((Node("routes"), Node([Node([
                        // cloud-init 22.4 (Debian 12) refuses netplan's `default` here.
                        (Node("to"), quoted("0.0.0.0/0")),
                        (Node("via"), quoted(gateway.description)),
                    ])])))
                }
            } else {
                entry.append((Node("dhcp4"), Node("true")))
            }
            if let mtu = nic.mtu { entry.append((Node("mtu"), Node(String(mtu)))) }
            ethernets.append((Node("eth\(index)"), Node(entry)))
        }
        return try Yams.serialize(node: Node([
            (Node("version"), Node("2")),
            (Node("ethernets"), Node(ethernets)),
        ]))
    }
}
