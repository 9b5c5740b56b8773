import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A libvirt domain definition with the fields Driftless manages; renders and parses domain XML.
///
/// Rendering goes through FoundationXML, so every user value is escaped. Parsing reads
/// back the same fields from `virDomainGetXMLDesc` output, which libvirt fills with many
/// more elements (addresses, controllers, defaults) that are ignored here.
public struct DomainXML: Sendable, Equatable {
    /// The domain type: hardware acceleration (`kvm`) or software emulation (`qemu`). Which one a host's
    /// guests get is the Host's `virtualization`, resolved against that host's libvirt (see
    /// `LibvirtComputeDriver`), never the controller's `/dev/kvm`.
    public enum VirtType: String, Sendable, Equatable {
        case qemu, kvm
    }

    /// A disk backed by a host file or block device.
    public struct Disk: Sendable, Equatable {
        /// Image format of the source (`<driver type=…>`).
        public enum Format: String, Sendable, Equatable { case qcow2, raw }
        /// What the guest sees (`<disk device=…>`).
        public enum Device: String, Sendable, Equatable { case disk, cdrom }
        /// The guest bus (`<target bus=…>`).
        public enum Bus: String, Sendable, Equatable { case virtio, sata, scsi, ide }

        /// Host path of the image (`<source file=…>`).
        public var path: String
        /// Image format.
        public var format: Format
        /// Guest device name, e.g. `vda`, `sda`.
        public var target: String
        /// Guest bus.
        public var bus: Bus
        /// Disk or CD-ROM.
        public var device: Device
        /// Read-only (`<readonly/>`); CD-ROMs always are.
        public var readOnly: Bool
        /// The serial the guest sees (`/dev/disk/by-id/virtio-SERIAL`); virtio-blk keeps 20 bytes of it.
        public var serial: String?

        /// Creates a disk; defaults to a writable qcow2 virtio disk.
        public init(
            path: String,
            format: Format = .qcow2,
            target: String,
            bus: Bus = .virtio,
            device: Device = .disk,
            readOnly: Bool = false,
            serial: String? = nil
        ) {
            self.serial = serial
            self.path = path
            self.format = format
            self.target = target
            self.bus = bus
            self.device = device
            self.readOnly = readOnly
        }
    }

    /// A NIC on a host bridge, optionally an Open vSwitch port.
    public struct Interface: Sendable, Equatable {
        /// The bridge to plug into (`<source bridge=…>`).
        public var bridge: String
        /// The MAC address; libvirt generates one when nil.
        public var mac: String?
        /// The OVS `iface-id` (`<virtualport type='openvswitch'><parameters interfaceid=…>`); nil for a Linux bridge.
        public var interfaceID: String?
        /// True for an Open vSwitch bridge (adds `<virtualport type='openvswitch'>`).
        public var openvswitch: Bool
        /// The NIC model, usually `virtio`.
        public var model: String
        /// The access VLAN tag (`<vlan><tag id=…/></vlan>`), OVS only.
        public var vlanTag: Int?
        /// The tap device name (`<target dev=…>`), which is also the OVS port's name.
        public var targetDevice: String?
        /// The MTU (`<mtu size=…>`).
        public var mtu: Int?
        /// The virtio offloads off, host and guest side (`<driver name='qemu'><host csum='off' …/>`): needed
        /// for TCP on OVS's userspace datapath.
        public var offloadsOff: Bool

        /// Creates an interface; defaults to an OVS virtio NIC.
        public init(
            bridge: String,
            mac: String? = nil,
            interfaceID: String? = nil,
            openvswitch: Bool = true,
            model: String = "virtio",
            vlanTag: Int? = nil,
            targetDevice: String? = nil,
            mtu: Int? = nil,
            offloadsOff: Bool = false
        ) {
            self.offloadsOff = offloadsOff
            self.bridge = bridge
            self.mac = mac
            self.interfaceID = interfaceID
            self.openvswitch = openvswitch
            self.model = model
            self.vlanTag = vlanTag
            self.targetDevice = targetDevice
            self.mtu = mtu
        }
    }

    /// Domain type.
    public var type: VirtType
    /// Unique name on the host.
    public var name: String
    /// UUID string; libvirt generates one when nil.
    public var uuid: String?
    /// Memory (maximum and current at boot) in KiB.
    public var memoryKiB: UInt64
    /// `<currentMemory>` as read back, when it differs from `memoryKiB` (`virsh setmem --config`
    /// lowers it); nil when written by us or equal.
    public var currentMemoryKiB: UInt64?
    /// vCPUs at boot.
    public var vcpus: Int
    /// vCPU ceiling for hot-plug; equals `vcpus` when nil.
    public var maxVcpus: Int?
    /// Guest OS type, `hvm` for full virtualisation.
    public var osType: String
    /// Guest architecture (`<type arch=…>`), libvirt's default when nil.
    public var arch: String?
    /// Machine type (`<type machine=…>`), libvirt's default when nil.
    public var machine: String?
    /// Disks in order.
    public var disks: [Disk]
    /// NICs in order.
    public var interfaces: [Interface]
    /// A serial console on a pty (`virsh console`).
    public var serialConsole: Bool
    /// The Driftless ownership record; nil for domains Driftless does not own.
    public var metadata: DriftlessMetadata?

