import DriftlessLibvirt
import DriftlessTesting
import Foundation
import XCTest

/// Integration tests against a real `libvirtd` on `qemu:///system` with software-emulated QEMU.
///
/// They need the daemon (start it with `scripts/start-libvirt.sh`, as root). Without its
/// socket they fail with a message saying so, unless `DRIFTLESS_SKIP_LIBVIRT_TESTS=1`
/// skips them explicitly. Everything they create is named `dlt-test-<random>-…` and
/// removed afterwards, also when a test fails half-way.
final class QemuSystemIntegrationTests: XCTestCase {
    private let uri = "qemu:///system"
    private static let socket = "/var/run/libvirt/libvirt-sock"
    private var prefix = ""
    private var poolDirectory: URL?

    private struct DaemonMissing: Error, CustomStringConvertible {
        var description: String {
            "libvirtd is not running (\(QemuSystemIntegrationTests.socket) is absent): run scripts/start-libvirt.sh "
                + "as root, or set DRIFTLESS_SKIP_LIBVIRT_TESTS=1 to skip these tests explicitly"
        }
    }

    override func setUpWithError() throws {
        if ProcessInfo.processInfo.environment["DRIFTLESS_SKIP_LIBVIRT_TESTS"] == "1" {
            throw XCTSkip("DRIFTLESS_SKIP_LIBVIRT_TESTS=1")
        }
        guard FileManager.default.fileExists(atPath: Self.socket) else { throw DaemonMissing() }
        prefix = uniqueTestName()
    }

