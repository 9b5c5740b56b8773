import CLibvirt
import Foundation

extension LibvirtConnection {
    /// Domain lifecycle events of every domain on this connection, as an `AsyncStream`.
    ///
    /// Registers a `VIR_DOMAIN_EVENT_ID_LIFECYCLE` callback; events are delivered by the
    /// process-wide event-loop thread. The stream ends when the consumer stops iterating
    /// (the callback is then deregistered) or when the connection is released. Events
    /// that arrive while nobody reads are buffered, the oldest dropped past `bufferSize`.
    public func domainEvents(bufferSize: Int = 1024) throws(LibvirtError) -> AsyncStream<DomainEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: DomainEvent.self,
            bufferingPolicy: .bufferingNewest(bufferSize)
        )
        let box = DomainEventBox(continuation: continuation)
        // libvirt owns one reference from here; it calls `releaseRetained` on deregistration.
        let opaque = Unmanaged.passRetained(box).toOpaque()
        let callback = unsafeBitCast(
            domainLifecycleCallback as LifecycleCallback,
            to: virConnectDomainEventGenericCallback.self
        )
        let id: Int32
        do {
            id = try libvirtCall("virConnectDomainEventRegisterAny", state) {
                virConnectDomainEventRegisterAny(
                    pointer, nil, Int32(VIR_DOMAIN_EVENT_ID_LIFECYCLE.rawValue), callback, opaque, releaseRetained
                )
            }
        } catch {
            // On failure libvirt does not call the free callback: release our reference here.
            Unmanaged<DomainEventBox>.fromOpaque(opaque).release()
            continuation.finish()
            throw error
        }
        eventRegistrations.insert(id)
        continuation.onTermination = { [weak self] _ in
            self?.deregisterDomainEvents(id)
        }
        return stream
    }

    /// Removes one lifecycle registration unless `deinit` or an earlier call already did.
    private func deregisterDomainEvents(_ id: Int32) {
        guard eventRegistrations.remove(id) else { return }
        _ = virConnectDomainEventDeregisterAny(pointer, id)
        virResetLastError()
    }
}

/// The lifecycle callback's C signature (`virConnectDomainEventCallback`).
private typealias LifecycleCallback = @convention(c) (
    OpaquePointer?, OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?
) -> Int32

/// What libvirt's lifecycle callback reaches through its opaque pointer.
final class DomainEventBox: Sendable {
    let continuation: AsyncStream<DomainEvent>.Continuation

    init(continuation: AsyncStream<DomainEvent>.Continuation) {
        self.continuation = continuation
    }

    deinit {
        // libvirt released the callback: nothing more will arrive.
        continuation.finish()
    }
}

/// The ids of a connection's event registrations, shared between callers and `deinit`.
final class EventRegistrations: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: Set<Int32> = []

    func insert(_ id: Int32) {
        lock.withLock { _ = ids.insert(id) }
    }

    /// Removes an id; false when it was not registered (already removed).
    func remove(_ id: Int32) -> Bool {
        lock.withLock { ids.remove(id) != nil }
    }

    /// Removes and returns every id.
    func removeAll() -> [Int32] {
        lock.withLock {
            defer { ids.removeAll() }
            return Array(ids)
        }
    }
}

/// Turns a libvirt lifecycle event into a `DomainEvent`; runs on the event-loop thread.
private func domainLifecycleCallback(
    _ connection: OpaquePointer?,
    _ domain: OpaquePointer?,
    _ event: Int32,
    _ detail: Int32,
    _ opaque: UnsafeMutableRawPointer?
) -> Int32 {
    guard let opaque, let domain else { return 0 }
    let box = Unmanaged<DomainEventBox>.fromOpaque(opaque).takeUnretainedValue()
    // Name and UUID are cached in the domain object: no RPC from the event thread.
    let name = virDomainGetName(domain).map { String(cString: $0) } ?? ""
    var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
    let uuid = virDomainGetUUIDString(domain, &buffer) == 0 ? decodeCString(buffer) : ""
    let kind = DomainEvent.Kind(event)
    box.continuation.yield(DomainEvent(name: name, uuid: uuid, kind: kind, detail: .init(kind: kind, raw: detail)))
    return 0
}
