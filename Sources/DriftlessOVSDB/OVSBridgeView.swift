import DriftlessCore
import Foundation

/// One bridge's ports read from a monitor-cache snapshot, with the raw rows the driver's guards need.
struct OVSBridgeView {
    /// A port of the bridge with its interfaces.
    struct PortView {
        var uuid: UUID
        var row: OVSDBRow
        var name: String
        var tag: Int?
        var trunks: [Int]
        var marks: [String: String]
        var interfaces: [(uuid: UUID, row: OVSDBRow)]

        /// The interface that carries the NIC: the one named like the port, else the first.
        var primaryInterface: (uuid: UUID, row: OVSDBRow)? {
            interfaces.first { $0.row["name"]?.string == name } ?? interfaces.first
        }

        /// The `iface-id` of the port's interfaces (the first one that has it).
        var interfaceID: String? {
            interfaces.lazy.compactMap { $0.row["external_ids"]?.stringMap[OVSMarks.ifaceID] }.first
        }

        var isMarked: Bool { marks[OVSMarks.managed] == "true" }

        var observed: ObservedPort {
            let interface = interfaces.first { $0.row["external_ids"]?.stringMap[OVSMarks.ifaceID] != nil }
                ?? primaryInterface
            let interfaceIDs = interface?.row["external_ids"]?.stringMap ?? [:]
            return ObservedPort(
                name: name, interfaceID: interfaceIDs[OVSMarks.ifaceID], mac: interfaceIDs[OVSMarks.attachedMAC],
                vlan: tag, mtu: interface?.row["mtu_request"]?.integer.map { Int($0) }, marks: marks, trunks: trunks)
        }
    }

    var uuid: UUID
    var row: OVSDBRow
    var name: String
    var datapathType: String
    var ports: [PortView]

    /// The bridge named `name` in `cache`, or `nil` when there is none.
    init?(named name: String, in cache: OVSDBCache) {
        guard let (uuid, row) = cache.rows(in: "Bridge").first(where: { $0.value["name"]?.string == name }) else {
            return nil
        }
        self.uuid = uuid
        self.row = row
        self.name = name
        datapathType = row["datapath_type"]?.string ?? ""
        let portRows = cache.rows(in: "Port")
        let interfaceRows = cache.rows(in: "Interface")
        ports = (row["ports"]?.uuids ?? []).compactMap { portUUID -> PortView? in
            guard let portRow = portRows[portUUID] else { return nil }
            let interfaces = (portRow["interfaces"]?.uuids ?? []).compactMap { interfaceUUID in
                interfaceRows[interfaceUUID].map { (uuid: interfaceUUID, row: $0) }
            }
            return PortView(
                uuid: portUUID, row: portRow, name: portRow["name"]?.string ?? "",
                tag: portRow["tag"]?.integer.map { Int($0) },
                trunks: (portRow["trunks"]?.atoms ?? []).compactMap { atom in
                    if case let .integer(value) = atom { return Int(value) }
                    return nil
                }.sorted(),
                marks: portRow["external_ids"]?.stringMap ?? [:],
                interfaces: interfaces)
        }.sorted { $0.name < $1.name }
    }

    /// The instance-facing ports: every port except the bridge's own internal (local) port.
    var observedPorts: [ObservedPort] {
        ports.filter { $0.name != name }.map(\.observed)
    }
}
