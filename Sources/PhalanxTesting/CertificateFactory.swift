import Foundation
import PhalanxTransport

/// Test support: node certificates made with the repository's own `scripts/gen-certs.sh`
/// (the openssl CLI), so tests exercise exactly the certificates users get.
public enum CertificateFactory {
    /// The repository's root folder (this file is `Sources/PhalanxTesting/CertificateFactory.swift`).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Why certificates could not be made.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Makes (or reuses) a CA in `folder` and one certificate per `NAME:ROLE` in `nodes` for `cluster`;
    /// `validDays` -1 makes certificates that have already expired.
    public static func generate(in folder: String, cluster: String, nodes: [String], validDays: Int? = nil) throws {
        let process = Process()
        if let validDays {
            process.environment = ProcessInfo.processInfo.environment.merging(["PHALANX_CERT_DAYS": "\(validDays)"]) { $1 }
        }
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repositoryRoot.appendingPathComponent("scripts/gen-certs.sh").path, folder, cluster] + nodes
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot run scripts/gen-certs.sh: \(error)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "scripts/gen-certs.sh failed (status \(process.terminationStatus)) for \(folder)")
        }
    }

    /// The TLS files of `node` in `folder`, trusting the CA in `caFolder` (by default the same folder).
    public static func files(in folder: String, node: String, caFolder: String? = nil) -> TLSFiles {
        TLSFiles(
            caCertificatePath: "\(caFolder ?? folder)/ca.pem", certificatePath: "\(folder)/\(node).pem",
            privateKeyPath: "\(folder)/\(node)-key.pem")
    }
}
