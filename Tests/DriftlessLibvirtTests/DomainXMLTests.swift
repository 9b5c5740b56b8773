import DriftlessLibvirt
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

final class DomainXMLTests: XCTestCase {
    private let metadata = DriftlessMetadata(
        kind: "Instance", project: "shop", name: "web-1", specHash: "sha256:abc", commit: "0123456789abcdef"
    )

    private func sampleDomain() -> DomainXML {
        DomainXML(
            type: .qemu,
            name: "web-1",
            uuid: "6f0e2b7c-1b6a-4c1e-9d55-2b7f3c9a1e01",
            memoryKiB: 2 * 1024 * 1024,
            vcpus: 2,
            maxVcpus: 4,
            disks: [
                .init(path: "/var/lib/driftless/web-1-root.qcow2", target: "vda"),
                .init(path: "/var/lib/driftless/web-1-seed.iso", format: .raw, target: "sda", bus: .sata,
                      device: .cdrom, readOnly: true),
            ],
            interfaces: [
                .init(bridge: "br-int", mac: "52:54:00:12:34:56",
                      interfaceID: "0d6b9c1e-7a58-4b2e-9c2f-4f3a1e2d5b60", vlanTag: 100),
                .init(bridge: "virbr0", mac: "52:54:00:12:34:57", openvswitch: false),
            ],
            metadata: metadata
        )
    }

    func testRendersTheExpectedElements() throws {
        let xml = sampleDomain().xmlString()
        let root = try XCTUnwrap(XMLDocument(xmlString: xml, options: []).rootElement())
        XCTAssertEqual(root.attribute(forName: "type")?.stringValue, "qemu")
        XCTAssertEqual(root.elements(forName: "vcpu").first?.stringValue, "4")
        XCTAssertEqual(root.elements(forName: "vcpu").first?.attribute(forName: "current")?.stringValue, "2")
        XCTAssertEqual(root.elements(forName: "memory").first?.attribute(forName: "unit")?.stringValue, "KiB")
        XCTAssertTrue(xml.contains("<virtualport type=\"openvswitch\">"), xml)
        XCTAssertTrue(xml.contains("<parameters interfaceid=\"0d6b9c1e-7a58-4b2e-9c2f-4f3a1e2d5b60\"/>"), xml)
        XCTAssertTrue(xml.contains("<tag id=\"100\"/>"), xml)
        XCTAssertTrue(xml.contains("<model type=\"virtio\"/>"), xml)
        XCTAssertTrue(xml.contains("<serial type=\"pty\">"), xml)
        XCTAssertTrue(xml.contains("xmlns:driftless=\"https://driftless.dev/xmlns/libvirt/1\""), xml)
        XCTAssertTrue(xml.contains("<driftless:specHash>sha256:abc</driftless:specHash>"), xml)
        // The Linux-bridge NIC has no virtualport.
        let interfaces = root.elements(forName: "devices").first?.elements(forName: "interface") ?? []
        XCTAssertEqual(interfaces.count, 2)
        XCTAssertTrue(interfaces[1].elements(forName: "virtualport").isEmpty)
    }

    func testRoundTripThroughRenderAndParse() throws {
        let domain = sampleDomain()
        XCTAssertEqual(try DomainXML(parsing: domain.xmlString()), domain)
    }

    func testHostileValuesAreEscapedNotInjected() throws {
        let hostile = [
            "x</name><memory unit='KiB'>1</memory><name>y",
            "a<b&c\"d'e",
            "]]><!-- -->&amp;",
        ]
        for value in hostile {
            let domain = DomainXML(
                type: .kvm,
                name: value,
                memoryKiB: 65_536,
                vcpus: 1,
                disks: [.init(path: "/tmp/\(value).qcow2", target: "vda")],
                interfaces: [.init(bridge: value, mac: "52:54:00:00:00:01", interfaceID: value)],
                metadata: DriftlessMetadata(kind: value, project: value, name: value, specHash: value, commit: value)
            )
            let xml = domain.xmlString()
            XCTAssertFalse(xml.contains(value), "raw value leaked into XML: \(xml)")
            let root = try XCTUnwrap(XMLDocument(xmlString: xml, options: []).rootElement())
            XCTAssertEqual(root.elements(forName: "name").count, 1, xml)
            XCTAssertEqual(root.elements(forName: "memory").count, 1, xml)
            XCTAssertEqual(try DomainXML(parsing: xml), domain, "round trip of \(value)")
            XCTAssertEqual(
                try DriftlessMetadata(parsing: domain.metadata?.elementXMLString(prefixed: false) ?? ""),
                domain.metadata
            )
        }
    }

