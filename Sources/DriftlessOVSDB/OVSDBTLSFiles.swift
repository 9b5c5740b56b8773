import Foundation
import NIOCore
import NIOSSL

/// The controller's TLS identity for `ssl:` OVSDB endpoints, as PEM files the operator gives (never a
/// repository): its private key and certificate, and the CA that signed the servers' certificates.
public struct OVSDBTLSFiles: Sendable, Equatable {
    public var privateKey: String
    public var certificate: String
    public var caCertificate: String

    public init(privateKey: String, certificate: String, caCertificate: String) {
        self.privateKey = privateKey
        self.certificate = certificate
        self.caCertificate = caCertificate
    }

    /// The files of libvirt's `pkipath` layout in `directory` (`clientkey.pem`, `clientcert.pem`,
    /// `cacert.pem`), so one directory serves libvirt's TLS and OVSDB's.
    public init(pkiDirectory directory: String) {
        self.init(privateKey: directory + "/clientkey.pem", certificate: directory + "/clientcert.pem",
                  caCertificate: directory + "/cacert.pem")
    }

    /// A client context that verifies the server's chain against the CA and its name (or address)
    /// against the endpoint's host.
    func context() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        configuration.trustRoots = .file(caCertificate)
        configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem))
        return try NIOSSLContext(configuration: configuration)
    }
}
