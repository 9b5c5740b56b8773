import CLibvirt
import Foundation

/// A blocking libvirt data stream (`virStreamPtr`) for volume uploads, freed on release.
///
/// Not for concurrent use: a stream is one ordered transfer, so it is confined to the
/// function that drives it (`LibvirtStorageVolume.upload`). It is not `Sendable`.
final class LibvirtStream {
    let pointer: OpaquePointer
    private let connection: LibvirtConnection
    private var active = true

    init(pointer: OpaquePointer, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        if active {
            // libvirt requires aborting a transfer that did not finish before freeing it.
            _ = virStreamAbort(pointer)
        }
        _ = virStreamFree(pointer)
        virResetLastError()
    }

    /// Sends all of `data`, looping because `virStreamSend` may accept fewer bytes than offered.
    func send(_ data: Data) throws(LibvirtError) {
        let state = connection.state
        let failure: LibvirtError? = data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return nil }
            var offset = 0
            while offset < raw.count {
                do throws(LibvirtError) {
                    let sent = try libvirtCall("virStreamSend", state) {
                        virStreamSend(pointer, base + offset, raw.count - offset)
                    }
                    offset += Int(sent)
                } catch {
                    return error
                }
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Completes the transfer and waits for the remote side to confirm (`virStreamFinish`).
    func finish() throws(LibvirtError) {
        try libvirtCall("virStreamFinish", connection.state) { virStreamFinish(pointer) }
        active = false
    }

    /// Cancels the transfer; errors are ignored because the caller is already failing.
    func abort() {
        guard active else { return }
        active = false
        _ = virStreamAbort(pointer)
        virResetLastError()
    }
}
