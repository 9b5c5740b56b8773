import Foundation

/// The threads of one libvirt connection: a bounded pool that runs its blocking calls, with an async
/// gate in front (callers suspend in a FIFO queue; no thread waits for a free one).
///
/// Every libvirt call blocks its thread until libvirtd answers, so none may run on Swift's cooperative
/// threads or on GCD's shared workers (one slow host would starve everything else). Each connection has
/// its own threads, started on first use and at most `ConnectionState.requestsInFlight` of them, the
/// number of requests libvirtd serves a client at once: a slow or unreachable host holds only its own
/// threads, and the calls beyond the bound wait as suspended tasks, not as blocked threads.
final class LibvirtWorkers: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    private var closed = false
    private let limit: Int
    private let label: String

    init(label: String, threads limit: Int = ConnectionState.requestsInFlight) {
        precondition(limit > 0, "a pool needs a thread")
        self.limit = limit
        self.label = label
    }

    deinit {
        close()
    }

    /// Marks the pool's threads, so that code (and tests) can tell it runs on one.
    private static let poolKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether the calling thread is a thread of some connection's pool.
    static var onPoolThread: Bool {
        pthread_getspecific(poolKey) != nil
    }

    /// How many threads the pool has started (at most its limit).
    var threadCount: Int {
        condition.withLock { threads }
    }

    /// How many calls wait for a thread.
    var queuedCount: Int {
        condition.withLock { jobs.count - head }
    }

    /// Runs `body` on one of the pool's threads and returns its result; the caller suspends meanwhile.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            enqueue { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Lets the threads finish the queued work and exit; later work runs on a thread of its own.
    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    private func enqueue(_ job: @escaping Job) {
        let startThread: Bool = condition.withLock {
            if closed { return false }
            jobs.append(job)
            if idle > 0 {
                condition.signal()
                return false
            }
            guard threads < limit else { return false }
            threads += 1
            return true
        }
        if startThread {
            let thread = Thread { [self] in
                // Named from inside: on Linux a new thread otherwise keeps its creator's name.
                Thread.current.name = label
                pthread_setspecific(Self.poolKey, Unmanaged.passUnretained(self).toOpaque())
                work()
            }
            thread.stackSize = 4 << 20
            thread.start()
        } else if condition.withLock({ closed }) {
            // Closed (the connection is going away while a caller still had it): run the straggler anyway.
            Thread.detachNewThread(job)
        }
    }

    private func work() {
        while let job = next() { job() }
    }

    /// The next job, or nil once the pool is closed and drained.
    private func next() -> Job? {
        condition.withLock {
            while head == jobs.count {
                if closed {
                    threads -= 1
                    return nil
                }
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs[head]
            head += 1
            if head > 64, head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            return job
        }
    }
}
