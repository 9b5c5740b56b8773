import DriftlessOVSDB
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A scripted JSON-RPC peer on a Unix socket, for client behaviour a real server will not show on demand.
///
/// It accepts one connection at a time on a background thread, frames what
/// the client sends with `JSONStreamFramer` and passes each message to
/// `respond`, writing back whatever byte chunks it returns.
final class FakeOVSDBServer: @unchecked Sendable {
    let path: String
    private let listener: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var clientFD: Int32 = -1
    private var stopped = false
    private let respond: @Sendable (String) -> [String]

    init(respond: @escaping @Sendable (String) -> [String]) throws {
        let path = NSTemporaryDirectory() + "dlt-fake-\(UUID().uuidString.prefix(8)).sock"
        unlink(path)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(listener, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
        self.path = path
        self.listener = listener
        self.respond = respond
        Thread { [self] in acceptLoop() }.start()
    }

    /// Messages the client sent, in order.
    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Whether the accept thread has taken a client (a test sends to it only then: a send before that is
    /// dropped, and the echo test once waited in vain for a reply to it).
    var hasClient: Bool {
        lock.lock()
        defer { lock.unlock() }
        return clientFD >= 0
    }

    /// Writes raw text to the connected client.
    func send(_ text: String) {
        lock.lock()
        let fd = clientFD
        lock.unlock()
        guard fd >= 0 else { return }
        _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
    }

    /// Drops the current client connection.
    func disconnectClient() {
        lock.lock()
        let fd = clientFD
        clientFD = -1
        lock.unlock()
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Stops accepting. The accept thread closes the listener itself when it ends: closed here, its number
    /// was reused by the next test's server while this thread was about to call accept on it, and this
    /// (old) server took the next test's client, so that test's server never saw it.
    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        disconnectClient()
        shutdown(listener, Int32(SHUT_RDWR))
        unlink(path)
    }

    private func acceptLoop() {
        defer { close(listener) }
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            lock.lock()
            let done = stopped
            lock.unlock()
            if done {
                close(fd)
                return
            }
            lock.lock()
            clientFD = fd
            lock.unlock()
            serve(fd)
            close(fd)
        }
    }

    private func serve(_ fd: Int32) {
        var framer = JSONStreamFramer()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { return }
            guard let frames = try? framer.append(buffer[0..<count]) else { return }
            for frame in frames {
                let text = String(decoding: frame, as: UTF8.self)
                lock.lock()
                received.append(text)
                lock.unlock()
                for chunk in respond(text) {
                    _ = chunk.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                    usleep(2000)
                }
            }
        }
    }
}
