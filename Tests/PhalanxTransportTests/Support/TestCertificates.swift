import Foundation
import PhalanxTransport

/// Certificates made once per test process with scripts/gen-certs.sh (the openssl CLI):
/// a cluster CA with coordinator, worker, client and wrong-cluster certificates, and a second,
/// unrelated CA with a client certificate.
enum TestCertificates {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static let directory: String = {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-tests-\(getpid())").path
        generate("\(base)/cluster", cluster: "demo", nodes: ["coordinator:coordinator", "w1:worker", "client:client", "admin:admin"])
        generate("\(base)/cluster", cluster: "prod", nodes: ["stranger:client"])
        generate("\(base)/other", cluster: "demo", nodes: ["client:client"])
        return base
    }()

    static func files(_ name: String, authority: String = "cluster") -> TLSFiles {
        let folder = "\(directory)/\(authority)"
        let caFolder = "\(directory)/cluster"  // everybody trusts the cluster CA
        return TLSFiles(caCertificatePath: "\(caFolder)/ca.pem", certificatePath: "\(folder)/\(name).pem", privateKeyPath: "\(folder)/\(name)-key.pem")
    }

    private static func generate(_ folder: String, cluster: String, nodes: [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repositoryRoot.appendingPathComponent("scripts/gen-certs.sh").path, folder, cluster] + nodes
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            fatalError("cannot run scripts/gen-certs.sh: \(error)")
        }
        precondition(process.terminationStatus == 0, "scripts/gen-certs.sh failed for \(folder)")
    }
}
