import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The one way Driftless runs another program: swift-subprocess, with an argument list (never a shell),
/// standard output and error read together (neither pipe can fill up and block the child), and the child
/// killed when the calling task is cancelled.
public enum ChildProcess {
    /// A finished child: its exit status (128 + signal when a signal ended it) and its output.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// The signal that ended the child, nil when it exited.
        public var signal: Int32? = nil

        public var succeeded: Bool { status == 0 }
    }

    /// The child exited with a status other than 0 (`runChecked`).
    public struct Failure: Error, CustomStringConvertible {
        public var command: String
        public var output: Output

        public var description: String {
            "\(command) failed (\(output.status)): \(output.stderr.isEmpty ? output.stdout : output.stderr)"
        }
    }

    /// Runs `executable` (a path, or a name looked up in `PATH`) and collects its output, at most
    /// `outputLimit` bytes of each stream. `environment` is added to this process's environment, unless
    /// `inheritEnvironment` is false.
    public static func run(_ executable: String, _ arguments: [String] = [], in directory: String? = nil,
                           environment: [String: String] = [:], inheritEnvironment: Bool = true,
                           outputLimit: Int = 64 << 20) async throws -> Output {
        let program: Executable = executable.contains("/") ? .path(FilePath(executable)) : .name(executable)
        let env: Environment = inheritEnvironment
            ? .inherit.updating(Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value as String?) }))
            : .custom(Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) }))
        let result = try await Subprocess.run(
            program, arguments: Arguments(arguments), environment: env, workingDirectory: directory.map { FilePath($0) },
            output: .string(limit: outputLimit), error: .string(limit: outputLimit))
        let (status, signal): (Int32, Int32?) = switch result.terminationStatus {
        case let .exited(code): (code, nil)
        case let .signaled(signal): (128 + signal, signal)
        }
        return Output(status: status, stdout: result.standardOutput ?? "", stderr: result.standardError ?? "", signal: signal)
    }

    /// `run`, throwing `Failure` unless the child exits 0.
    @discardableResult
    public static func runChecked(_ executable: String, _ arguments: [String] = [], in directory: String? = nil,
                                  environment: [String: String] = [:], inheritEnvironment: Bool = true) async throws -> Output {
        let output = try await run(executable, arguments, in: directory, environment: environment, inheritEnvironment: inheritEnvironment)
        guard output.succeeded else { throw Failure(command: ([executable] + arguments).joined(separator: " "), output: output) }
        return output
    }

    /// `run` for synchronous callers that are not on Swift's cooperative threads: a libvirt call on its
    /// worker thread, XCTest's synchronous tests on the main thread, a benchmark's main. The child's task
    /// prefers a thread of its own (`ProcessThread`), but swift-subprocess also starts unstructured tasks on
    /// the cooperative pool: called from there (a Swift Testing test, an actor), enough blocked callers
    /// deadlock the pool (seen with two parallel tests on two cores). Async code calls `run`.
    public static func runBlocking(_ executable: String, _ arguments: [String] = [], in directory: String? = nil,
                                   environment: [String: String] = [:], inheritEnvironment: Bool = true,
                                   outputLimit: Int = 64 << 20) throws -> Output {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        Task(executorPreference: ProcessThread.shared) {
            do {
                box.result = .success(try await run(executable, arguments, in: directory, environment: environment,
                                                    inheritEnvironment: inheritEnvironment, outputLimit: outputLimit))
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        return try box.take()
    }

    /// `runBlocking`, throwing `Failure` unless the child exits 0.
    @discardableResult
    public static func runBlockingChecked(_ executable: String, _ arguments: [String] = [], in directory: String? = nil,
                                          environment: [String: String] = [:], inheritEnvironment: Bool = true) throws -> Output {
        let output = try runBlocking(executable, arguments, in: directory, environment: environment, inheritEnvironment: inheritEnvironment)
        guard output.succeeded else { throw Failure(command: ([executable] + arguments).joined(separator: " "), output: output) }
        return output
    }

    /// Where a background child's standard output or error goes: nowhere, or a file (created, or emptied).
    /// Never a pipe: a daemon the child leaves behind would hold it open, and nothing would ever read it.
    public enum Sink: Sendable {
        case discarded
        case file(String)

        func open() throws -> FileDescriptor {
            switch self {
            case .discarded: try FileDescriptor.open("/dev/null", .writeOnly)
            case let .file(path): try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
            }
        }
    }

    /// How a background child ended: its exit status (128 + signal when a signal ended it), or 127 when
    /// it could not be started.
    public struct Exit: Sendable, Equatable {
        public var status: Int32
        /// The signal that ended the child, nil when it exited.
        public var signal: Int32?
    }

    /// The child could not be started (`startChecked`).
    public struct CannotStart: Error, CustomStringConvertible {
        public var command: String
        public var reason: String

        public var description: String { "cannot start \(command): \(reason)" }
    }

    /// Starts a long-running child (a test server, a lock holder, a `driftless serve`) and returns once
    /// it runs, standard input from /dev/null and its output where `output` and `error` say. `environment`
    /// is added to this process's environment. Cancelling the handle's task, `stop()` or `kill()` kills it;
    /// `wait()` waits until it exits by itself. swift-subprocess waits on the child's pid, never on its
    /// descriptors, so a daemon the child starts cannot make the wait hang.
    public static func start(_ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
                             output stdout: Sink = .discarded, error stderr: Sink = .discarded) async -> Background {
        let program: Executable = executable.contains("/") ? .path(FilePath(executable)) : .name(executable)
        let env: Environment = .inherit.updating(Dictionary(uniqueKeysWithValues: environment.map {
            (Environment.Key(stringLiteral: $0.key), $0.value as String?)
        }))
        let (started, signal) = AsyncStream.makeStream(of: Result<pid_t, CannotStart>.self, bufferingPolicy: .bufferingNewest(1))
        let exit = ExitBox()
        let command = ([executable] + arguments).joined(separator: " ")
        let task = Task<Exit, Never> {
            var told = false
            let ended: Exit
            do {
                let out = try stdout.open()
                let err: FileDescriptor
                do { err = try stderr.open() } catch {
                    try? out.close()
                    throw error
                }
                let result = try await Subprocess.run(
                    program, arguments: Arguments(arguments), environment: env, input: .none,
                    output: .fileDescriptor(out, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(err, closeAfterSpawningProcess: true)
                ) { execution in
                    told = true
                    signal.yield(.success(execution.processIdentifier.value))
                    // Returning lets swift-subprocess wait for the exit; cancelling this task kills the child.
                }
                ended = switch result.terminationStatus {
                case let .exited(code): Exit(status: code, signal: nil)
                case let .signaled(number): Exit(status: 128 + number, signal: number)
                }
            } catch {
                if !told { signal.yield(.failure(CannotStart(command: command, reason: "\(error)"))) }
                ended = Exit(status: 127, signal: nil)
            }
            signal.finish()
            exit.set(ended)
            return ended
        }
        var outcome: Result<pid_t, CannotStart> = .failure(CannotStart(command: command, reason: "cancelled"))
        for await value in started {
            outcome = value
            break
        }
        return switch outcome {
        case let .success(pid): Background(task: task, exit: exit, pid: pid, failure: nil)
        case let .failure(failure): Background(task: task, exit: exit, pid: nil, failure: failure)
        }
    }

    /// `start`, throwing `CannotStart` when the child could not be started.
    public static func startChecked(_ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
                                    output: Sink = .discarded, error: Sink = .discarded) async throws -> Background {
        let child = await start(executable, arguments, environment: environment, output: output, error: error)
        if let failure = child.failure { throw failure }
        return child
    }

    /// `startChecked` for synchronous callers that are not on Swift's cooperative threads (the rules of
    /// `runBlocking`): XCTest's synchronous tests on the main thread.
    public static func startBlocking(_ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
                                     output: Sink = .discarded, error: Sink = .discarded) throws -> Background {
        let done = DispatchSemaphore(value: 0)
        let box = BackgroundBox()
        Task(executorPreference: ProcessThread.shared) {
            box.value = await start(executable, arguments, environment: environment, output: output, error: error)
            done.signal()
        }
        done.wait()
        guard let child = box.value else { throw CancellationError() }
        if let failure = child.failure { throw failure }
        return child
    }

    /// A child started by `start`.
    public struct Background: Sendable {
        let task: Task<Exit, Never>
        let exit: ExitBox
        /// Its process id, nil when it could not be started.
        public let pid: pid_t?
        /// Why it could not be started.
        public let failure: CannotStart?

        /// How it ended, nil while it runs.
        public var exited: Exit? { exit.value }

        /// Waits until the child exits (by itself, or by a signal sent with `send`) and is reaped.
        public func wait() async -> Exit {
            await task.value
        }

        /// `wait` for synchronous callers (any thread: the wait is on a condition, not on a task).
        public func waitBlocking() -> Exit {
            exit.wait()
        }

        /// Sends `signal` to the child while it runs (SIGTERM for a graceful stop); `wait` tells how it ended.
        public func send(_ signal: Int32) {
            if let pid, exit.value == nil { _ = Foundation.kill(pid, signal) }
        }

        /// Kills the child (SIGKILL) and waits until it is reaped.
        public func stop() async {
            send(SIGKILL)
            task.cancel()
            _ = await task.value
        }

        /// Kills the child without waiting (for `defer` in synchronous code).
        public func kill() {
            send(SIGKILL)
            task.cancel()
        }
    }
}

/// A background child's exit, set once by its task and read from any thread.
final class ExitBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var stored: ChildProcess.Exit?

    var value: ChildProcess.Exit? {
        condition.lock()
        defer { condition.unlock() }
        return stored
    }

    func set(_ exit: ChildProcess.Exit) {
        condition.lock()
        stored = exit
        condition.broadcast()
        condition.unlock()
    }

    func wait() -> ChildProcess.Exit {
        condition.lock()
        defer { condition.unlock() }
        while stored == nil { condition.wait() }
        return stored!
    }
}

final class BackgroundBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: ChildProcess.Background?

    var value: ChildProcess.Background? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Result<ChildProcess.Output, any Error>?

    var result: Result<ChildProcess.Output, any Error>? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }

    func take() throws -> ChildProcess.Output {
        guard let result else { throw CancellationError() }
        return try result.get()
    }
}

/// A task executor on one thread of its own, for the tasks that run children on behalf of synchronous
/// callers.
final class ProcessThread: TaskExecutor, @unchecked Sendable {
    static let shared = ProcessThread()

    private let queue = DispatchQueue(label: "driftless.process")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
