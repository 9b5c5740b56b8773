import CLibGit2
import DriftlessCore
import Foundation

/// A failed libgit2 call: libgit2's error code and class, its message (credentials removed) and the call.
public struct GitError: Error, CustomStringConvertible, Sendable {
    /// libgit2's `git_error_code`, kept by number so unknown codes stay representable.
    public struct Code: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let generic = Code(rawValue: GIT_ERROR.rawValue)
        public static let notFound = Code(rawValue: GIT_ENOTFOUND.rawValue)
        public static let exists = Code(rawValue: GIT_EEXISTS.rawValue)
        public static let ambiguous = Code(rawValue: GIT_EAMBIGUOUS.rawValue)
        public static let invalidSpec = Code(rawValue: GIT_EINVALIDSPEC.rawValue)
        public static let auth = Code(rawValue: GIT_EAUTH.rawValue)
        public static let certificate = Code(rawValue: GIT_ECERTIFICATE.rawValue)
        public static let peel = Code(rawValue: GIT_EPEEL.rawValue)
        public static let locked = Code(rawValue: GIT_ELOCKED.rawValue)
    }

    public var code: Code
    /// libgit2's error class (`git_error_t`): net, odb, reference…
    public var errorClass: Int32
    public var message: String
    /// The libgit2 function that failed.
    public var function: String

    public var description: String {
        "\(function) failed: \(message) (libgit2 error \(code.rawValue), class \(errorClass))"
    }

    public var isNotFound: Bool { code == .notFound }
}

/// Errors of the git source that are not a single failed libgit2 call.
public enum GitSourceError: Error, CustomStringConvertible, Sendable {
    case revisionNotFound(String, repository: String)
    case pathNotFound(String, revision: String)
    case pathNotADirectory(String)
    case invalidPath(String)
    case notARepository(String)
    case credentials(String)

    public var description: String {
        switch self {
        case let .revisionNotFound(rev, repository): "revision \"\(rev)\" not found in \(repository)"
        case let .pathNotFound(path, rev): "path \"\(path)\" does not exist at \(rev)"
        case let .pathNotADirectory(path): "path \"\(path)\" is not a directory in the commit"
        case let .invalidPath(path): "path \"\(path)\" is not a relative path inside the repository"
        case let .notARepository(path): "\(path) is not a git repository"
        case let .credentials(message): message
        }
    }
}

/// Runs libgit2 calls and turns a negative return code into `GitError`, reading the thread's last error in
/// the same synchronous call (libgit2 keeps it per thread).
enum LibGit2 {
    /// Initialises libgit2 once per process.
    static let initialized: Bool = {
        git_libgit2_init()
        return true
    }()

    @discardableResult
    static func check(_ result: Int32, _ function: String, redacting secrets: [String] = []) throws -> Int32 {
        guard result < 0 else { return result }
        var message = "unknown error"
        var errorClass: Int32 = 0
        if let last = git_error_last() {
            if let text = last.pointee.message { message = String(cString: text) }
            errorClass = last.pointee.klass
        }
        throw GitError(
            code: GitError.Code(rawValue: result), errorClass: errorClass,
            message: Redaction.redact(message, secrets: secrets), function: function)
    }
}

/// Removes credentials from URLs before they reach an error message or a log.
public enum Redaction {
    /// `https://user:token@host/repo` → `https://***@host/repo`; also removes each of `secrets`
    /// (`URLRedaction`, the core's one redactor).
    public static func redact(_ text: String, secrets: [String] = []) -> String {
        URLRedaction.redact(text, secrets: secrets, userInfo: .masked)
    }

    /// The URL without its user information, for display.
    public static func displayURL(_ url: String) -> String { redact(url) }
}