    func testParsesLibvirtOutputWithOtherPrefixUnitsAndExtraElements() throws {
        // Shaped like virDomainGetXMLDesc output: another prefix for our namespace, MiB units,
        // a foreign metadata element, devices we do not model.
        let xml = """
        <domain type='kvm' id='3'>
          <name>db-1</name>
          <uuid>14e7af07-5095-4e37-8a58-95deda41249d</uuid>
          <metadata>
            <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>x</nova:name></nova:instance>
            <dl:instance xmlns:dl="https://driftless.dev/xmlns/libvirt/1">
              <dl:kind>Instance</dl:kind><dl:project>shop</dl:project><dl:name>db-1</dl:name>
              <dl:specHash>h</dl:specHash><dl:commit>c</dl:commit>
            </dl:instance>
          </metadata>
          <memory unit='MiB'>512</memory>
          <currentMemory unit='KiB'>262144</currentMemory>
          <vcpu placement='static'>2</vcpu>
          <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>
          <devices>
            <emulator>/usr/bin/qemu-system-x86_64</emulator>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2'/>
              <source file='/pool/db-1.qcow2' index='1'/>
              <backingStore/>
              <target dev='vda' bus='virtio'/>
              <alias name='virtio-disk0'/>
            </disk>
            <disk type='network' device='disk'><source protocol='rbd' name='p/v'/><target dev='vdb' bus='virtio'/></disk>
            <interface type='bridge'>
              <mac address='52:54:00:aa:bb:cc'/>
              <source bridge='br-int'/>
              <vlan><tag id='10'/></vlan>
              <virtualport type='openvswitch'>
                <parameters interfaceid='6f0e2b7c-1b6a-4c1e-9d55-2b7f3c9a1e01'/>
              </virtualport>
              <target dev='vnet0'/>
              <model type='virtio'/>
            </interface>
            <interface type='network'><source network='default'/></interface>
            <serial type='pty'><source path='/dev/pts/3'/><target type='isa-serial' port='0'/></serial>
          </devices>
        </domain>
        """
        let domain = try DomainXML(parsing: xml)
        XCTAssertEqual(domain.type, .kvm)
        XCTAssertEqual(domain.name, "db-1")
        XCTAssertEqual(domain.uuid, "14e7af07-5095-4e37-8a58-95deda41249d")
        XCTAssertEqual(domain.memoryKiB, 512 * 1024)
        XCTAssertEqual(domain.vcpus, 2)
        XCTAssertNil(domain.maxVcpus)
        XCTAssertEqual(domain.arch, "x86_64")
        XCTAssertEqual(domain.machine, "pc-i440fx-7.2")
        XCTAssertEqual(domain.disks, [.init(path: "/pool/db-1.qcow2", target: "vda")])
        XCTAssertEqual(domain.interfaces, [
            .init(bridge: "br-int", mac: "52:54:00:aa:bb:cc",
                  interfaceID: "6f0e2b7c-1b6a-4c1e-9d55-2b7f3c9a1e01", vlanTag: 10, targetDevice: "vnet0"),
        ])
        XCTAssertTrue(domain.serialConsole)
        XCTAssertEqual(domain.metadata, DriftlessMetadata(kind: "Instance", project: "shop", name: "db-1",
                                                          specHash: "h", commit: "c"))
    }

    func testDomainWithoutOurNamespaceHasNoMetadata() throws {
        let xml = """
        <domain type='qemu'><name>n</name><metadata><instance><kind>Instance</kind><name>n</name></instance></metadata>
        <memory>1024</memory><vcpu>1</vcpu></domain>
        """
        let domain = try DomainXML(parsing: xml)
        XCTAssertNil(domain.metadata, "an un-namespaced <instance> is not ours")
        XCTAssertEqual(domain.memoryKiB, 1_024, "a missing unit means KiB")
    }

