import Foundation
import PhalanxTesting
import PhalanxTransport

/// Certificates made once per test process: a cluster CA with coordinator, worker, client and
/// wrong-cluster certificates, and a second, unrelated CA with a client certificate.
enum TestCertificates {
    static let directory: String = {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-tests-\(getpid())").path
        do {
            try CertificateFactory.generate(
                in: "\(base)/cluster", cluster: "demo", nodes: ["coordinator:coordinator", "w1:worker", "client:client", "admin:admin"])
            try CertificateFactory.generate(in: "\(base)/cluster", cluster: "prod", nodes: ["stranger:client"])
            try CertificateFactory.generate(in: "\(base)/other", cluster: "demo", nodes: ["client:client"])
        } catch {
            fatalError("test certificates: \(error)")
        }
        return base
    }()

    /// Node `name`'s files from `authority`'s folder; everybody trusts the cluster CA.
    static func files(_ name: String, authority: String = "cluster") -> TLSFiles {
        CertificateFactory.files(in: "\(directory)/\(authority)", node: name, caFolder: "\(directory)/cluster")
    }
}
