import DriftlessCore
import DriftlessTesting

/// A small valid repository (`TestManifests.smallCloud`) that the validation tables extend with one broken
/// document each.
enum Fixtures {
    static let aliceKey = TestManifests.aliceKey
    static let digest = TestManifests.digest
    static let base = TestManifests.smallCloud

    /// Loads `base.yaml` plus the given files.
    static func load(_ files: [String: String], includeBase: Bool = true, limits: ManifestLimits = .default)
        -> ManifestLoader.Result {
        TestManifests.load(files, includeBase: includeBase, limits: limits)
    }

    /// An instance document with the given spec lines (indented two spaces).
    static func instance(_ name: String = "extra", project: String = "shop", spec: String) -> String {
        """
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata:
          name: \(name)
          project: \(project)
        spec:
        \(spec)
        """
    }
}
