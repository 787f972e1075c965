import Foundation
import PhalanxClient
import PhalanxTesting
import Testing

extension EndToEnd {
    /// Configuration problems exit 2 before anything listens, with a message that names the file and the fix.
    @Suite(.timeLimit(.minutes(1))) struct StartupErrorEndToEndTests {
        /// Runs `phalanx coordinator` with the cluster's settings plus `extra`.
        private func coordinator(_ cluster: ClusterProcesses, _ extra: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try ClusterProcesses.runToCompletion(["coordinator"] + cluster.commonArguments + ["--set", "coordinator.port=0"] + extra)
        }

        /// A copy of the cluster's certificate folder in which `change` has been made.
        private func brokenCopy(of cluster: ClusterProcesses, _ change: (String) throws -> Void) throws -> String {
            let copy = cluster.directory.appendingPathComponent("certs-\(UUID().uuidString.prefix(6))").path
            try FileManager.default.copyItem(atPath: cluster.certificates, toPath: copy)
            try change(copy)
            return copy
        }

        @Test func unusableTLSMaterialIsAConfigurationErrorNamingTheFile() throws {
            let cluster = try ClusterProcesses()
            let missing = try brokenCopy(of: cluster) { try FileManager.default.removeItem(atPath: "\($0)/coordinator.pem") }
            let noFile = try coordinator(cluster, ["--set", "tls.dir=\(missing)"])
            #expect(noFile.status == 2 && noFile.stderr.contains("\(missing)/coordinator.pem does not exist"), "\(noFile.stderr)")

            let garbage = try brokenCopy(of: cluster) { try "not a certificate\n".write(toFile: "\($0)/coordinator.pem", atomically: true, encoding: .utf8) }
            let notPEM = try coordinator(cluster, ["--set", "tls.dir=\(garbage)"])
            #expect(notPEM.status == 2 && notPEM.stderr.contains("is not a PEM certificate"), "\(notPEM.stderr)")

            let swapped = try brokenCopy(of: cluster) {
                try FileManager.default.removeItem(atPath: "\($0)/coordinator-key.pem")
                try FileManager.default.copyItem(atPath: "\($0)/w1-key.pem", toPath: "\($0)/coordinator-key.pem")
            }
            let mismatched = try coordinator(cluster, ["--set", "tls.dir=\(swapped)"])
            #expect(mismatched.status == 2 && mismatched.stderr.contains("does not belong to the certificate"), "\(mismatched.stderr)")
            #expect(!mismatched.stderr.contains("failedToLoadPrivateKey"))

            let garbageKey = try brokenCopy(of: cluster) { try "not a key\n".write(toFile: "\($0)/w1-key.pem", atomically: true, encoding: .utf8) }
            let worker = try ClusterProcesses.runToCompletion(["worker"] + cluster.commonArguments + ["--name", "w1", "--set", "tls.dir=\(garbageKey)"])
            #expect(worker.status == 2 && worker.stderr.contains("w1-key.pem is not a PEM private key"), "\(worker.stderr)")
            let client = try ClusterProcesses.runToCompletion(["status"] + cluster.commonArguments + ["--set", "tls.dir=\(missing)", "--name", "coordinator"])
            #expect(client.status == 2 && client.stderr.contains("does not exist"), "\(client.stderr)")
        }

        /// Checked before anything is dialled: a worker's certificate for a client command got
        /// misleading answers from the coordinator (a transaction "SUPERSEDED", a refused submit
        /// "maybe accepted"), and a certificate of another cluster was used as if it were this one's.
        @Test func aCertificateOfAnotherRoleOrClusterIsAConfigurationErrorForClientsAndWorkers() throws {
            let cluster = try ClusterProcesses()
            let nowhere = cluster.commonArguments + ["--set", "coordinator.port=1"]
            for command in [["status"], ["submit", "--kind", "echo", "--payload", "hi"], ["tx", "run", "w1:x=1"]] {
                let asWorker = try ClusterProcesses.runToCompletion(command + nowhere + ["--name", "w1"])
                #expect(asWorker.status == 2 && asWorker.stderr.contains("is a worker certificate") && asWorker.stderr.contains("needs a client or admin certificate"), "\(command): \(asWorker)")
                #expect(!asWorker.stdout.contains("accepted"), "\(asWorker.stdout)")
            }
            let otherCluster = try ClusterProcesses.runToCompletion(["status"] + nowhere + ["--set", "cluster.name=other"])
            #expect(otherCluster.status == 2 && otherCluster.stderr.contains("a certificate of cluster 'demo'; cluster.name is 'other'"), "\(otherCluster)")
            let worker = try ClusterProcesses.runToCompletion(["worker"] + nowhere + ["--name", "w1", "--set", "cluster.name=other"])
            #expect(worker.status == 2 && worker.stderr.contains("phalanx://other/worker/NAME"), "\(worker)")
            let admin = try ClusterProcesses.runToCompletion(["status"] + nowhere + ["--name", "admin"])
            #expect(admin.status != 2 && !admin.stderr.contains("configuration error"), "an admin certificate may ask for the status: \(admin)")
            #expect(admin.status == 1 && admin.stderr.contains("cannot connect to the coordinator"), "\(admin)")
            let audit = try ClusterProcesses.runToCompletion(["audit"] + nowhere)
            #expect(audit.status == 2 && audit.stderr.contains("cannot connect to the coordinator"), "an unreachable coordinator could not be audited (1 means violations): \(audit)")
        }

        @Test func aCoordinatorWithAnExpiredCertificateRefusesToStartNamingTheDate() throws {
            let cluster = try ClusterProcesses()
            let expired = try brokenCopy(of: cluster) {
                for file in ["coordinator.pem", "coordinator-key.pem"] { try FileManager.default.removeItem(atPath: "\($0)/\(file)") }
                try CertificateFactory.generate(in: $0, cluster: "demo", nodes: ["coordinator:coordinator"], validDays: -1)
            }
            let result = try coordinator(cluster, ["--set", "tls.dir=\(expired)"])
            #expect(result.status == 2 && result.stderr.contains("expired on 20"), "\(result.stderr)")
            #expect(!result.stderr.contains("listening"))
        }

        @Test func addressProblemsAreReportedForWhatTheyAre() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let badHost = try coordinator(cluster, ["--set", "coordinator.host=not a host!"])
            #expect(badHost.status == 2 && badHost.stderr.contains("not a host!") && !badHost.stderr.contains("in use"), "\(badHost.stderr)")
            #expect(!badHost.stderr.contains("task ledger opened") && !badHost.stderr.contains("listening"), "refused before anything is opened: \(badHost.stderr)")
            let failpoint = try ClusterProcesses.runToCompletion(
                ["coordinator"] + cluster.commonArguments + ["--set", "coordinator.port=0"], environment: ["PHALANX_FAILPOINTS": "bogus.point"])
            #expect(failpoint.status == 2 && failpoint.stderr.contains("PHALANX_FAILPOINTS names unknown failpoints bogus.point"), "\(failpoint.stderr)")
            let clientHost = try ClusterProcesses.runToCompletion(["status"] + cluster.commonArguments + ["--set", "coordinator.host= 127.0.0.1"])
            #expect(clientHost.status == 2 && clientHost.stderr.contains("coordinator.host: ' 127.0.0.1'"), "\(clientHost.stderr)")
            let badMetrics = try coordinator(cluster, ["--set", "metrics.coordinator_address=999.1.1.1:9464"])
            #expect(badMetrics.status == 2 && badMetrics.stderr.contains("metrics.coordinator_address: '999.1.1.1'"), "\(badMetrics.stderr)")

            try await cluster.startCoordinator()
            // A port in use is not a mistake in the configuration but a state of the machine: exit 1.
            let taken = try coordinator(
                cluster, ["--set", "coordinator.port=\(cluster.port)", "--set", "coordinator.data_dir=\(cluster.directory.path)/second"])
            #expect(taken.status == 1 && taken.stderr.contains("the port is in use"), "\(taken.stderr)")
        }

