/// A cold migration of an instance to another host, with its root disk and volumes: what one
/// `ApplyStep.moveInstance` carries out, in an order that never leaves two copies running and never an
/// empty disk in place of a full one.
///
/// 1. The old host's domain is marked `movingTo` the new host and powered off (ACPI, then forced).
/// 2. Its root disk and volumes are streamed to the new host, a chunk at a time through the controller;
///    a volume is recorded on the new host only once complete.
/// 3. The new host defines the domain on the copies, marked `movedFrom` the old host, not started. From
///    here on the new copy is the instance: its disks are complete.
/// 4. The old host's volume copies, then its domain (root disk and seed) are deleted.
/// 5. The new domain is started (as its power says) and its mark cleared.
///
/// A move killed anywhere converges: before 3 the old domain is still the instance (stopped), and the next
/// plan starts the move again, replacing partial copies; after 3 the next plan sees the instance on both
/// hosts, the new one `movedFrom` the old one `movingTo` it, and finishes from step 4 (`arrived`).
public struct InstanceMove: Sendable, Hashable {
    /// The old host and the new one.
    public var from: String
    public var to: String
    /// The instance as it is to be on the new host (its bridge, pools and the commit's spec).
    public var request: InstanceRequest
    /// The domain on the old host.
    public var observed: ObservedInstance
    /// The instance's volumes on the old host, and what each becomes on the new one.
    public var volumes: [Volume]
    /// The domain an interrupted move already defined on the new host: the copies are complete, so the move
    /// resumes at step 4.
    public var arrived: ObservedInstance?

    public struct Volume: Sendable, Hashable {
        public var observed: ObservedVolume
        public var incoming: IncomingVolume

        public init(observed: ObservedVolume, incoming: IncomingVolume) {
            self.observed = observed
            self.incoming = incoming
        }
    }

    public init(from: String, to: String, request: InstanceRequest, observed: ObservedInstance, volumes: [Volume],
                arrived: ObservedInstance? = nil) {
        self.from = from
        self.to = to
        self.request = request
        self.observed = observed
        self.volumes = volumes
        self.arrived = arrived
    }

    /// The root disk as the new host makes it: the instance's own, not recorded as a Volume.
    public var rootDisk: IncomingVolume {
        IncomingVolume(id: request.id, volumeName: request.rootDisk.volumeName, format: .qcow2,
                       capacity: max(request.rootDisk.size, observed.rootDiskSize ?? .zero), recorded: false)
    }
}

/// Where a move stands, as `Applier` reports it in the journal and as the crash points of tests name it.
public enum MovePhase: String, Sendable, CaseIterable {
    case stopped = "stopped"
    case copied = "copied"
    case arrived = "arrived"
    case departed = "departed"
}
