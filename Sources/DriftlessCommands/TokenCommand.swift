import ArgumentParser
import DriftlessCore
import DriftlessEngine
import DriftlessStore
import Foundation

/// `driftless token`: API tokens for `driftless serve`.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Make, list and revoke API tokens for `driftless serve`.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token for a User and print it once (only its hash is kept).",
            discussion: """
                The token belongs to the User named in the manifests; what it may see is decided by that \
                user's roles in the applied commit at each request (reader/member: their projects; admin of \
                a project: plans too; admin: true: everything). A user disabled or removed in git loses \
                access at the next reconcile.

                Example:
                  TOKEN=$(driftless token create --user alice)
                  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/status
                """
        )

        @Option(name: .long, help: "The User the token acts as.")
        var user: String

        @OptionGroup var stateOptions: StateOptions

        @OptionGroup var imageOptions: ImageDirectoryOptions

        func run() async throws {
            try await reportingErrors {
                let reconciler = try Reconciler(stateDirectory: stateOptions.directory)
                reconciler.imageDirectories = imageOptions.directories
                if let run = try reconciler.store.lastAppliedRun(), let repository = run.repository, let commit = run.commit,
                   let state = try? reconciler.source(repository, path: run.path ?? "").load(commit).state
                {
                    if case .failure = AccessPolicy(state: state).grant(for: user) {
                        Terminal.writeError("warning: no enabled User \"\(user)\" in the applied commit \(commit.prefix(12)); the token works once one is applied\n")
                    }
                } else {
                    Terminal.writeError("warning: nothing applied yet; the token works once a commit declaring User \"\(user)\" is applied\n")
                }
                let (token, record) = try reconciler.store.createToken(user: user)
                Terminal.writeError("token \(record.id) for \(user) (shown once; only its hash is kept)\n")
                Terminal.write(token + "\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (ids and users, never the tokens).")
        @OptionGroup var stateOptions: StateOptions

        func run() async throws {
            try await reportingErrors {
                let tokens = try Store(stateDirectory: stateOptions.directory).tokens()
                if tokens.isEmpty { return Terminal.write("No tokens.\n") }
                Terminal.write(tokens.map { "\($0.id)  \($0.user.padding(toLength: 16, withPad: " ", startingAt: 0))  \(timestamp($0.createdAt))" }
                    .joined(separator: "\n") + "\n")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id (from `token list`).")
        @Argument(help: "The token id.") var id: String
        @OptionGroup var stateOptions: StateOptions

        func run() async throws {
            try await reportingErrors {
                guard try Store(stateDirectory: stateOptions.directory).revokeToken(id: id) else {
                    throw ValidationError("no token \(id)")
                }
                Terminal.writeError("revoked \(id)\n")
            }
        }
    }
}
