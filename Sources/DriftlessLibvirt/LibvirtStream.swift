import CLibvirt
import Foundation

/// A blocking libvirt data stream (`virStreamPtr`) for volume uploads and downloads, freed on release.
///
/// Not for concurrent use: a stream is one ordered transfer, so it is confined to the function that
/// drives it (`LibvirtStorageVolume.upload`), or to one owner that calls it one call at a time
/// (`LibvirtVolumeReader`, `LibvirtStorageDriver.receive`). It is not `Sendable`.
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

    /// Receives up to `count` bytes, looping until that many arrived or the transfer ended; empty at the
    /// end (`virStreamRecv` returns 0).
    func receive(upTo count: Int) throws(LibvirtError) -> Data {
        var data = Data(count: count)
        let state = connection.state
        let received: Result<Int, LibvirtError> = data.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return .success(0) }
            var filled = 0
            while filled < count {
                do throws(LibvirtError) {
                    let got = try libvirtCall("virStreamRecv", state) { virStreamRecv(pointer, base + filled, count - filled) }
                    if got == 0 { break }
                    filled += Int(got)
                } catch {
                    return .failure(error)
                }
            }
            return .success(filled)
        }
        let filled = try received.get()
        data.count = filled
        return data
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
