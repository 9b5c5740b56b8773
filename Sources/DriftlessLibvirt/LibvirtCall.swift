import CLibvirt
import Foundation

// Every libvirt C call goes through `libvirtCheck`: it runs the call, decides failure,
// and on failure reads libvirt's per-thread last error before returning, so nothing
// (no await, no other libvirt call) can run between the failure and the read.

/// Runs one libvirt call and turns a failed result into a `LibvirtError`.
///
/// - Parameters:
///   - function: the C function name, reported in the error.
///   - connection: the state of the connection the call belongs to, for the URI and liveness.
///   - failed: decides from the result whether the call failed.
///   - body: the C call itself; it must not await or call other libvirt functions after failing.
@inline(__always)
func libvirtCheck<Result>(
    _ function: String,
    _ connection: ConnectionState?,
    failed: (Result) -> Bool,
    _ body: () -> Result
) throws(LibvirtError) -> Result {
    connection?.requests.wait()
    defer { connection?.requests.signal() }
    let result = body()
    if failed(result) {
        throw readLastError(function: function, connection: connection)
    }
    return result
}

/// Runs a libvirt call that returns `int`, where a negative value means failure.
@discardableResult
@inline(__always)
func libvirtCall(
    _ function: String,
    _ connection: ConnectionState?,
    _ body: () -> Int32
) throws(LibvirtError) -> Int32 {
    try libvirtCheck(function, connection, failed: { $0 < 0 }, body)
}

/// Runs a libvirt call that returns a pointer, where `NULL` means failure.
@inline(__always)
func libvirtPointer<Pointer>(
    _ function: String,
    _ connection: ConnectionState?,
    _ body: () -> Pointer?
) throws(LibvirtError) -> Pointer {
    let result = try libvirtCheck(function, connection, failed: { $0 == nil }, body)
    guard let result else {
        // Unreachable: `failed` rejected nil above.
        throw LibvirtError(code: .internalError, message: "unexpected NULL", function: function)
    }
    return result
}

/// Runs a libvirt call that returns a `malloc`ed C string, takes ownership and frees it.
@inline(__always)
func libvirtString(
    _ function: String,
    _ connection: ConnectionState?,
    _ body: () -> UnsafeMutablePointer<CChar>?
) throws(LibvirtError) -> String {
    let pointer = try libvirtPointer(function, connection, body)
    defer { free(pointer) }
    return String(cString: pointer)
}

/// Reads and clears the calling thread's last libvirt error.
///
/// Must be called on the thread that made the failing call, before any other libvirt
/// call on it: libvirt keeps the error in thread-local storage.
func readLastError(function: String, connection: ConnectionState?) -> LibvirtError {
    let closed = connection.map { !$0.isAlive } ?? false
    guard let last = virGetLastError() else {
        return LibvirtError(
            code: .internalError,
            message: "libvirt reported failure without an error",
            function: function,
            uri: connection?.redactedURI,
            connectionClosed: closed
        )
    }
    let error = LibvirtError(
        code: LibvirtError.Code(rawValue: last.pointee.code),
        domain: LibvirtError.ErrorDomain(rawValue: last.pointee.domain),
        message: last.pointee.message.map { String(cString: $0) } ?? "",
        function: function,
        uri: connection?.redactedURI,
        connectionClosed: closed
    )
    virResetLastError()
    return error
}

/// Decodes a NUL-terminated C string held in a fixed-size buffer (UUID strings, model names).
func decodeCString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
