import CLibvirt
import DriftlessCore
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A host network interface as libvirt's interface driver reports it (`virInterfacePtr`), freed when the
/// last reference goes away. Driftless only reads them: which interfaces exist, and which bridge holds one.
public final class LibvirtInterface: @unchecked Sendable {
    let pointer: OpaquePointer
    /// The connection this interface belongs to.
    public let connection: LibvirtConnection
    private var connectionState: ConnectionState { connection.state }

    init(pointer: OpaquePointer, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        _ = virInterfaceFree(pointer)
    }

    /// The interface's name (`eth1`).
    public func name() throws(LibvirtError) -> String {
        String(cString: try libvirtPointer("virInterfaceGetName", connectionState) { virInterfaceGetName(pointer) })
    }

    /// The interface's XML (`<interface type='ethernet|bridge|…' name=…>`).
    public func xmlDescription() throws(LibvirtError) -> String {
        try libvirtString("virInterfaceGetXMLDesc", connectionState) { virInterfaceGetXMLDesc(pointer, 0) }
    }
}

extension LibvirtConnection {
    /// Every host interface, up or down (`virConnectListAllInterfaces`).
    public func listAllInterfaces() throws(LibvirtError) -> [LibvirtInterface] {
        var list: UnsafeMutablePointer<virInterfacePtr?>?
        let count = try libvirtCall("virConnectListAllInterfaces", state) {
            virConnectListAllInterfaces(pointer, &list, 0)
        }
        return adoptList(list, count: count).map { LibvirtInterface(pointer: $0, connection: self) }
    }

    /// The host's interfaces with the Linux bridge (if any) each one is a port of.
    public func hostInterfaces() throws(LibvirtError) -> [HostInterface] {
        var interfaces: [String: HostInterface] = [:]
        for interface in try listAllInterfaces() {
            let name = try interface.name()
            if interfaces[name] == nil { interfaces[name] = HostInterface(name: name, bridge: nil) }
            // A bridge's XML lists its ports: `<interface type='bridge'><bridge><interface name='eth1'/>`.
            guard let xml = try? interface.xmlDescription(), xml.contains("type='bridge'") || xml.contains("type=\"bridge\""),
                  let document = try? XMLDocument(xmlString: xml),
                  let members = try? document.nodes(forXPath: "/interface/bridge/interface/@name")
            else { continue }
            for member in members.compactMap(\.stringValue) {
                interfaces[member] = HostInterface(name: member, bridge: name)
            }
        }
        return interfaces.values.sorted { $0.name < $1.name }
    }

    /// Whether the host's libvirt offers KVM for x86_64 guests (its capabilities list a `kvm` domain type).
    public func offersKVM() throws(LibvirtError) -> Bool {
        let xml = try capabilitiesXML()
        guard let document = try? XMLDocument(xmlString: xml),
              let types = try? document.nodes(forXPath: "/capabilities/guest[arch/@name='x86_64']/arch/domain/@type")
        else { return false }
        return types.contains { $0.stringValue == "kvm" }
    }
}