        @Test func usageErrorsExitTwo() throws {
            let cluster = try ClusterProcesses()
            let zero = try ClusterProcesses.runToCompletion(["submit", "--count", "0", "--kind", "echo"] + cluster.commonArguments)
            #expect(zero.status == 2 && zero.stderr.contains("count"), "\(zero.stderr)")
            let breaker = try ClusterProcesses.runToCompletion(["breaker", "open"] + cluster.commonArguments)
            #expect(breaker.status == 2 && breaker.stderr.contains("needs a worker name"), "\(breaker.stderr)")
            // A negative number is a value out of range, not a missing one.
            for (arguments, named) in [
                (["submit", "--kind", "echo", "--count", "-5"], "--count must be in 1...10000000, got -5"),
                (["bank", "seed", "--accounts", "-1"], "--accounts must be 2 to 20000 (a transfer moves money between two), got -1"),
                (["audit", "--timeout-ms", "-1"], "--timeout-ms must be 1000 to 600000, got -1"),
                (["tx", "transfer", "--from", "w1:a", "--to", "w2:b", "--amount", "-10"], "--amount must be more than 0, got -10"),
            ] {
                let negative = try ClusterProcesses.runToCompletion(arguments + cluster.commonArguments)
                #expect(negative.status == 2 && negative.stderr.contains(named), "\(arguments): \(negative.stderr)")
            }
            // Configuration that cannot work is refused up front, naming what is wrong.
            for (arguments, named) in [
                (["worker", "--name", "w1", "--set", "coordinator.port=0"], "a worker or client must dial the port it listens on"),
                (["status", "--set", "coordinator.port=0"], "a worker or client must dial the port it listens on"),
                (["status", "--set", "cluster.name=a b"], "cluster.name must be non-empty letters, digits"),
            ] {
                let refused = try ClusterProcesses.runToCompletion(arguments + cluster.commonArguments)
                #expect(refused.status == 2 && refused.stderr.contains(named), "\(arguments): \(refused.stderr)")
            }
            let longID = String(repeating: "x", count: 257)
            for id in ["", longID] {
                let bad = try ClusterProcesses.runToCompletion(["result"] + cluster.commonArguments + [id])
                #expect(bad.status == 2 && bad.stderr.contains("a task id is 1-256 bytes"), "\(bad.stderr)")
            }
        }

