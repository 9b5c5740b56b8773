import Crypto
import DriftlessCore
import Foundation
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Brings an image source into a private staged file (mode 0600), hashing while it copies: a `path:` file
/// opened by `ConfinedFile` under the operator's image directories, or a `url:` downloaded by
/// `HTTPImageDownloader`. The caller checks the digest and removes the file.
public struct ImageStager: Sendable {
    public var paths: ImagePathPolicy
    public var download: HTTPImageDownloader.Configuration

    public init(paths: ImagePathPolicy = .default, download: HTTPImageDownloader.Configuration = .init()) {
        self.paths = paths
        self.download = download
    }

    /// A staged copy of a source.
    public struct Staged: Sendable {
        public var file: URL
        public var sha256: String
        public var bytes: Int64
    }

    public func stage(_ source: ImageSpec.Source, in directory: URL = FileManager.default.temporaryDirectory) async throws -> Staged {
        let file = directory.appendingPathComponent("driftless-image-\(UUID().uuidString)")
        let output = Glibc.open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw ImageSourceError.pathUnreadable(path: file.path, reason: "cannot create the staged file: \(String(cString: strerror(errno)))")
        }
        do {
            defer { close(output) }
            let (sha256, bytes): (String, Int64)
            switch source {
            case let .path(path):
                (sha256, bytes) = try await NIOThreadPool.singleton.runIfActive { [paths, download] in
                    try Self.copy(path, policy: paths, limit: download.maxBytes, to: output)
                }
            case let .url(text):
                let downloaded = try await HTTPImageDownloader(configuration: download).download(text, to: output)
                (sha256, bytes) = (downloaded.sha256, downloaded.bytes)
            }
            guard fsync(output) == 0 || errno == EINVAL else {
                throw ImageSourceError.pathUnreadable(path: file.path, reason: "cannot write the staged file: \(String(cString: strerror(errno)))")
            }
            return Staged(file: file, sha256: sha256, bytes: bytes)
        } catch {
            unlink(file.path)
            throw error
        }
    }

    /// Copies an allowed file to `output`, hashing it; refuses one larger than `limit`.
    static func copy(_ path: String, policy: ImagePathPolicy, limit: Int64, to output: Int32) throws -> (String, Int64) {
        let input = try ConfinedFile.open(path, policy: policy)
        defer { close(input.descriptor) }
        if input.size > limit {
            throw ImageSourceError.tooLarge(source: path, limit: limit, declared: input.size)
        }
        var hasher = SHA256()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(input.descriptor, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageSourceError.pathUnreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            total += Int64(n)
            // The file may grow while it is read.
            if total > limit { throw ImageSourceError.tooLarge(source: path, limit: limit, declared: nil) }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: chunk)
            guard let base = chunk.baseAddress else { break }
            var offset = 0
            while offset < n {
                let w = write(output, base + offset, n - offset)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw ImageSourceError.pathUnreadable(path: path, reason: "cannot write the staged file: \(String(cString: strerror(errno)))")
                }
                offset += w
            }
        }
        return (StableHash.hex(hasher.finalize()), total)
    }
}
