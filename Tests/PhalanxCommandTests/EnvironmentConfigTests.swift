import Testing

import Foundation

@testable import phalanx

/// A `PHALANX_*` variable with a typo is refused (the file's and `--set`'s typos are too),
/// naming the key it probably meant.
@Suite struct EnvironmentConfigTests {
    @Test func aMisspelledVariableIsRefusedWithTheClosestKey() throws {
        #expect(throws: ClusterConfig.Problem.self) { try ClusterConfig.load(file: nil, environment: ["PHALANX_COORDINATOR_PROT": "7500"], overrides: []) }
        let problem = ClusterConfig.unknownEnvironmentVariable(in: ["PHALANX_COORDINATOR_PROT": "7500", "HOME": "/root"])
        #expect(problem?.contains("PHALANX_COORDINATOR_PROT names no configuration key (did you mean PHALANX_COORDINATOR_PORT?)") == true, "\(problem ?? "")")
        let far = ClusterConfig.unknownEnvironmentVariable(in: ["PHALANX_NOSUCH": "1"])
        #expect(far?.contains("did you mean") == false, "no suggestion that is not a likely typo: \(far ?? "")")
    }

    @Test func keysAndTheOtherPhalanxVariablesAreAccepted() throws {
        let config = try ClusterConfig.load(
            file: nil, environment: ["PHALANX_COORDINATOR_PORT": "7500", "PHALANX_FAILPOINTS": "", "PHALANX_CERT_DAYS": "2", "PATH": "/bin"], overrides: [])
        #expect(config.integer("coordinator.port") == 7500)
    }

    @Test func aMisspelledSectionInTheFileIsNamedAsASection() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-section-\(UUID().uuidString).conf").path
        try "[coordinatr]\ndata_dir = \"x\"\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        do {
            _ = try ClusterConfig.load(file: file, environment: [:], overrides: [])
            Issue.record("a misspelled section must be refused")
        } catch {
            #expect(error.description.contains("unknown section [coordinatr]; known sections: admission"), "\(error)")
        }
    }
}