    func testMalformedOrIncompleteXMLIsAParseError() {
        for xml in ["<domain", "<pool/>", "<domain type='qemu'><memory>1</memory><vcpu>1</vcpu></domain>",
                    "<domain><name>a</name><memory unit='parsecs'>1</memory><vcpu>1</vcpu></domain>"] {
            XCTAssertThrowsError(try DomainXML(parsing: xml), xml) { error in
                XCTAssertTrue(error is XMLParseError, "\(error)")
            }
        }
    }

    func testVirtualizationIsTheHostsChoiceOrWhatItsLibvirtOffers() {
        XCTAssertEqual(LibvirtComputeDriver.domainType(for: .qemu, offersKVM: true), .qemu)
        XCTAssertEqual(LibvirtComputeDriver.domainType(for: .kvm, offersKVM: false), .kvm)
        XCTAssertEqual(LibvirtComputeDriver.domainType(for: .auto, offersKVM: true), .kvm)
        XCTAssertEqual(LibvirtComputeDriver.domainType(for: .auto, offersKVM: false), .qemu)
    }

    func testOffloadsAndSerialsRenderAndParseBack() throws {
        var domain = DomainXML(type: .qemu, name: "shop.web-1", memoryKiB: 524_288, vcpus: 1)
        domain.disks = [DomainXML.Disk(path: "/p/root.qcow2", target: "vda"),
                        DomainXML.Disk(path: "/p/vol.qcow2", target: "vdb", serial: "shop-data")]
        domain.interfaces = [DomainXML.Interface(bridge: "br-int", mac: "52:54:00:00:00:01", vlanTag: 100, offloadsOff: true),
                             DomainXML.Interface(bridge: "br-int", mac: "52:54:00:00:00:02", vlanTag: 200)]
        let xml = domain.xmlString()
        XCTAssertTrue(xml.contains("<host csum=\"off\" gso=\"off\" tso4=\"off\" tso6=\"off\" ecn=\"off\" ufo=\"off\""), xml)
        XCTAssertTrue(xml.contains("<serial>shop-data</serial>"), xml)
        let parsed = try DomainXML(parsing: xml)
        XCTAssertEqual(parsed.interfaces.map(\.offloadsOff), [true, false])
        XCTAssertEqual(parsed.disks.map(\.serial), [nil, "shop-data"])
    }

    func testStoragePoolAndVolumeXMLRoundTrip() throws {
        let pool = StoragePoolXML(name: "img & <pool>", path: "/srv/it's here")
        XCTAssertEqual(try StoragePoolXML(parsing: pool.xmlString()), pool)
        XCTAssertFalse(pool.xmlString().contains("<pool>\n  <name>img & <pool>"))

        let volume = StorageVolumeXML(
            name: "root.qcow2", capacity: 20 << 30, format: .qcow2,
            backingStore: .init(path: "/images/debian-12.qcow2", format: .qcow2)
        )
        XCTAssertEqual(try StorageVolumeXML(parsing: volume.xmlString()), volume)

        let libvirtOutput = """
        <volume type='file'><name>v</name><key>/p/v</key>
          <capacity unit='bytes'>67108864</capacity><allocation unit='KiB'>196</allocation>
          <target><path>/p/v</path><format type='qcow2'/></target></volume>
        """
        let parsed = try StorageVolumeXML(parsing: libvirtOutput)
        XCTAssertEqual(parsed.capacity, 64 << 20)
        XCTAssertEqual(parsed.allocation, 196 * 1024)
        XCTAssertEqual(parsed.path, "/p/v")
        XCTAssertEqual(parsed.format, .qcow2)
    }

    func testDomainEventDetailsFollowLibvirtNumbering() {
        let table: [(DomainEvent.Kind, Int32, DomainEvent.Detail)] = [
            (.defined, 0, .added), (.defined, 1, .updated), (.undefined, 0, .removed),
            (.started, 0, .booted), (.stopped, 0, .shutdown), (.stopped, 1, .destroyed),
            (.stopped, 2, .crashed), (.suspended, 0, .paused), (.resumed, 0, .unpaused),
            (.shutdown, 1, .guest), (.crashed, 0, .panicked), (.stopped, 99, .unknown(99)),
        ]
        for (kind, raw, expected) in table {
            XCTAssertEqual(DomainEvent.Detail(kind: kind, raw: raw), expected, "\(kind) \(raw)")
        }
    }
}
