import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

extension DomainXML {
    /// Reads the managed fields back from domain XML (`virDomainGetXMLDesc` output or our own).
    ///
    /// Unknown domain types other than `kvm` read as `qemu`; disks without a file or
    /// block source and non-bridge interfaces are skipped; the Driftless metadata is
    /// found by namespace URI, whatever prefix libvirt wrote.
    public init(parsing xml: String) throws {
        let root = try parseXMLRoot(xml, expecting: "domain")
        guard let name = root.childText("name"), !name.isEmpty else { throw XMLParseError("domain XML has no <name>") }
        guard let memoryElement = root.child("memory"), let memoryText = memoryElement.stringValue else {
            throw XMLParseError("domain XML has no <memory>")
        }
        let memoryBytes = try bytes(fromLibvirtValue: memoryText, unit: memoryElement.attribute("unit"), defaultUnit: "KiB")
        guard let vcpuElement = root.child("vcpu"), let vcpuText = vcpuElement.stringValue,
              let maxVcpus = Int(vcpuText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw XMLParseError("domain XML has no valid <vcpu>")
        }
        let currentVcpus = vcpuElement.attribute("current").flatMap { Int($0) } ?? maxVcpus

        let osType = root.child("os")?.child("type")
        let devices = root.child("devices")
        let disks = (devices?.elements(forName: "disk") ?? []).compactMap(Self.disk(from:))
        let interfaces = (devices?.elements(forName: "interface") ?? []).compactMap(Self.interface(from:))

        var metadata: DriftlessMetadata?
        // Match by namespace URI and local name: libvirt may rewrite the prefix.
        let ours = (root.child("metadata")?.children ?? []).first {
            $0.localName == DriftlessMetadata.elementName && $0.uri == DriftlessMetadata.namespace
        }
        if let ours {
            metadata = try DriftlessMetadata(element: ours)
        }

        var current: UInt64?
        if let element = root.child("currentMemory"), let text = element.stringValue {
            let bytes = try bytes(fromLibvirtValue: text, unit: element.attribute("unit"), defaultUnit: "KiB")
            if bytes / 1024 != memoryBytes / 1024 { current = bytes / 1024 }
        }
        self.init(
            type: root.attribute("type") == VirtType.kvm.rawValue ? .kvm : .qemu,
            name: name,
            uuid: root.childText("uuid"),
            memoryKiB: memoryBytes / 1024,
            vcpus: currentVcpus,
            maxVcpus: maxVcpus == currentVcpus ? nil : maxVcpus,
            osType: osType?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "hvm",
            arch: osType?.attribute("arch"),
            machine: osType?.attribute("machine"),
            disks: disks,
            interfaces: interfaces,
            serialConsole: devices?.elements(forName: "serial").contains { $0.attribute("type") == "pty" } ?? false,
            metadata: metadata
        )
        currentMemoryKiB = current
    }

    private static func disk(from element: ParsedElement) -> Disk? {
        guard let source = element.child("source"),
              let path = source.attribute("file") ?? source.attribute("dev"),
              let target = element.child("target")?.attribute("dev") else { return nil }
        let device = Disk.Device(rawValue: element.attribute("device") ?? "disk") ?? .disk
        return Disk(
            path: path,
            format: Disk.Format(rawValue: element.child("driver")?.attribute("type") ?? "raw") ?? .raw,
            target: target,
            bus: Disk.Bus(rawValue: element.child("target")?.attribute("bus") ?? "virtio") ?? .virtio,
            device: device,
            readOnly: element.child("readonly") != nil,
            serial: element.child("serial")?.stringValue
        )
    }

    private static func interface(from element: ParsedElement) -> Interface? {
        guard element.attribute("type") == "bridge", let bridge = element.child("source")?.attribute("bridge") else {
            return nil
        }
        let port = element.child("virtualport")
        return Interface(
            bridge: bridge,
            mac: element.child("mac")?.attribute("address"),
            interfaceID: port?.child("parameters")?.attribute("interfaceid"),
            openvswitch: port?.attribute("type") == "openvswitch",
            model: element.child("model")?.attribute("type") ?? "virtio",
            vlanTag: element.child("vlan")?.child("tag")?.attribute("id").flatMap { Int($0) },
            targetDevice: element.child("target")?.attribute("dev"),
            mtu: element.child("mtu")?.attribute("size").flatMap { Int($0) },
            offloadsOff: element.child("driver")?.child("host")?.attribute("tso4") == "off"
        )
    }
}
