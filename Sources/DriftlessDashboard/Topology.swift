import DriftlessCore
import Foundation

/// The topology picture, server-side SVG: networks as vertical lanes, instances as boxes wired to the
/// lanes of their networks with their addresses, hosts as bands grouping their instances, each host's
/// bridge crossing the lanes; provider networks' lanes rise to the uplink of their physical network
/// (they leave the hosts there), internal networks' lanes stay inside the host bands.
///
/// The layout is a pure function of the view: hosts, networks and instances in sorted order, fixed row
/// heights, so the same state draws the same picture (byte for byte). One instance per row keeps 500
/// instances readable (the browser's find works on the SVG's text); drift is marked by the box's colour
/// and by words in the box.
public enum Topology {
    static let margin = 16.0
    static let boxWidth = 320.0
    static let laneGap = 44.0
    static let laneWidth = 150.0
    static let headerHeight = 86.0
    static let bandHeader = 46.0
    static let rowHeight = 38.0
    static let boxHeight = 32.0
    static let bandGap = 14.0

    /// Classes of the picture; the page's stylesheet has the same rules, so the inline SVG needs no
    /// `<style>` of its own (the Content-Security-Policy forbids inline styles); a standalone SVG carries them.
    public static let style = """
        .t-bg{fill:var(--panel,#fff)}
        .t-lane{stroke:var(--lane,#8c959f);stroke-width:2}
        .t-uplink{stroke:var(--lane,#8c959f);stroke-width:3;stroke-dasharray:6 4}
        .t-bridge{stroke:var(--accent,#1f5fbf);stroke-width:4;stroke-linecap:round}
        .t-band{fill:var(--bg,#f6f7f9);stroke:var(--line,#d9dee4)}
        .t-box{fill:var(--box,#fff);stroke:var(--line,#d9dee4);stroke-width:1.5}
        .t-box.drifted{stroke:var(--warn,#9a6700);stroke-width:2.5}
        .t-box.missing{stroke:var(--bad,#c0262d);stroke-width:2.5;stroke-dasharray:5 3}
        .t-wire{stroke:var(--muted,#5b6470);stroke-width:1.2}
        .t-dot{fill:var(--muted,#5b6470)}
        text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;fill:var(--text,#1b1f24)}
        .t-name{font-weight:600}
        .t-small{font-size:10.5px}
        .t-muted{fill:var(--muted,#5b6470)}
        .t-head{font-weight:700;font-size:13px}
        .t-mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:10.5px}
        .t-ok{fill:var(--ok,#1a7f37)}
        .t-warn{fill:var(--warn,#9a6700)}
        .t-bad{fill:var(--bad,#c0262d)}
        .t-idle{fill:var(--idle,#6e7781)}
        """

    /// The standalone document's colours (the page defines them in its stylesheet).
    static let standaloneColours = """
        svg{--panel:#fff;--bg:#f6f7f9;--line:#d9dee4;--box:#fff;--text:#1b1f24;--muted:#5b6470;--lane:#8c959f;--accent:#1f5fbf;--ok:#1a7f37;--warn:#9a6700;--bad:#c0262d;--idle:#6e7781}
        @media (prefers-color-scheme: dark){svg{--panel:#171b21;--bg:#0f1216;--line:#2c333c;--box:#1c2128;--text:#e6e9ed;--muted:#9aa4af;--lane:#6e7681;--accent:#6ea8fe;--ok:#56d364;--warn:#e3b341;--bad:#ff7b72;--idle:#8b949e}}
        """

    struct Lane {
        var key: String
        var network: DashboardView.NetworkRow
        var x: Double
    }

