import CLibvirt
import Foundation

/// The process-wide libvirt setup: silent error handler, default event loop and its thread.
///
/// libvirt needs `virEventRegisterDefaultImpl()` before the first connection opens, and a
/// thread that keeps calling `virEventRunDefaultImpl()` for keepalive, close callbacks and
/// domain events to work. `shared` is a lazily initialised global (Swift runs the
/// initialiser exactly once, thread-safely); every connection touches it before opening.
final class LibvirtRuntime: Sendable {
    /// The one runtime of the process, started on first use.
    static let shared = LibvirtRuntime()

    /// Set when setup failed; opening a connection then throws it.
    let startupError: LibvirtError?

    private init() {
        // libvirt prints every error to stderr unless an error function is installed.
        virSetErrorFunc(nil, libvirtSilentErrorHandler)
        do {
            try libvirtCall("virInitialize", nil) { virInitialize() }
            try libvirtCall("virEventRegisterDefaultImpl", nil) { virEventRegisterDefaultImpl() }
        } catch {
            startupError = error
            return
        }
        startupError = nil
        let loop = Thread {
            while true {
                // Errors here are reported through the silent handler; keep looping.
                _ = virEventRunDefaultImpl()
            }
        }
        loop.name = "libvirt-event-loop"
        loop.start()
    }
}

/// Swallows libvirt's default error report; errors are read by `readLastError` instead.
private func libvirtSilentErrorHandler(_ userData: UnsafeMutableRawPointer?, _ error: virErrorPtr?) {}
