import CLibGit2
import DriftlessCore
import Foundation

extension GitRepository {
    /// Opens what an earlier `fetch(url:cacheRoot:)` left in `cacheRoot`, without contacting the remote:
    /// the daemon restores its last applied commit from here when it starts, so a remote that is down
    /// does not leave it blind. Throws `notARepository` when nothing was fetched yet.
    public static func openCache(url: String, cacheRoot: String) throws -> GitRepository {
        _ = LibGit2.initialized
        let display = Redaction.displayURL(url)
        let directory = (cacheRoot as NSString).appendingPathComponent(cacheName(for: display))
        guard FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("HEAD")) else {
            throw GitSourceError.notARepository("the fetch cache of \(display)")
        }
        var repo: OpaquePointer?
        try LibGit2.check(git_repository_open_bare(&repo, directory), "git_repository_open_bare")
        guard let repo else { throw GitError(code: .notFound, errorClass: 0, message: "no repository", function: "git_repository_open_bare") }
        return GitRepository(owning: repo, displayName: display, isRemoteCache: true)
    }

    /// Opens a local path, or the fetch cache of a remote URL, without fetching.
    public static func openWithoutFetching(_ location: String, cacheRoot: String) throws -> GitRepository {
        isRemote(location) ? try openCache(url: location, cacheRoot: cacheRoot) : try open(path: location)
    }

    /// Whether the repository has the commit `id` (a full hex id) in its object database.
    public func contains(commit id: String) -> Bool {
        (try? resolve(id)) == id
    }
}
