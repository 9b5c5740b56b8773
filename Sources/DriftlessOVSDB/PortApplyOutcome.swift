/// What one `OVSNetworkDriver.apply` did, port by port.
public struct PortApplyOutcome: Sendable, Hashable {
    /// Ports created (Port + Interface named after the NIC's device).
    public var created: [String] = []
    /// Unmarked ports carrying a Driftless NIC's `iface-id` (plugged by libvirt) that were taken over.
    public var adopted: [String] = []
    /// Owned ports corrected in place (tag, marks, MTU, interface ids).
    public var updated: [String] = []
    /// Ports already as desired.
    public var unchanged: [String] = []
    /// Owned ports deleted.
    public var deleted: [String] = []
    /// Owned ports removed because another port already serves the same NIC.
    public var removedDuplicates: [String] = []
    /// Ports asked to be deleted that lack Driftless marks: left alone.
    public var skippedUnmanaged: [String] = []
    /// Ports asked to be deleted that are already gone (not an error).
    public var alreadyAbsent: [String] = []
    /// OVSDB transactions sent (0 when nothing had to change, 1 normally; more after a concurrent change).
    public var transactions = 0

    public init() {}

    /// Whether anything on the host changed.
    public var changedAnything: Bool {
        !(created.isEmpty && adopted.isEmpty && updated.isEmpty && deleted.isEmpty && removedDuplicates.isEmpty)
    }
}
