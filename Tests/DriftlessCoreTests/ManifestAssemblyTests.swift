import DriftlessCore
import DriftlessTesting
import Testing

/// Patching an assembly with the files that changed gives what assembling every file again gives: the
/// same state, and the same diagnostics in the same order; and a patch that cannot say which declaration
/// counts is not made.
@Suite("Manifest assembly")
struct ManifestAssemblyTests {
    /// `TestManifests.smallCloud`, one document per file.
    static let cloud: [String: String] = {
        let names = ["projects/shop", "projects/ops", "user", "image", "networks/frontend", "networks/mgmt", "volume", "instance"]
        return Dictionary(uniqueKeysWithValues: zip(names, TestManifests.smallCloud.components(separatedBy: "\n---\n")).map {
            ("m/\($0.0).yaml", $0.1)
        })
    }()

    static func project(_ name: String) -> String {
        "apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: \(name)}\n"
    }

    static func network(_ name: String, vlan: Int, cidr: String = "10.9.0.0/24") -> String {
        "apiVersion: driftless.dev/v1\nkind: Network\nmetadata: {name: \(name), project: shop}\nspec: {cidr: \(cidr), vlan: \(vlan)}\n"
    }

    static func instance(_ name: String, ip: String, memory: String = "256MiB") -> String {
        """
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata: {name: \(name), project: shop}
        spec:
          image: tiny
          vcpus: 1
          memory: \(memory)
          rootDisk: 1GiB
          networks: [{network: frontend, ip: \(ip)}]

        """
    }

    static let host = """
        apiVersion: driftless.dev/v1
        kind: Host
        metadata: {name: h1}
        spec: {capacity: {vcpus: 4, memory: 1GiB}}

        """

    static func decode(_ files: [String: String]) -> [DecodedFile] {
        ManifestLoader.decode(files.map { ManifestFile(path: $0.key, text: $0.value) })
    }

    /// Everything a load reports of a state: each object's identity, spec and place, in the state's order.
    static func describe(_ state: DesiredState) -> [String] {
        func lines<S>(_ objects: [ManifestObject<S>]) -> [String] {
            objects.map { "\($0.id) \($0.spec) \($0.source?.file ?? "-"):\($0.source?.document ?? -1)" }
        }
        return lines(state.hosts) + lines(state.projects) + lines(state.users) + lines(state.images) + lines(state.networks)
            + lines(state.volumes) + lines(state.instances) + ["default host: \(state.usesDefaultHost)"]
    }

    /// Assembles `before`, patches it into `after`, and compares with assembling `after` afresh; returns
    /// whether the patch was made, and the diagnostics.
    @discardableResult
    static func compare(_ before: [String: String], _ after: [String: String]) -> (patched: Bool, diagnostics: [String]) {
        let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }
        let old = decode(before), new = decode(after)
        let full = ManifestLoader.validate(ManifestLoader.Assembly(new), files: new)
        guard let patched = ManifestLoader.Assembly(old).patched(removing: old.filter { changed.contains($0.path) },
                                                                  adding: new.filter { changed.contains($0.path) })
        else { return (false, full.diagnostics.map(\.description)) }
        let result = ManifestLoader.validate(patched, files: new)
        #expect(describe(result.state) == describe(full.state))
        #expect(result.diagnostics.map(\.description) == full.diagnostics.map(\.description))
        #expect(result.documentCount == full.documentCount)
        return (true, result.diagnostics.map(\.description))
    }

    @Test func editsAdditionsAndDeletionsPatch() {
        var after = Self.cloud
        after["m/instance.yaml"] = Self.instance("web", ip: "10.0.0.11")
        after["m/a/web-2.yaml"] = Self.instance("web-2", ip: "10.0.0.12")
        after["m/networks/mgmt.yaml"] = nil
        let outcome = Self.compare(Self.cloud, after)
        #expect(outcome.patched)
        #expect(!outcome.diagnostics.contains { $0.contains("error") }, "\(outcome.diagnostics)")
    }

    /// Conflicts are reported on the later declaration in path order, whichever file changed.
    @Test func conflictsLandOnTheLaterDeclaration() {
        var after = Self.cloud
        after["m/a/net.yaml"] = Self.network("early", vlan: 10)  // before m/networks/frontend.yaml (vlan 10)
        after["m/z/web-2.yaml"] = Self.instance("web-2", ip: "10.0.0.10")  // web's address, written after it
        let outcome = Self.compare(Self.cloud, after)
        #expect(outcome.patched)
        #expect(outcome.diagnostics.contains { $0.hasPrefix("m/networks/frontend.yaml:") && $0.contains("VLAN 10 is already used") },
                "\(outcome.diagnostics)")
        #expect(outcome.diagnostics.contains { $0.hasPrefix("m/z/web-2.yaml:") && $0.contains("is taken twice") },
                "\(outcome.diagnostics)")
        // And back: removing the earlier declaration moves nothing else.
        #expect(Self.compare(after, Self.cloud).patched)
    }

    @Test func aDeclaredHostReplacesTheDefaultOneAndBack() {
        var after = Self.cloud
        after["m/host.yaml"] = Self.host
        #expect(Self.compare(Self.cloud, after).patched)
        #expect(Self.compare(after, Self.cloud).patched)
    }

    /// An invalid document whose identity is readable is checked leniently (its references still are).
    @Test func invalidDocumentsPatch() {
        var broken = Self.cloud
        broken["m/instance.yaml"] = Self.instance("web", ip: "10.0.0.10", memory: "lots")
        #expect(Self.compare(Self.cloud, broken).patched)
        var worse = broken
        worse["m/instance.yaml"] = Self.instance("web", ip: "10.0.0.10", memory: "lots").replacingOccurrences(of: "tiny", with: "huge")
        let outcome = Self.compare(broken, worse)
        #expect(outcome.patched)
        #expect(outcome.diagnostics.contains { $0.contains("unknown image \"huge\"") }, "\(outcome.diagnostics)")
        #expect(Self.compare(worse, Self.cloud).patched)
    }

    /// Which declaration counts depends on every file once an identity is declared twice: no patch then,
    /// but one for any other change.
    @Test func duplicatesAreAssembledAgain() {
        var duplicated = Self.cloud
        duplicated["m/a/ops.yaml"] = Self.project("ops")
        #expect(!Self.compare(Self.cloud, duplicated).patched, "a new declaration of a declared identity")
        #expect(!Self.compare(duplicated, Self.cloud).patched, "a declaration of a duplicated identity removed")
        var edited = duplicated
        edited["m/instance.yaml"] = Self.instance("web", ip: "10.0.0.11")
        let outcome = Self.compare(duplicated, edited)
        #expect(outcome.patched, "an unrelated change")
        #expect(outcome.diagnostics.contains { $0.hasPrefix("m/projects/ops.yaml:") && $0.contains("duplicate Project ops") },
                "\(outcome.diagnostics)")
        var twice = Self.cloud
        twice["m/b/one.yaml"] = Self.project("lab")
        twice["m/b/two.yaml"] = Self.project("lab")
        #expect(!Self.compare(Self.cloud, twice).patched, "two new declarations of one identity")
    }
}
