import DriftlessCore
import Foundation

/// Counts calls of the write methods of the drivers it wraps (real or `InMemoryHost`); reads pass through.
/// A no-op plan must reach none of them.
public final class WriteCounter: ComputeDriver, StorageDriver, NetworkDriver, @unchecked Sendable {
    let compute: any ComputeDriver
    let storage: any StorageDriver
    let network: any NetworkDriver
    private let lock = NSLock()
    private var _writes: [String] = []

    /// The write calls that reached the wrapped drivers, in order.
    public var writes: [String] { lock.withLock { _writes } }

    public init(compute: any ComputeDriver, storage: any StorageDriver, network: any NetworkDriver) {
        self.compute = compute
        self.storage = storage
        self.network = network
    }

    func count(_ name: String) { lock.withLock { _writes.append(name) } }

    public func observe() async throws -> ComputeObservation { try await compute.observe() }
    public func create(_ request: InstanceRequest) async throws -> ObservedInstance { count("create"); return try await compute.create(request) }
    public func update(_ request: InstanceRequest, from observed: ObservedInstance) async throws -> InstanceUpdate {
        count("update"); return try await compute.update(request, from: observed)
    }
    public func delete(_ observed: ObservedInstance, shutdownTimeout: Duration) async throws {
        count("delete"); try await compute.delete(observed, shutdownTimeout: shutdownTimeout)
    }
    public func prepareMove(_ observed: ObservedInstance, to host: String, shutdownTimeout: Duration) async throws {
        count("prepareMove"); try await compute.prepareMove(observed, to: host, shutdownTimeout: shutdownTimeout)
    }
    public func arrive(_ request: InstanceRequest, from host: String) async throws -> ObservedInstance {
        count("arrive"); return try await compute.arrive(request, from: host)
    }
    public func settle(_ request: InstanceRequest) async throws -> ObservedInstance { count("settle"); return try await compute.settle(request) }
    public func read(volumeAt path: String) async throws -> any VolumeReader { try await storage.read(volumeAt: path) }
    public func receive(_ volume: IncomingVolume, from source: any VolumeReader) async throws -> String {
        count("receive"); return try await storage.receive(volume, from: source)
    }
    public func ensurePools() async throws { count("ensurePools"); try await storage.ensurePools() }
    public func observe() async throws -> StorageObservation { try await storage.observe() }
    public func importImage(_ request: ImageRequest) async throws -> ObservedImage { count("importImage"); return try await storage.importImage(request) }
    public func deleteImage(_ image: ObservedImage) async throws { count("deleteImage"); try await storage.deleteImage(image) }
    public func createVolume(_ request: VolumeRequest) async throws -> ObservedVolume { count("createVolume"); return try await storage.createVolume(request) }
    public func resizeVolume(_ volume: ObservedVolume, to size: ByteSize) async throws -> ObservedVolume {
        count("resizeVolume"); return try await storage.resizeVolume(volume, to: size)
    }
    public func deleteVolume(_ volume: ObservedVolume) async throws { count("deleteVolume"); try await storage.deleteVolume(volume) }
    public func releaseVolume(_ volume: ObservedVolume) async throws { count("releaseVolume"); try await storage.releaseVolume(volume) }
    public func ensureBridge() async throws { count("ensureBridge"); try await network.ensureBridge() }
    public func observePorts() async throws -> Observed<[ObservedPort]> { try await network.observePorts() }
    public func apply(_ changes: PortChangeSet) async throws { count("ports"); try await network.apply(changes) }
}

