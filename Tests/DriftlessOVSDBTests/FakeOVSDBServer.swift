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
    /// Signalled when a client is accepted: `send` waits for it instead of dropping what it was given
    /// (a send right after the client connected raced the accept thread, and the test waited in vain).
    private let accepted = NSCondition()
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

    /// Writes raw text to the connected client.
    func send(_ text: String) {
        let fd = waitForClient()
        guard fd >= 0 else { return }
        _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
    }

    /// The connected client, waiting (at most 10 s) for the accept thread to take it.
    private func waitForClient() -> Int32 {
        accepted.lock()
        let deadline = Date().addingTimeInterval(10)
        while currentClient() < 0 && accepted.wait(until: deadline) {}
        accepted.unlock()
        return currentClient()
    }

    private func currentClient() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        return clientFD
    }

    /// Drops the client connection, once the accept thread has taken it (a disconnect right after the
    /// client connected raced that thread and dropped nothing).
    func disconnectClient() {
        _ = waitForClient()
        dropClient()
    }

    private func dropClient() {
        lock.lock()
        let fd = clientFD
        clientFD = -1
        lock.unlock()
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    func stop() {
        dropClient()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            lock.lock()
            clientFD = fd
            lock.unlock()
            accepted.lock()
            accepted.broadcast()
            accepted.unlock()
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