        @Test func aWorkerWhoseCoordinatorCutsOffTheTLSHandshakeKeepsReconnecting() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            // A listener that takes each connection, reads its first bytes and hangs up: a coordinator
            // that dies during every handshake.
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            server.arguments = ["python3", "-c", """
                import os, socket
                s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16); s.settimeout(1); print(s.getsockname()[1], flush=True)
                parent = os.getppid()
                while os.getppid() == parent:  # ends with the test process, also when it fails
                    try:
                        c, _ = s.accept(); c.settimeout(1); c.recv(4096); c.close()
                    except OSError:
                        pass
                """]
            let output = Pipe()
            server.standardOutput = output
            server.standardError = FileHandle.nullDevice
            try server.run()
            defer {
                // SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
                Foundation.kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
            let portLine = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            let port = try #require(Int(portLine.trimmingCharacters(in: .whitespacesAndNewlines)), "the listener printed \(portLine)")

            try cluster.startCommand("w1", ["worker"] + cluster.commonArguments + [
                "--name", "w1", "--set", "coordinator.port=\(port)", "--set", "worker.data_dir=\(cluster.directory.path)/workers",
            ])
            try await eventually("w1 tried at least three times", within: .seconds(20)) {
                cluster.log("w1").components(separatedBy: "closed the connection during the TLS handshake").count > 3
            }
            #expect(try await cluster.waitForExit("w1", within: .milliseconds(1)) == nil, "w1 gave up: \(cluster.log("w1"))")
            #expect(!cluster.log("w1").contains("UNAUTHENTICATED"), "\(cluster.log("w1"))")
        }

        @Test func aSubmitOfAKindNoRegisteredWorkerServesIsAcceptedWithAWarningThatNamesTheKindsServed() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            let typo = try ClusterProcesses.runToCompletion(["submit", "--kind", "ecoh", "--payload", "x"] + cluster.clientArguments)
            #expect(typo.status == 0 && typo.stdout.contains("accepted 1 task(s)"), "\(typo)")
            #expect(typo.stderr.contains("no registered worker serves kind 'ecoh'") && typo.stderr.contains("echo"), "\(typo.stderr)")
            let fine = try ClusterProcesses.runToCompletion(["submit", "--kind", "echo", "--payload", "x"] + cluster.clientArguments)
            #expect(fine.status == 0 && !fine.stderr.contains("warning"), "\(fine.stderr)")
            await client.close()
        }

        @Test func aWorkerKilledWithSigkillIsLoggedAsALostConnectionNotAFailedHandshake() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            cluster.kill("w1")
            try await eventually("the coordinator notices") { try await client.status().workers.isEmpty }
            #expect(!cluster.log("coordinator").contains("TLS handshake failed"), "\(cluster.log("coordinator"))")
            await client.close()
        }
    }
}
