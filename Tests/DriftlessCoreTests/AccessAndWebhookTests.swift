import Crypto
import DriftlessCore
import Foundation
import Testing

@Suite("Webhook signatures")
struct WebhookSignatureTests {
    static let secret = Array("It's a Secret to Everybody".utf8)
    static let body = Array("Hello, World!".utf8)

    /// GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
    @Test func githubsDocumentedExampleVerifies() {
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        #expect(WebhookSignature.verifyGitHub(body: Self.body, header: header, secret: Self.secret))
    }

    @Test(arguments: [
        nil,
        "",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",
        "sha256=757107ea",
        "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    ])
    func badOrMissingSignaturesFail(_ header: String?) {
        #expect(!WebhookSignature.verifyGitHub(body: Self.body, header: header, secret: Self.secret))
    }

    @Test func aChangedBodyFails() {
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        #expect(!WebhookSignature.verifyGitHub(body: Array("Hello, World?".utf8), header: header, secret: Self.secret))
    }

    @Test func gitlabTokenMustMatchExactly() {
        #expect(WebhookSignature.verifyGitLab(header: "s3cret", secret: Array("s3cret".utf8)))
        for wrong in [nil, "", "s3cre", "s3cret ", "S3cret"] as [String?] {
            #expect(!WebhookSignature.verifyGitLab(header: wrong, secret: Array("s3cret".utf8)))
        }
    }
}

@Suite("Access policy")
struct AccessPolicyTests {
    static func state(_ users: String) throws -> DesiredState {
        let result = Fixtures.load(["users.yaml": users])
        try #require(result.isValid, "\(result.diagnostics.map(\.description))")
        return result.state
    }

    @Test func rolesDecideWhatAUserSeesAndManages() throws {
        let policy = AccessPolicy(state: try Self.state("""
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: root}
            spec: {admin: true}
            ---
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: rita}
            spec:
              roles: [{project: shop, role: reader}, {project: ops, role: admin}]
            ---
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: gone}
            spec:
              enabled: false
              roles: [{project: shop, role: admin}]
            """))
        let root = try policy.grant(for: "root").get()
        #expect(root.canSee(project: nil) && root.canSee(project: "shop") && root.canManage(project: "shop"))
        let rita = try policy.grant(for: "rita").get()
        #expect(rita.canSee(project: "shop") && !rita.canManage(project: "shop"))
        #expect(rita.canManage(project: "ops") && rita.managesAnything)
        #expect(!rita.canSee(project: nil), "cloud-wide objects are for cloud admins")
        #expect(!rita.canSee(project: "other"))
        #expect(policy.grant(for: "gone") == .failure(.unknownOrDisabled("gone")), "disabled in git: no access")
        #expect(policy.grant(for: "nobody") == .failure(.unknownOrDisabled("nobody")), "removed from git: no access")
    }
}
