import DriftlessCore
import Testing

/// Which files a path import may name, judged by their text (what `validate` can see).
@Suite("Image path policy")
struct ImagePathPolicyTests {
    static let policy = ImagePathPolicy(directories: ["/var/lib/driftless/images", "/srv/images/"], stateDirectory: "/var/lib/driftless")

    static let paths: [(String, String?)] = [
        ("/var/lib/driftless/images/debian.qcow2", nil),
        ("/var/lib/driftless/images/sub/dir/debian.qcow2", nil),
        ("/srv/images/a.raw", nil),
        ("/srv/images//a.raw", nil),
        ("/etc/shadow", "image path /etc/shadow is outside the allowed image directories (/var/lib/driftless/images, /srv/images)"),
        ("/var/lib/driftless/images/../driftless.sqlite", "contains a \".\" or \"..\" component"),
        ("/var/lib/driftless/images/./a.img", "contains a \".\" or \"..\" component"),
        ("images/a.img", "image path images/a.img is not absolute"),
        ("", "image path  is not absolute"),
        ("/proc/self/environ", "image path /proc/self/environ is under /proc, which is never read"),
        ("/sys/kernel/notes", "is under /sys, which is never read"),
        ("/dev/zero", "image path /dev/zero is under /dev, which is never read"),
        ("/var/lib/driftless/driftless.sqlite",
         "image path /var/lib/driftless/driftless.sqlite is inside the state directory /var/lib/driftless, which is never read"),
        ("/var/lib/driftless/images", "names an image directory, not a file in it"),
        ("/var/lib/driftless/images/a\u{1B}[31m.img", "image path contains control characters"),
        ("/var/lib/driftless/imagesX/a.img", "is inside the state directory /var/lib/driftless"),
        ("/var/lib/imagesX/a.img", "is outside the allowed image directories"),
    ]

    @Test(arguments: paths)
    func pathVerdicts(_ path: String, _ expected: String?) {
        let problem = Self.policy.problem(with: path)
        if let expected {
            #expect(problem?.message.contains(expected) == true, "\(path.debugDescription): \(problem?.message ?? "allowed")")
        } else {
            #expect(problem == nil, "\(path): \(problem?.message ?? "")")
        }
    }

    @Test func anAllowedDirectoryAroundTheStateDirectoryStillLeavesItsFilesOut() {
        let wide = ImagePathPolicy(directories: ["/var/lib"], stateDirectory: "/var/lib/driftless")
        #expect(wide.problem(with: "/var/lib/images/a.img") == nil)
        #expect(wide.problem(with: "/var/lib/driftless/driftless.sqlite")?.message.contains("inside the state directory") == true)
        #expect(wide.problem(with: "/var/lib/driftless/images/a.img")?.message.contains("inside the state directory") == true)
        let same = ImagePathPolicy(directories: ["/var/lib/driftless"], stateDirectory: "/var/lib/driftless")
        #expect(same.problem(with: "/var/lib/driftless/driftless.sqlite")?.message.contains("inside the state directory") == true)
        let everything = ImagePathPolicy(directories: ["/"], stateDirectory: nil)
        #expect(everything.problem(with: "/proc/1/mem")?.message.contains("never read") == true)
        #expect(everything.problem(with: "/srv/a.img") == nil)
    }

    @Test func flagsThenEnvironmentThenDefault() {
        let env = [ImagePathPolicy.environmentVariable: "/a::/b"]
        #expect(ImagePathPolicy.directories(flags: ["/x", "rel"], environment: env, currentDirectory: "/cwd") == ["/x", "/cwd/rel"])
        #expect(ImagePathPolicy.directories(flags: [], environment: env, currentDirectory: "/") == ["/a", "/b"])
        #expect(ImagePathPolicy.directories(flags: [], environment: [:], currentDirectory: "/") == ["/var/lib/driftless/images"])
    }

    /// validate reports a path outside the allowed directories on the `path:` line, naming them.
    @Test func validateReportsTheLineOfThePath() {
        let yaml = """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: shadow}
            spec:
              source:
                path: /etc/shadow
              sha256: \(Fixtures.digest)
              format: raw
            """
        let result = ManifestLoader.load([ManifestFile(path: "evil.yaml", text: yaml)])
        let errors = result.diagnostics.filter { $0.severity == .error }
        #expect(errors.map(\.description) == [
            "evil.yaml:6:11: error: spec.source.path: image path /etc/shadow is outside the allowed image directories "
                + "(/var/lib/driftless/images) (put the file under one of them; the operator allows others with "
                + "--image-dir DIR or DRIFTLESS_IMAGE_DIRS)",
        ])
        let allowed = ManifestLoader.load([ManifestFile(path: "evil.yaml", text: yaml)],
                                          imagePaths: ImagePathPolicy(directories: ["/etc"], stateDirectory: nil))
        #expect(allowed.isValid, "\(allowed.diagnostics.map(\.description))")
    }
}