    override func tearDownWithError() throws {
        guard !prefix.isEmpty else { return }
        // Best-effort removal from outside, whatever state the test left.
        let virsh = ["virsh", "-q", "-c", uri]
        let domains = try runCommandBlocking(virsh + ["list", "--all", "--name"]).stdout
        for name in domains.split(separator: "\n").map(String.init) where name.hasPrefix(prefix) {
            try runCommandBlocking(virsh + ["destroy", name])
            try runCommandBlocking(virsh + ["undefine", name, "--nvram"])
        }
        let pools = try runCommandBlocking(virsh + ["pool-list", "--all", "--name"]).stdout
        for name in pools.split(separator: "\n").map(String.init) where name.hasPrefix(prefix) {
            let volumes = try runCommandBlocking(virsh + ["vol-list", name, "--name"]).stdout
            for volume in volumes.split(separator: "\n") where !volume.isEmpty {
                try runCommandBlocking(virsh + ["vol-delete", String(volume), "--pool", name])
            }
            try runCommandBlocking(virsh + ["pool-destroy", name])
            try runCommandBlocking(virsh + ["pool-delete", name])
            try runCommandBlocking(virsh + ["pool-undefine", name])
        }
        if let poolDirectory { try? FileManager.default.removeItem(at: poolDirectory) }
        // libvirt keeps a per-domain QEMU log; drop ours.
        let logs = URL(fileURLWithPath: "/var/log/libvirt/qemu")
        for file in (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? [] where file.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: logs.appendingPathComponent(file))
        }
    }

    private func virsh(_ arguments: String...) async throws -> CommandResult {
        try await runCommand(["virsh", "-q", "-c", uri] + arguments)
    }

    private func qemuProcessRuns(for name: String) async throws -> Bool {
        // QEMU's command line carries `-name guest=<name>,…`.
        try await runCommand(["pgrep", "-f", "qemu-system.*guest=\(name)"]).status == 0
    }

    /// Makes a started dir pool under the temporary directory.
    private func makePool(_ connection: LibvirtConnection) throws -> LibvirtStoragePool {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-pool")
        poolDirectory = directory
        let pool = try connection.defineStoragePool(StoragePoolXML(name: "\(prefix)-pool", path: directory.path))
        try pool.build()
        try pool.create()
        return pool
    }

    func testDomainOnRealQemuFromDefinitionToRemoval() async throws {
        let connection = try LibvirtConnection(uri: uri)
        XCTAssertTrue(connection.isAlive)
        XCTAssertFalse(try connection.hostname().isEmpty)
        XCTAssertGreaterThan(try connection.nodeInfo().cpus, 0)
        let events = try connection.domainEvents()

        // Storage: a dir pool in a temp folder and a 64 MiB qcow2 volume.
        let pool = try makePool(connection)
        XCTAssertEqual(try pool.info().state, .running)
        let seen1 = try await virsh("pool-list", "--all", "--name")
        XCTAssertTrue(seen1.stdout.contains("\(prefix)-pool"))
        let disk = try pool.createVolume(StorageVolumeXML(name: "root.qcow2", capacity: 64 << 20, format: .qcow2))
        let diskPath = try disk.path()
        XCTAssertEqual(diskPath, poolDirectory?.appendingPathComponent("root.qcow2").path)
        XCTAssertEqual(try disk.info().capacity, 64 << 20)
        let seen2 = try await virsh("vol-list", "\(prefix)-pool")
        XCTAssertTrue(seen2.stdout.contains("root.qcow2"))
        let imageInfo = try await runCommand(["qemu-img", "info", "--force-share", diskPath]).stdout
        XCTAssertTrue(imageInfo.contains("file format: qcow2"), imageInfo)

        // Compute: a software-emulated domain using that disk, owned by Driftless.
        let name = "\(prefix)-vm"
        let record = DriftlessMetadata(kind: "Instance", project: "shop", name: "web-1", specHash: "h1", commit: "c1")
        let spec = DomainXML(
            type: .qemu, name: name, memoryKiB: 96 * 1024, vcpus: 1, maxVcpus: 2,
            disks: [.init(path: diskPath, format: .qcow2, target: "vda")],
            metadata: record
        )
        let domain = try connection.defineDomain(spec)
        XCTAssertEqual(try domain.info().state, .shutoff)
        try domain.create()
        XCTAssertEqual(try domain.info().state, .running)

        // Seen from outside: virsh and a real QEMU process.
        let seen3 = try await virsh("domstate", name)
        XCTAssertEqual(seen3.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "running")
        let dominfo = try await virsh("dominfo", name).stdout
        XCTAssertTrue(dominfo.contains(name), dominfo)
        XCTAssertTrue(dominfo.contains(try domain.uuidString()), dominfo)
        let seen4 = try await qemuProcessRuns(for: name)
        XCTAssertTrue(seen4, "no qemu-system process for \(name)")
        let dumped = try await virsh("dumpxml", name).stdout
        XCTAssertTrue(dumped.contains("https://driftless.dev/xmlns/libvirt/1"), dumped)
        XCTAssertTrue(dumped.contains(diskPath), dumped)

        // Read back through our parser from the live XML.
        let live = try domain.definition()
        XCTAssertEqual(live.type, .qemu)
        XCTAssertEqual(live.memoryKiB, 96 * 1024)
        XCTAssertEqual(live.disks, spec.disks)
        XCTAssertEqual(live.metadata, record)
        XCTAssertEqual(try domain.driftlessMetadata(.live), record)

        // Changes: metadata on both definitions, memory and vCPUs for the next boot.
        var updated = record
        updated.commit = "c2"
        try domain.setDriftlessMetadata(updated, [.live, .config])
        XCTAssertEqual(try domain.driftlessMetadata(.config), updated)
        let seen5 = try await virsh("dumpxml", name, "--inactive")
        XCTAssertTrue(seen5.stdout.contains("<driftless:commit>c2</driftless:commit>"))
        try domain.setMemory(kibibytes: 80 * 1024, .config)
        try domain.setVcpus(2, .config)
        let next = try domain.definition(.inactive)
        XCTAssertEqual(next.vcpus, 2)
        let seen6 = try await virsh("dumpxml", name, "--inactive")
        XCTAssertTrue(seen6.stdout.contains("<currentMemory unit='KiB'>81920</currentMemory>"))

        // A second disk in the next-boot definition (the test driver has no attach/detach).
        let data = try pool.createVolume(StorageVolumeXML(name: "data.raw", capacity: 1 << 20, format: .raw))
        let dataDisk = """
        <disk type='file' device='disk'><driver name='qemu' type='raw'/>\
        <source file='\(try data.path())'/><target dev='vdb' bus='virtio'/></disk>
        """
        try domain.attachDevice(xml: dataDisk, .config)
        XCTAssertEqual(try domain.definition(.inactive).disks.map(\.target), ["vda", "vdb"])
        XCTAssertEqual(try domain.definition().disks.map(\.target), ["vda"], "the running domain is unchanged")
        try domain.detachDevice(xml: dataDisk, .config)
        XCTAssertEqual(try domain.definition(.inactive).disks.map(\.target), ["vda"])
        try data.delete()

        // The qemu driver reports starting a running domain as operationInvalid.
        let again = assertLibvirtError(try domain.create())
        XCTAssertEqual(again?.code, .operationInvalid, "\(String(describing: again))")

        // Stop and remove; then it is gone from libvirt and the process table.
        try domain.destroy()
        XCTAssertEqual(try domain.info().state, .shutoff)
        let qemuGone = try await eventually { try await !qemuProcessRuns(for: name) }
        XCTAssertTrue(qemuGone, "QEMU still runs after destroy")
        try domain.undefine(.all)
        XCTAssertNil(try connection.domainIfPresent(name: name))
        let seen7 = try await virsh("dominfo", name)
        XCTAssertNotEqual(seen7.status, 0)
        let missing = assertLibvirtError(try connection.lookupDomain(name: name))
        XCTAssertEqual(missing?.code, .noDomain)
        XCTAssertEqual(missing?.isNotFound, true)

        // The real daemon delivered lifecycle events for all of it.
        let received = await collectEvents(from: events) { events in
            events.contains { $0.name == name && $0.kind == .undefined }
        }.filter { $0.name == name }
        let kinds = received.map(\.kind)
        XCTAssertEqual(kinds.first, .defined, "\(received)")
        XCTAssertTrue(kinds.contains(.started), "\(received)")
        XCTAssertTrue(received.contains { $0.kind == .stopped && $0.detail == .destroyed }, "\(received)")
        XCTAssertEqual(kinds.last, .undefined, "\(received)")

        try disk.delete()
        let seen8 = try await virsh("vol-list", "\(prefix)-pool")
        XCTAssertFalse(seen8.stdout.contains("root.qcow2"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: diskPath))
        try pool.destroy()
        try pool.delete()
        try pool.undefine()
        let seen9 = try await virsh("pool-list", "--all", "--name")
        XCTAssertFalse(seen9.stdout.contains("\(prefix)-pool"))
    }

    func testVolumeUploadResizeAndClone() throws {
        let connection = try LibvirtConnection(uri: uri)
        let pool = try makePool(connection)
        let volume = try pool.createVolume(StorageVolumeXML(name: "blob.raw", capacity: 1 << 20, format: .raw))

        // 1 MiB + a bit, sent in odd-sized chunks, from memory and from a file.
        let pattern = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try volume.upload(pattern, chunkSize: 100_000)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: volume.path())).prefix(pattern.count), pattern)

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-upload.bin")
        defer { try? FileManager.default.removeItem(at: file) }
        let fileContent = Data(pattern.reversed().prefix(300_000))
        try fileContent.write(to: file)
        try volume.upload(contentsOf: file, offset: 4096, chunkSize: 65_536)
        let onDisk = try Data(contentsOf: URL(fileURLWithPath: volume.path()))
        XCTAssertEqual(onDisk.prefix(4096), pattern.prefix(4096))
        XCTAssertEqual(onDisk.dropFirst(4096).prefix(fileContent.count), fileContent)

        try volume.resize(capacity: 2 << 20)
        try pool.refresh()
        XCTAssertEqual(try volume.info().capacity, 2 << 20)

        let clone = try pool.createVolume(StorageVolumeXML(name: "copy.raw", capacity: 2 << 20, format: .raw),
                                          cloning: volume)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: clone.path())).prefix(onDisk.count), onDisk)
        XCTAssertEqual(Set(try pool.listAllVolumes().map { try $0.name() }), ["blob.raw", "copy.raw"])

        // Uploading into a volume deleted out of band fails as "not found" and leaves the
        // connection usable (the half-opened stream is aborted and freed).
        try runCommandBlocking(["virsh", "-q", "-c", uri, "vol-delete", "copy.raw", "--pool", "\(prefix)-pool"])
        let gone = assertLibvirtError(try clone.upload(Data(count: 1024)))
        XCTAssertEqual(gone?.code, .noStorageVol, "\(String(describing: gone))")
        XCTAssertEqual(gone?.isConnectionLost, false)
        XCTAssertNoThrow(try volume.upload(Data([42])), "the connection stays usable after a failed upload")

        try volume.delete()
        XCTAssertTrue(try pool.listAllVolumes().isEmpty)
    }

    /// On a test bed host, whose libvirtd only this test stops.
    func testStoppedDaemonIsReportedAsConnectionLost() throws {
        let host = try TestBedHost.require("tb1")
        let uri = host.libvirtURI
        let connection = try LibvirtConnection(uri: uri)
        XCTAssertNoThrow(try connection.ping())
        defer {
            // Bring the daemon back for whoever runs next, and check it answers.
            XCTAssertNoThrow(try host.start("libvirtd"))
            XCTAssertNoThrow(try LibvirtConnection(uri: uri).ping())
        }

        try host.stop("libvirtd")
        XCTAssertTrue(waitUntil { !connection.isAlive }, "the close callback did not report the closed connection")
        XCTAssertNotNil(connection.closeReason)

        let error = assertLibvirtError(try connection.listAllDomains())
        XCTAssertEqual(error?.isConnectionLost, true, "\(String(describing: error))")
        XCTAssertEqual(error?.isNotFound, false)
        XCTAssertTrue(error?.description.contains("unreachable") ?? false, "\(String(describing: error))")
        XCTAssertTrue(error?.description.contains(redactLibvirtURI(uri)) ?? false, "\(String(describing: error))")

        // A new connection fails the same way while the daemon is down.
        let open = assertLibvirtError(try LibvirtConnection(uri: uri))
        XCTAssertEqual(open?.isConnectionLost, true, "\(String(describing: open))")
        XCTAssertEqual(open?.isNotFound, false)
    }
}
