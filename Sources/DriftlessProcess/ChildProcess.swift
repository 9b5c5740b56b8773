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

    /// Starts a long-running child (a test server, a lock holder) and returns once it runs; cancelling
    /// the handle's task, or `stop()`, kills it.
    public static func start(_ executable: String, _ arguments: [String] = []) async -> Background {
        let program: Executable = executable.contains("/") ? .path(FilePath(executable)) : .name(executable)
        let (started, signal) = AsyncStream.makeStream(of: Optional<pid_t>.self, bufferingPolicy: .bufferingNewest(1))
        let task = Task {
            var told = false
            _ = try? await Subprocess.run(program, arguments: Arguments(arguments), input: .none, output: .discarded, error: .discarded) { execution in
                told = true
                signal.yield(execution.processIdentifier.value)
                // Lives until the task is cancelled; the cancellation kills the child.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            }
            if !told { signal.yield(nil) }
            signal.finish()
        }
        var pid: pid_t?
        for await value in started {
            pid = value
            break
        }
        return Background(task: task, pid: pid)
    }

    /// A child started by `start`.
    public struct Background: Sendable {
        let task: Task<Void, Never>
        /// Its process id, nil when it could not be started.
        public let pid: pid_t?

        /// Kills the child (SIGKILL) and waits until it is reaped.
        public func stop() async {
            if let pid { _ = Foundation.kill(pid, SIGKILL) }
            task.cancel()
            await task.value
        }

        /// Kills the child without waiting (for `defer` in synchronous code).
        public func kill() {
            if let pid { _ = Foundation.kill(pid, SIGKILL) }
            task.cancel()
        }
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

final class PIDBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: pid_t?

    var value: pid_t? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
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