    /// Creates a definition.
    public init(
        type: VirtType = .qemu,
        name: String,
        uuid: String? = nil,
        memoryKiB: UInt64,
        vcpus: Int,
        maxVcpus: Int? = nil,
        osType: String = "hvm",
        arch: String? = nil,
        machine: String? = nil,
        disks: [Disk] = [],
        interfaces: [Interface] = [],
        serialConsole: Bool = true,
        metadata: DriftlessMetadata? = nil
    ) {
        self.type = type
        self.name = name
        self.uuid = uuid
        self.memoryKiB = memoryKiB
        self.vcpus = vcpus
        self.maxVcpus = maxVcpus
        self.osType = osType
        self.arch = arch
        self.machine = machine
        self.disks = disks
        self.interfaces = interfaces
        self.serialConsole = serialConsole
        self.metadata = metadata
    }

    /// The `<domain>` element.
    func element() -> XMLElement {
        let domain = XMLElement("domain", ["type": type.rawValue])
        domain.add(XMLElement("name", text: name))
        if let uuid { domain.add(XMLElement("uuid", text: uuid)) }
        if let metadata {
            domain.add(XMLElement("metadata")).add(metadata.element(prefixed: true))
        }
        domain.add(XMLElement("memory", ["unit": "KiB"], text: String(memoryKiB)))
        domain.add(XMLElement("currentMemory", ["unit": "KiB"], text: String(memoryKiB)))
        let vcpu = domain.add(XMLElement("vcpu", ["placement": "static"], text: String(max(maxVcpus ?? vcpus, vcpus))))
        if let maxVcpus, maxVcpus > vcpus { vcpu.setAttribute("current", String(vcpus)) }

        let os = domain.add(XMLElement("os"))
        let osTypeElement = os.add(XMLElement("type", text: osType))
        if let arch { osTypeElement.setAttribute("arch", arch) }
        if let machine { osTypeElement.setAttribute("machine", machine) }
        os.add(XMLElement("boot", ["dev": "hd"]))
        if disks.contains(where: { $0.device == .cdrom }) { os.add(XMLElement("boot", ["dev": "cdrom"])) }

        let features = domain.add(XMLElement("features"))
        features.add(XMLElement("acpi"))
        features.add(XMLElement("apic"))

        domain.add(XMLElement("on_poweroff", text: "destroy"))
        domain.add(XMLElement("on_reboot", text: "restart"))
        domain.add(XMLElement("on_crash", text: "destroy"))

        let devices = domain.add(XMLElement("devices"))
        for disk in disks { devices.add(Self.element(for: disk)) }
        for interface in interfaces { devices.add(Self.element(for: interface)) }
        if serialConsole {
            devices.add(XMLElement("serial", ["type": "pty"])).add(XMLElement("target", ["port": "0"]))
            devices.add(XMLElement("console", ["type": "pty"])).add(XMLElement("target", ["type": "serial", "port": "0"]))
        }
        return domain
    }

    /// The domain XML, indented, ready for `virDomainDefineXML`.
    public func xmlString() -> String {
        element().prettyXMLString
    }

    private static func element(for disk: Disk) -> XMLElement {
        let element = XMLElement("disk", ["type": "file", "device": disk.device.rawValue])
        element.add(XMLElement("driver", ["name": "qemu", "type": disk.format.rawValue]))
        element.add(XMLElement("source", ["file": disk.path]))
        element.add(XMLElement("target", ["dev": disk.target, "bus": disk.bus.rawValue]))
        if disk.readOnly || disk.device == .cdrom { element.add(XMLElement("readonly")) }
        if let serial = disk.serial { element.add(XMLElement("serial", text: serial)) }
        return element
    }

    private static func element(for interface: Interface) -> XMLElement {
        let element = XMLElement("interface", ["type": "bridge"])
        if let mac = interface.mac { element.add(XMLElement("mac", ["address": mac])) }
        element.add(XMLElement("source", ["bridge": interface.bridge]))
        if interface.openvswitch {
            let port = element.add(XMLElement("virtualport", ["type": "openvswitch"]))
            if let id = interface.interfaceID { port.add(XMLElement("parameters", ["interfaceid": id])) }
        }
        if let tag = interface.vlanTag {
            element.add(XMLElement("vlan")).add(XMLElement("tag", ["id": String(tag)]))
        }
        if let device = interface.targetDevice { element.add(XMLElement("target", ["dev": device])) }
        element.add(XMLElement("model", ["type": interface.model]))
        if interface.offloadsOff {
            let driver = element.add(XMLElement("driver", ["name": "qemu"]))
            driver.add(XMLElement("host", ["csum": "off", "gso": "off", "tso4": "off", "tso6": "off", "ecn": "off", "ufo": "off"]))
            driver.add(XMLElement("guest", ["csum": "off", "tso4": "off", "tso6": "off", "ecn": "off", "ufo": "off"]))
        }
        if let mtu = interface.mtu { element.add(XMLElement("mtu", ["size": String(mtu)])) }
        return element
    }

    /// One `<disk>` element, for attaching or detaching a device.
    public static func diskXMLString(_ disk: Disk) -> String {
        element(for: disk).xmlString
    }

    /// One `<interface>` element, for attaching, detaching or updating a NIC.
    public static func interfaceXMLString(_ interface: Interface) -> String {
        element(for: interface).xmlString
    }
}
