import DriftlessCore
@testable import DriftlessFetch
import Foundation
import XCTest

/// `path:` sources are opened only as regular files under the operator's directories, without following
/// any symbolic link, never from the state directory, /proc, /sys or /dev.
final class ConfinedFileTests: XCTestCase {
    var root = ""
    var images: String { root + "/images" }
    var state: String { root + "/state" }
    var policy: ImagePathPolicy { ImagePathPolicy(directories: [images, root + "/wide"], stateDirectory: state) }

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dlt-fetch-\(UUID().uuidString.prefix(8))"
        for directory in [images, state, images + "/sub", root + "/wide", root + "/elsewhere"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try Data("good image".utf8).write(to: URL(fileURLWithPath: images + "/good.img"))
        try Data("nested".utf8).write(to: URL(fileURLWithPath: images + "/sub/nested.img"))
        try Data("secret state".utf8).write(to: URL(fileURLWithPath: state + "/driftless.sqlite"))
        try Data("outside".utf8).write(to: URL(fileURLWithPath: root + "/elsewhere/outside.img"))
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: images + "/shadow", withDestinationPath: "/etc/shadow")
        try fm.createSymbolicLink(atPath: images + "/etc", withDestinationPath: "/etc")
        try fm.createSymbolicLink(atPath: images + "/inside-link.img", withDestinationPath: images + "/good.img")
        try fm.createSymbolicLink(atPath: images + "/statelink", withDestinationPath: state)
        XCTAssertEqual(mkfifo(images + "/fifo", 0o600), 0)
        // A character device like /dev/zero inside the allowed directory (root may make one).
        if getuid() == 0 { XCTAssertEqual(mknod(images + "/zero", S_IFCHR | 0o600, dev_t((1 << 8) | 5)), 0) }
        // The state database, hard-linked into the allowed directory.
        XCTAssertEqual(link(state + "/driftless.sqlite", images + "/hardlinked.img"), 0)
        // The wide directory holds the state directory through a symlink: still not readable.
        try fm.createSymbolicLink(atPath: root + "/wide/state", withDestinationPath: state)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    func refusal(_ path: String, policy: ImagePathPolicy? = nil, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let opened = try ConfinedFile.open(path, policy: policy ?? self.policy)
            close(opened.descriptor)
            XCTFail("\(path) was opened", file: file, line: line)
            return ""
        } catch let error as ImageSourceError {
            return error.description
        } catch {
            XCTFail("\(path): \(error)", file: file, line: line)
            return ""
        }
    }

    func testGoodFilesInsideOpen() throws {
        for (path, contents) in [(images + "/good.img", "good image"), (images + "/sub/nested.img", "nested")] {
            let opened = try ConfinedFile.open(path, policy: policy)
            defer { close(opened.descriptor) }
            XCTAssertEqual(opened.size, Int64(contents.utf8.count))
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = read(opened.descriptor, &buffer, buffer.count)
            XCTAssertEqual(String(decoding: buffer.prefix(max(0, n)), as: UTF8.self), contents)
        }
    }

    /// The table of hostile paths: each refused, with the reason in the message.
    func testHostilePathsAreRefused() {
        var cases: [(String, String)] = [
            (images + "/shadow", "is a symbolic link, which is never followed"),
            (images + "/etc/shadow", "/etc is a symbolic link, which is never followed"),
            (images + "/inside-link.img", "is a symbolic link"),
            (images + "/statelink/driftless.sqlite", "/statelink is a symbolic link"),
            (images + "/../state/driftless.sqlite", "contains a \".\" or \"..\" component"),
            (images + "/fifo", "it is a FIFO, not a regular file"),
            ("/dev/zero", "is under /dev, which is never read"),
            ("/proc/self/environ", "is under /proc, which is never read"),
            ("/etc/shadow", "is outside the allowed image directories"),
            (state + "/driftless.sqlite", "is inside the state directory"),
            (root + "/wide/state/driftless.sqlite", "is a symbolic link"),
            (root + "/elsewhere/outside.img", "is outside the allowed image directories"),
            (images + "/hardlinked.img", "it is a file of the state directory"),
            (images + "/sub", "it is a directory, not a regular file"),
            (images + "/missing.img", "cannot read image path"),
            ("relative.img", "is not absolute"),
        ]
        if getuid() == 0 { cases.append((images + "/zero", "it is a character device, not a regular file")) }
        for (path, expected) in cases {
            let message = refusal(path)
            XCTAssertTrue(message.contains(expected), "\(path): \(message)")
            XCTAssertTrue(message.contains(path), "the message names the path: \(message)")
        }
    }

    /// The state directory inside an allowed directory: its files are still refused, by text and by the
    /// kernel's name for the opened file.
    func testStateDirectoryInsideAnAllowedDirectory() throws {
        let wide = ImagePathPolicy(directories: [root], stateDirectory: state)
        XCTAssertTrue(refusal(state + "/driftless.sqlite", policy: wide).contains("inside the state directory"))
        do {
            close(try ConfinedFile.open(images + "/good.img", policy: wide).descriptor)
        } catch {
            XCTFail("\(error)")
        }
        // An image directory inside the state directory that links back to the state directory itself.
        let back = state + "/images-link"
        try FileManager.default.createSymbolicLink(atPath: back, withDestinationPath: state)
        let looped = ImagePathPolicy(directories: [back], stateDirectory: state)
        let message = refusal(back + "/driftless.sqlite", policy: looped)
        XCTAssertTrue(message.contains("state directory"), message)
    }

    /// The operator's own directory may be a symbolic link; the manifest may name either form.
    func testTheOperatorsDirectoryMayBeALink() throws {
        let linked = root + "/linked-images"
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: images)
        let operatorPolicy = ImagePathPolicy(directories: [linked], stateDirectory: state)
        for path in [linked + "/good.img", images + "/good.img"] {
            let opened = try ConfinedFile.open(path, policy: operatorPolicy)
            close(opened.descriptor)
        }
    }

    /// Opened descriptors are checked where they are: a procfs file is refused even when the text check
    /// was passed (here by calling the descriptor check directly).
    func testKernelFileSystemsAreRefusedOnTheDescriptor() throws {
        let fd = open("/proc/self/environ", O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertThrowsError(try ConfinedFile.checkOpened(fd, path: "/x", policy: ImagePathPolicy(directories: ["/"], stateDirectory: nil))) {
            XCTAssertTrue("\($0)".contains("proc file system") || "\($0)".contains("/proc"), "\($0)")
        }
    }

    /// Staging a path copies and hashes it; a mismatch is the caller's to report.
    func testStagingAPathHashesItAndRefusesOversizedFiles() async throws {
        let stager = ImageStager(paths: policy)
        let staged = try await stager.stage(.path(images + "/good.img"))
        defer { try? FileManager.default.removeItem(at: staged.file) }
        XCTAssertEqual(staged.sha256, StableHash.sha256Hex("good image"))
        XCTAssertEqual(try Data(contentsOf: staged.file), Data("good image".utf8))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: staged.file.path)[.posixPermissions] as? Int, 0o600)

        let small = ImageStager(paths: policy, download: .init(maxBytes: 4))
        do {
            _ = try await small.stage(.path(images + "/good.img"))
            XCTFail("a file above the limit was staged")
        } catch let error as ImageSourceError {
            XCTAssertEqual(error, .tooLarge(source: images + "/good.img", limit: 4, declared: 10))
        }
    }
}
