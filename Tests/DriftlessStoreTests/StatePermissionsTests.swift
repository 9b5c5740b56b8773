import DriftlessStore
import Foundation
import Testing

/// The state directory holds token hashes, history and the journal: it is private, and so is every file.
@Suite("State directory permissions")
struct StatePermissionsTests {
    func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test func directoryIs0700AndEveryFile0600() throws {
        let directory = NSTemporaryDirectory() + "driftless-perm-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(stateDirectory: directory)
        try store.saveAllocations([])
        let lock = try StateLock(stateDirectory: directory, command: "test")
        #expect(mode(directory) == 0o700)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(files.contains("driftless.sqlite") && files.contains("driftless.lock"), "\(files)")
        for file in files {
            #expect(mode(directory + "/" + file) == 0o600, "\(file) is \(String(mode(directory + "/" + file), radix: 8))")
        }
        lock.release()
    }

    @Test func anExistingLooseDirectoryAndDatabaseAreTightened() throws {
        let directory = NSTemporaryDirectory() + "driftless-perm-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        _ = try Store(stateDirectory: directory)
        chmod(directory + "/driftless.sqlite", 0o644)
        _ = try Store(stateDirectory: directory)
        #expect(mode(directory) == 0o700)
        #expect(mode(directory + "/driftless.sqlite") == 0o600)
    }

    @Test func aLockFileThatIsASymlinkIsRefused() throws {
        let directory = NSTemporaryDirectory() + "driftless-perm-\(UUID().uuidString)"
        let victim = NSTemporaryDirectory() + "driftless-victim-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory); unlink(victim) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "keep me".write(toFile: victim, atomically: true, encoding: .utf8)
        chmod(victim, 0o644)
        try FileManager.default.createSymbolicLink(atPath: directory + "/driftless.lock", withDestinationPath: victim)
        #expect(throws: StateLock.Failure.self) { try StateLock(stateDirectory: directory, command: "test") }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me", "the link's target was written")
        #expect(mode(victim) == 0o644, "the link's target was chmod-ed")
    }
}

/// Two commands started at once on a new state directory both open the store: one migrates, the
/// other waits and finds the schema current (CI saw "duplicate column name" from the second).
@Suite("Store opening")
struct StoreOpeningTests {
    @Test func manyOpensAtOnceOnANewDirectoryAllSucceed() async throws {
        for round in 0..<5 {
            let directory = NSTemporaryDirectory() + "driftless-open-\(round)-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let failures = await withTaskGroup(of: String?.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        // Each on its own thread so the opens really overlap.
                        await withCheckedContinuation { continuation in
                            Thread.detachNewThread {
                                do {
                                    let store = try Store(stateDirectory: directory)
                                    try store.saveAllocations([])
                                    continuation.resume(returning: nil)
                                } catch {
                                    continuation.resume(returning: "\(error)")
                                }
                            }
                        }
                    }
                }
                var failures: [String] = []
                for await failure in group { if let failure { failures.append(failure) } }
                return failures
            }
            #expect(failures.isEmpty, "round \(round): \(failures)")
        }
    }
}