    /// The picture of what `view` sees, of one project or all; `standalone` adds the XML declaration,
    /// namespace and styles for serving it as a file.
    public static func svg(_ view: DashboardView, project: String? = nil, standalone: Bool = false) -> HTML {
        let networks = view.networks.filter { project == nil || $0.project == project }
            .sorted { natural($0.project, $1.project) ?? natural($0.name, $1.name) ?? false }
        let instances = view.instances.filter { project == nil || $0.project == project }
        var lanes: [String: Lane] = [:]
        var laneOrder: [Lane] = []
        let laneStart = margin + boxWidth + laneGap
        for (index, network) in networks.enumerated() {
            let lane = Lane(key: "\(network.project)/\(network.name)", network: network, x: laneStart + Double(index) * laneWidth + 12)
            lanes[lane.key] = lane
            laneOrder.append(lane)
        }
        let width = laneStart + Double(max(networks.count, 1)) * laneWidth + margin

        // Hosts in name order (instances without a host last), instances by project and name.
        let byHost = Dictionary(grouping: instances) { $0.host ?? "" }
        let hostNames = byHost.keys.filter { !$0.isEmpty }.sorted { natural($0, $1) ?? false } + (byHost[""] == nil ? [] : [""])
        let hostRows = Dictionary((view.hosts ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

        var bands: [HTML] = []
        var body: [HTML] = []
        var y = margin + headerHeight
        for hostName in hostNames {
            let members = (byHost[hostName] ?? []).sorted { natural($0.project, $1.project) ?? natural($0.name, $1.name) ?? false }
            let bandHeight = bandHeader + Double(members.count) * rowHeight + 6
            bands.append("<rect class=\"t-band\" x=\"\(margin - 6)\" y=\"\(y)\" width=\"\(width - 2 * margin + 12)\" height=\"\(bandHeight)\" rx=\"8\"/>")
            body.append("<g class=\"t-host\">")
            // The host's bridge crosses the lanes it trunks, under the host's name.
            let bridgeY = y + 33
            if let first = laneOrder.first, let last = laneOrder.last {
                let bridge = hostRows[hostName].map { "bridge \($0.bridge)" } ?? "bridge"
                body.append("<text class=\"t-small t-muted\" x=\"\(first.x - 14)\" y=\"\(bridgeY + 4)\" text-anchor=\"end\">\(bridge)</text>")
                body.append("<line class=\"t-bridge\" x1=\"\(first.x - 6)\" y1=\"\(bridgeY)\" x2=\"\(last.x + 6)\" y2=\"\(bridgeY)\"/>")
                for lane in laneOrder {
                    body.append("<circle class=\"t-dot\" cx=\"\(lane.x)\" cy=\"\(bridgeY)\" r=\"3\"/>")
                }
            }
            let title = hostName.isEmpty ? "not placed" : "host \(hostName)"
            var detail = ""
            var status: HTML = .empty
            if let row = hostRows[hostName] {
                detail = " · \(row.libvirt) · \(row.datapath) datapath · \(members.count) instance\(members.count == 1 ? "" : "s")"
                status = switch row.reachable {
                case .some(true): " <tspan class=\"t-ok\">● reachable</tspan>"
                case .some(false): " <tspan class=\"t-bad\">● unreachable</tspan>"
                case .none: " <tspan class=\"t-idle\">● not checked</tspan>"
                }
            } else if !hostName.isEmpty {
                detail = " · \(members.count) instance\(members.count == 1 ? "" : "s")"
            }
            body.append("<text x=\"\(margin + 4)\" y=\"\(y + 19)\"><tspan class=\"t-head\">\(title)</tspan><tspan class=\"t-muted\">\(detail)</tspan>\(status)</text>")
            var rowY = y + bandHeader
            for instance in members {
                body.append(row(instance, y: rowY, lanes: lanes))
                rowY += rowHeight
            }
            body.append("</g>")
            y += bandHeight + bandGap
        }
        if instances.isEmpty {
            body.append("<text class=\"t-muted\" x=\"\(margin)\" y=\"\(y + 20)\">No instances to draw.</text>")
            y += 40
        }
        let height = y + margin

        // Host bands, then the lanes across them, then everything else.
        var lanesMarkup: [HTML] = []
        let uplinkY = margin + 8
        let provider = laneOrder.filter { $0.network.physicalNetwork != nil }
        if let first = provider.first, let last = provider.last {
            let names = Set(provider.compactMap(\.network.physicalNetwork)).sorted { natural($0, $1) ?? false }
            lanesMarkup.append("<line class=\"t-uplink\" x1=\"\(first.x - 6)\" y1=\"\(uplinkY)\" x2=\"\(last.x + 6)\" y2=\"\(uplinkY)\"/>")
            lanesMarkup.append("<text class=\"t-small t-muted\" x=\"\(first.x - 10)\" y=\"\(uplinkY + 4)\" text-anchor=\"end\">to \(names.joined(separator: ", ")) (VLAN trunk)</text>")
        }
        for lane in laneOrder {
            let n = lane.network
            let top = n.physicalNetwork == nil ? margin + headerHeight : uplinkY
            let reach: HTML = n.physicalNetwork.map { " · \($0)" } ?? " · internal"
            lanesMarkup.append("""
                <line class="t-lane" x1="\(lane.x)" y1="\(top)" x2="\(lane.x)" y2="\(height - margin)"/>\
                <text x="\(lane.x + 8)" y="\(margin + 30)"><tspan class="t-head">\(n.name)</tspan></text>\
                <text class="t-small t-muted" x="\(lane.x + 8)" y="\(margin + 45)">\(n.project) · vlan \(n.vlan)\(reach)</text>\
                <text class="t-mono t-muted" x="\(lane.x + 8)" y="\(margin + 59)">\(n.cidr)</text>
                """)
        }
        let scope = project.map { " of project \($0)" } ?? ""
        let title = "Topology\(scope): \(instances.count) instance\(instances.count == 1 ? "" : "s") on \(networks.count) network\(networks.count == 1 ? "" : "s")"
        let open: HTML = standalone
            ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"topology-title\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">\n<style>\(HTML(trusted: standaloneColours + style))</style>\n"
            : "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"topology-title\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">\n"
        return """
            \(open)<title id="topology-title">\(title)</title>
            <rect class="t-bg" x="0" y="0" width="\(width)" height="\(height)"/>
            \(HTML.join(bands, separator: "\n"))
            \(HTML.join(lanesMarkup, separator: "\n"))
            \(HTML.join(body, separator: "\n"))
            </svg>

            """
    }

    static func row(_ instance: DashboardView.InstanceRow, y: Double, lanes: [String: Lane]) -> HTML {
        let x = margin
        let boxY = y + (rowHeight - boxHeight) / 2
        let mid = boxY + boxHeight / 2
        let kind: String = switch instance.drift?.type {
        case .missing?: " missing"
        case .drifted?, .unexpected?: " drifted"
        default: ""
        }
        let (powerClass, dotClass): (String, String) = switch instance.power {
        case "running": ("t-ok", "t-ok")
        case "stopped", "unknown": ("t-idle", "t-idle")
        case "not found": ("t-bad", "t-bad")
        default: ("t-warn", "t-warn")
        }
        var status = instance.power
        if let declared = instance.declaredPower, declared != instance.power, instance.power != "unknown" { status += " (declared \(declared))" }
        // The second line fits the box: the power state, then as much of the drift as there is room for.
        let room = max(12, 54 - status.count)
        let driftText: HTML = instance.drift.map { mark in
            "<tspan class=\"\(mark.type == .missing ? "t-bad" : "t-warn")\"> · \(clip(mark.text, room))</tspan>"
        } ?? (instance.power == "unknown" ? .empty : "<tspan class=\"t-ok\"> · in sync</tspan>")
        let tooltip = "\(instance.project)/\(instance.name): \(status)" + (instance.drift.map { " — \($0.text)" } ?? "")
            + instance.nics.map { " — \($0.network) \($0.address ?? "dhcp")" }.joined()
        var parts: [HTML] = []
        // The wire to the farthest lane, a dot and the address on each lane the instance is on.
        let attached = instance.nics.compactMap { nic in lanes["\(instance.project)/\(nic.network)"].map { (nic, $0) } }
        if let farthest = attached.map(\.1.x).max() {
            parts.append("<line class=\"t-wire\" x1=\"\(x + boxWidth)\" y1=\"\(mid)\" x2=\"\(farthest)\" y2=\"\(mid)\"/>")
            for (nic, lane) in attached {
                parts.append("<circle class=\"t-dot\" cx=\"\(lane.x)\" cy=\"\(mid)\" r=\"4\"/><text class=\"t-mono\" x=\"\(lane.x + 7)\" y=\"\(mid - 4)\">\(nic.address ?? "dhcp")</text>")
            }
        }
        let extra = instance.declared ? "" : " (not in the commit)"
        return """
            <g class="t-instance"><title>\(tooltip)</title>\
            <rect class="t-box\(kind)" x="\(x)" y="\(boxY)" width="\(boxWidth)" height="\(boxHeight)" rx="6"/>\
            <circle class="\(dotClass)" cx="\(x + 12)" cy="\(boxY + 11)" r="4.5"/>\
            <text x="\(x + 24)" y="\(boxY + 14)"><tspan class="t-name">\(clip(instance.name, 30))</tspan><tspan class="t-small t-muted"> \(clip(instance.project, 20))\(extra)</tspan></text>\
            <text class="t-small" x="\(x + 24)" y="\(boxY + 27)"><tspan class="\(powerClass)">\(status)</tspan>\(driftText)</text>\
            \(parts)</g>
            """
    }

    /// Whether `a` sorts before `b` with numbers by value (`vm-9` before `vm-10`), the same on every
    /// machine; nil when they are equal (then the next key decides).
    static func natural(_ a: String, _ b: String) -> Bool? {
        switch a.compare(b, options: [.numeric, .literal]) {
        case .orderedAscending: true
        case .orderedDescending: false
        case .orderedSame: a == b ? nil : a < b
        }
    }

    /// At most `limit` characters, with an ellipsis: long names cannot run out of their box (the whole
    /// name is in the row's title).
    static func clip(_ text: String, _ limit: Int) -> String {
        text.count > limit ? String(text.prefix(limit - 1)) + "…" : text
    }
}
