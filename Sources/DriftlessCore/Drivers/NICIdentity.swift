/// Stable identities of an instance NIC, derived from its owner so they survive restarts and re-creation:
/// the MAC, the `interfaceid` that ties the libvirt interface to its OVS port, and the tap device name.
public struct NICIdentity: Hashable, Sendable, Codable {
    public var owner: NICOwner
    /// A locally administered MAC in QEMU's `52:54:00` range.
    public var mac: String
    /// A UUID-formatted id, set as `interfaceid` in the domain XML and found as `iface-id` in OVS.
    public var interfaceID: String
    /// The tap device and OVS port name: `dl` plus 13 hex digits (15 characters, the kernel's limit).
    public var deviceName: String

    public init(owner: NICOwner) {
        self.owner = owner
        let digest = StableHash.sha256Hex("driftless-nic:" + owner.key)
        let bytes = Array(digest.utf8)
        func hex(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        mac = "52:54:00:\(hex(0..<2)):\(hex(2..<4)):\(hex(4..<6))"
        interfaceID = "\(hex(0..<8))-\(hex(8..<12))-5\(hex(13..<16))-8\(hex(17..<20))-\(hex(20..<32))"
        deviceName = "dl" + hex(32..<45)
    }
}
