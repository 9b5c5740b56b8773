import DriftlessCore
@testable import DriftlessLibvirt
import Foundation
import XCTest

/// `qemu-img info` runs under prlimit and a wall-clock limit: an image that makes it hang or spin is
/// refused, quickly, with a clear error. A stand-in tool plays the misbehaving qemu-img.
final class ImageInspectorTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = "/var/tmp/\(uniqueTestName("inspector"))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: directory + "/image"))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func tool(_ name: String, _ body: String) throws -> String {
        let path = "\(directory)/\(name)"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    func refusal(_ inspector: ImageInspector) async -> String {
        do {
            try await inspector.check(directory + "/image", declaredFormat: .qcow2, image: "Image hang")
            XCTFail("the image was accepted")
            return ""
        } catch {
            return "\(error)"
        }
    }

    func testAHangingInspectionIsKilledAtTheTimeLimit() async throws {
        let inspector = ImageInspector(tool: try tool("hang", "exec sleep 30"), timeLimit: .seconds(1))
        let started = ContinuousClock.now
        let refused = await refusal(inspector)
        XCTAssertEqual(refused, "Image hang: refused: qemu-img info did not finish within 1 s; refused as unsafe")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
    }

    func testASpinningInspectionStopsAtItsCPULimit() async throws {
        let inspector = ImageInspector(tool: try tool("spin", "while :; do :; done"), cpuSeconds: 1, timeLimit: .seconds(20))
        let started = ContinuousClock.now
        let refused = await refusal(inspector)
        XCTAssertEqual(refused, "Image hang: refused: qemu-img info used up its CPU limit of 1 s; refused as unsafe")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
    }

    func testTheLimitsAreTheDocumentedOnes() {
        let arguments = ImageInspector().arguments("/tmp/x", format: "qcow2")
        XCTAssertEqual(arguments, ["/usr/bin/prlimit", "--as=1073741824", "--cpu=30", "--", "/usr/bin/qemu-img",
                                   "info", "--output=json", "-f", "qcow2", "--", "/tmp/x"])
    }

    func testTheMemoryLimitApplies() async throws {
        // The stand-in reports its own address-space limit instead of image information.
        let inspector = ImageInspector(tool: try tool("limits", "ulimit -v >&2; exit 1"), memoryLimitBytes: 256 << 20)
        let refused = await refusal(inspector)
        XCTAssertTrue(refused.contains("cannot read it as qcow2: 262144"), refused)
    }
}
