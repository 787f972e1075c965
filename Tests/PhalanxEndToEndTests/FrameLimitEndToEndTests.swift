import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import PhalanxTesting
import PhalanxTransport
import PhalanxWire
import Testing

extension EndToEnd {
    /// Every frame on every path fits the receiver's limit; the largest payload is enforced at submit.
    @Suite(.timeLimit(.minutes(1))) struct FrameLimitEndToEndTests {
        static let frameBytes = 65_536
        static let largestPayload = frameBytes - TaskLimits.frameReserveBytes

        @Test func aPayloadAtTheLimitRunsAndOneByteMoreIsRefusedWithInvalidArgument() async throws {
            let cluster = try ClusterProcesses(settings: ["limits.max_frame_bytes=\(Self.frameBytes)"])
            defer { cluster.stopAll() }
            let client = try await Self.startWithOneWorker(cluster, clientFrameBytes: Self.frameBytes)
            #expect(client.maximumPayloadBytes == Self.largestPayload)

            let atLimit = [UInt8](repeating: 0x61, count: Self.largestPayload)
            let outcome = try await client.run([TaskRequest(taskID: "at-limit", kind: "echo", payload: atLimit)])[0]
            #expect(try outcome.result.get() == atLimit)

            // Past the limit: the client refuses before sending, and so does the coordinator for a peer that sends anyway.
            let pastLimit = [UInt8](repeating: 0x61, count: Self.largestPayload + 1)
            let refused = await #expect(throws: ErrorContext.self) {
                try await client.submit([TaskRequest(taskID: "past-limit", kind: "echo", payload: pastLimit)])
            }
            #expect(refused?.code == .invalidArgument && refused?.message.contains("\(Self.largestPayload) bytes") == true)
            let raw = try await cluster.rawPeer()
            try await raw.submit(requestID: 7, [(id: "past-limit", kind: "echo", payload: pastLimit)])
            let ack = try #require(await raw.acknowledgement(of: 7))
            #expect(ack.accepted == 0 && ack.error.code == .invalidArgument && ack.error.taskID == "past-limit")
            #expect(ack.error.message.contains("larger than the largest accepted, \(Self.largestPayload) bytes"), "\(ack.error.message)")
            #expect(try await client.status().tasksAccepted == 1)
            await client.close()
        }

        @Test func tenNearLimitTasksQueuedForAWorkerAreDispatchedAndReturnedInFramesThatFit() async throws {
            let cluster = try ClusterProcesses(settings: ["limits.max_frame_bytes=\(Self.frameBytes)"])
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let client = try await cluster.client(limits: Self.clientLimits(frameBytes: Self.frameBytes))

            // Ten near-limit tasks wait for a worker, so its registration assigns all ten at once
            // (about ten times the frame limit), as it would when a busy worker's slots free up together.
            let big = (0..<10).map { index in
                TaskRequest(taskID: "big-\(index)", kind: "echo", payload: [UInt8](repeating: UInt8(index), count: Self.largestPayload))
            }
            try await client.submit(big)
            try cluster.startWorker("w1", capacity: 12)
            for request in big {
                let outcome = await client.outcome(of: request.taskID)
                #expect(try outcome.result.get() == request.payload, "\(request.taskID)")
                #expect(outcome.attempt == 1, "\(request.taskID) was re-run: a frame did not fit")
            }
            #expect(!cluster.log("w1").contains("FRAME_TOO_LARGE") && !cluster.log("coordinator").contains("FRAME_TOO_LARGE"))
            #expect(await client.resultsReceived == 10)
            await client.close()
        }

        /// A worker that announces smaller frames than the coordinator's gets only the tasks they
        /// carry; the larger ones run on the worker whose frames carry them (they used to fail
        /// INVALID_ARGUMENT whenever the small worker was the least loaded).
        @Test func tasksTooLargeForOneWorkersFramesRunOnAnotherWorkerWithLargerFrames() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            try cluster.startWorker("w1", ["--set", "limits.max_frame_bytes=\(Self.frameBytes)"])
            try cluster.startWorker("w2")
            let client = try await cluster.client()
            try await cluster.waitForWorkers(2, using: client)

            let smallWorkersLargest = Self.largestPayload
            let workers = try await client.status().workers
            #expect(workers.first { $0.name == "w1" }?.maximumPayloadBytes == UInt64(smallWorkersLargest), "\(workers)")
            #expect(workers.first { $0.name == "w2" }?.maximumPayloadBytes == UInt64(client.maximumPayloadBytes), "\(workers)")
            let status = try ClusterProcesses.runToCompletion(["status"] + cluster.clientArguments)
            #expect(status.stdout.contains("breaker closed, payloads up to \(smallWorkersLargest) bytes, kinds"), "\(status)")

            // Past what one command-line argument holds (128 KiB): from a file, to the worker that takes it.
            let file = cluster.directory.appendingPathComponent("payload.bin")
            try Data(repeating: UInt8(ascii: "b"), count: 200_000).write(to: file)
            let submitted = try ClusterProcesses.runToCompletion(["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload-file", file.path, "--wait"])
            #expect(submitted.status == 0 && submitted.stdout.contains("ok (w2, attempt 1): " + String(repeating: "b", count: 200_000)), "\(submitted.status) \(submitted.stderr)")
            #expect(!submitted.stderr.contains("warning"), "\(submitted.stderr)")

            let requests = (0..<20).map { index in
                let bytes = index.isMultiple(of: 2) ? smallWorkersLargest + 1 : smallWorkersLargest
                return TaskRequest(taskID: "t-\(index)", kind: "echo", payload: [UInt8](repeating: UInt8(index), count: bytes))
            }
            let outcomes = try await client.run(requests)
            for (request, outcome) in zip(requests, outcomes) {
                #expect(try outcome.result.get() == request.payload, "\(request.taskID)")
                if request.payload.count > smallWorkersLargest { #expect(outcome.worker == "w2", "\(request.taskID) ran on \(outcome.worker ?? "-")") }
            }
            #expect(Set(outcomes.compactMap(\.worker)) == ["w1", "w2"], "the small worker still gets the tasks its frames carry")
            #expect(!cluster.log("w1").contains("FRAME_TOO_LARGE") && !cluster.log("coordinator").contains("FRAME_TOO_LARGE"))
            await client.close()
        }

        /// `submit --payload-file` reads any bytes up to the largest payload (and no further), and
        /// warns when no registered worker of the kind has frames that carry the payload: its
        /// tasks wait (here until their deadline) rather than fail.
        @Test func submitReadsThePayloadFromAFileAndWarnsWhenNoWorkerOfTheKindTakesItsSize() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            try cluster.startWorker("w1", ["--set", "limits.max_frame_bytes=\(Self.frameBytes)"])
            let client = try await cluster.client()
            try await cluster.waitForWorkers(1, using: client)
            await client.close()
            func submit(_ bytes: Int, _ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
                let file = cluster.directory.appendingPathComponent("payload-\(bytes).bin")
                try Data(repeating: 0x7A, count: bytes).write(to: file)
                return try ClusterProcesses.runToCompletion(["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload-file", file.path] + extra)
            }

            let fits = try submit(Self.largestPayload, ["--wait"])
            #expect(fits.status == 0 && fits.stdout.contains("ok (w1, attempt 1)") && !fits.stderr.contains("warning"), "\(fits.status) \(fits.stderr)")
            let waits = try submit(Self.largestPayload + 1, ["--wait", "--timeout-ms", "1500"])
            #expect(waits.status == 3 && waits.stdout.contains("DEADLINE_EXCEEDED"), "\(waits.status) \(waits.stdout.suffix(400))")
            #expect(
                waits.stderr.contains("warning: no registered worker of kind 'echo' takes a payload of \(Self.largestPayload + 1) bytes (the largest each one's frames carry: w1 \(Self.largestPayload))"),
                "\(waits.stderr)")

            // Past the client's own largest payload (its limits.max_frame_bytes, 4 MiB here): refused before connecting, read no further.
            let clientLargest = TaskLimits.maximumPayloadBytes(forFrameBytes: EstablishedPeer.defaultMaximumFrameBytes)
            let tooLarge = try submit(clientLargest + 1)
            #expect(tooLarge.status == 2 && tooLarge.stderr.contains("has more than \(clientLargest) bytes; the largest task payload is"), "\(tooLarge)")
            // A client whose own frames are larger: no promise that the task waits, the coordinator's limit instead.
            let pastCoordinator = try submit(clientLargest + 1, ["--set", "limits.max_frame_bytes=16777216"])
            #expect(pastCoordinator.status != 0 && !pastCoordinator.stderr.contains("warning"), "\(pastCoordinator.status) \(pastCoordinator.stderr)")
            #expect(pastCoordinator.stderr.contains("larger than the largest the coordinator accepts, \(clientLargest) bytes"), "\(pastCoordinator.stderr)")
            for both in [try submit(10, ["--payload", "x"]), try submit(10, ["--payload", ""])] {
                #expect(both.status == 2 && both.stderr.contains("--payload or with --payload-file, not both"), "\(both)")
            }

            // Bytes that are not UTF-8 come back whole: as base64 in --json, named as such in text.
            let binary = cluster.directory.appendingPathComponent("binary.bin")
            let bytes: [UInt8] = [0x61, 0x00, 0xFF, 0x0A]
            try Data(bytes).write(to: binary)
            let echoed = try ClusterProcesses.runToCompletion(["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload-file", binary.path, "--wait", "--json"])
            let parsed = try JSONSerialization.jsonObject(with: Data(echoed.stdout.utf8)) as? [String: Any]
            let entry = (parsed?["results"] as? [[String: Any]])?.first
            #expect(echoed.status == 0 && (entry?["output_base64"] as? String).flatMap { Data(base64Encoded: $0) } == Data(bytes), "\(echoed)")
            let text = try ClusterProcesses.runToCompletion(["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload-file", binary.path, "--wait"])
            #expect(text.stdout.contains("(4 bytes, not UTF-8 text; --json gives them as output_base64)"), "\(text)")
            let missing = try ClusterProcesses.runToCompletion(["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload-file", "/nonexistent/p"])
            #expect(missing.status == 2 && missing.stderr.contains("--payload-file /nonexistent/p: cannot open it for reading"), "\(missing)")
            let accepted = try await cluster.client()
            #expect(try await accepted.status().tasksAccepted == 4, "the refused submits sent nothing")
            await accepted.close()
        }

        /// Submit frames are cut by the tasks' exact sizes, every field counted: an estimate that left
        /// out the idempotency key once sent 71,590-byte frames to a coordinator of 32 KiB, which
        /// closed the connection each time, and the CLI reconnected and sent them again forever.
        @Test func thousandsOfTasksWithTheLongestIdsAndIdempotencyKeysGoInFramesThatFit() async throws {
            let cluster = try ClusterProcesses(settings: ["limits.max_frame_bytes=\(Self.frameBytes)"])
            defer { cluster.stopAll() }
            let client = try await Self.startWithOneWorker(cluster, clientFrameBytes: Self.frameBytes)
            let requests = (0..<2_000).map { index in
                let suffix = "-\(index)"
                var request = TaskRequest(
                    taskID: String(repeating: "i", count: TaskLimits.maximumTaskIDBytes - suffix.utf8.count) + suffix, kind: "echo", text: "x")
                request.idempotencyKey = String(repeating: "k", count: TaskLimits.maximumIdempotencyKeyBytes - suffix.utf8.count) + suffix
                return request
            }
            let outcomes = try await client.run(requests)
            #expect(outcomes.count == 2_000 && outcomes.allSatisfy { (try? $0.result.get()) == Array("x".utf8) })
            #expect(try await client.status().tasksAccepted == 2_000)
            #expect(!(await client.isClosed) && !cluster.log("coordinator").contains("FRAME_TOO_LARGE"))
            await client.close()
        }

        @Test func aResultLargerThanTheClientsOwnFrameLimitComesBackAsAnErrorThatSaysSo() async throws {
            let cluster = try ClusterProcesses(settings: ["limits.max_frame_bytes=\(Self.frameBytes)"])
            defer { cluster.stopAll() }
            let client = try await Self.startWithOneWorker(cluster, clientFrameBytes: FrameLimits.minimumBytes)  // this client reads smaller frames than the cluster's

            let trace = TraceContext.newTrace()
            let outcomes = try await TraceContext.$current.withValue(trace) {
                try await client.run([
                    TaskRequest(taskID: "fits", kind: "echo", payload: [UInt8](repeating: 1, count: 32_000)),
                    TaskRequest(taskID: "too-big", kind: "echo", payload: [UInt8](repeating: 2, count: 40_000)),
                ])
            }
            let byID = Dictionary(uniqueKeysWithValues: outcomes.map { ($0.taskID, $0) })
            #expect(try byID["fits"]?.result.get() == [UInt8](repeating: 1, count: 32_000))
            guard case .failure(let error)? = byID["too-big"]?.result else {
                Issue.record("a result past the client's frame limit was not replaced: \(String(describing: byID["too-big"]))")
                return
            }
            #expect(error.code == .internal && error.message.contains("more than this client's frame limit of 32768 bytes"), "\(error.message)")
            #expect(error.message.hasPrefix("the task succeeded (an output of 40000 bytes), but its result needs about"), "\(error.message)")
            #expect(error.traceID == trace.traceID && error.originNode == "coordinator", "the coordinator's error carries the task's trace")
            #expect(error.message.contains("phalanx result too-big --set limits.max_frame_bytes="), "\(error.message)")
            // The hint is true: with the limit it names, the result itself comes back.
            let suggested = error.message.firstMatch(of: /max_frame_bytes=(\d+)/).map { String($0.1) } ?? ""
            let reread = try ClusterProcesses.runToCompletion(["result", "too-big", "--json"] + cluster.clientArguments + ["--set", "limits.max_frame_bytes=\(suggested)"])
            #expect(reread.status == 0 && reread.stdout.contains("\"ok\"") && !reread.stdout.contains("INTERNAL"), "\(suggested): \(reread)")
            #expect(!cluster.log("coordinator").contains("FRAME_TOO_LARGE"))
            await client.close()
        }

        @Test func cancelAndDeadLetterRequestsAreCutSoTheirRepliesFitTheClientsSmallerFrames() async throws {
            let cluster = try ClusterProcesses(settings: ["limits.max_frame_bytes=\(Self.frameBytes)"])
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let limits = Self.clientLimits(frameBytes: FrameLimits.minimumBytes)
            // 2,000 ids of 40 bytes: about 88 KB, more than both ends' frames, so the requests are cut,
            // and each reply (which names every id again) must fit the client's 32 KiB.
            let ids = (0..<2_000).map { "never-submitted-task-\(String(repeating: "0", count: 15))\(String(format: "%04d", $0))" }

            let client = try await cluster.client(limits: limits)
            let cancelled = try await client.cancel(ids)
            #expect(cancelled.cancelled.isEmpty && Set(cancelled.notRunning) == Set(ids))
            #expect(!(await client.isClosed))
            await client.close()

            let admin = try await cluster.client("admin", limits: limits)
            let keys = ids.map { DeadLetterEntry.Key(client: "client", taskID: $0) }
            for action in [DeadLetterAction.purge(keys), .retry(keys)] {
                let report = try await admin.deadLetters(action)
                #expect(report.entries.isEmpty && report.omitted == 0 && Set(report.missing.map(\.taskID)) == Set(ids), "\(action)")
            }
            #expect(!(await admin.isClosed))
            await admin.close()
            #expect(!cluster.log("coordinator").contains("FRAME_TOO_LARGE"))
        }

        @Test func statusAndHistoriesLargerThanTheClientsFramesComeShortenedOrInParts() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await Self.startWithOneWorker(cluster, clientFrameBytes: FrameLimits.minimumBytes)
            // A second worker serving 1,000 kinds of 60 bytes: about 64 KB of kinds, twice the client's frames.
            let raw = try await cluster.rawPeer("w2")
            var registration = Phalanx_V1_RegisterWorker()
            registration.capacity = 4
            registration.kinds = (0..<1_000).map { String(format: "kind-%04d-", $0) + String(repeating: "k", count: 50) }
            registration.incarnation = 1
            try await raw.send(Phalanx_V1_Envelope(.register(registration)))
            try await eventually("w2 registers") { try await client.status().workers.count + Int(try await client.status().workersOmitted) == 2 }
            let status = try await client.status()
            let w2 = try #require(status.workers.first { $0.name == "w2" })
            #expect(w2.kinds.count > 0 && w2.kinds.count + Int(w2.kindsOmitted) == 1_000, "\(w2.kinds.count) + \(w2.kindsOmitted)")
            #expect(status.workers.contains { $0.name == "w1" && $0.kindsOmitted == 0 })
            // The command says what it shortened, and only that: kinds here, no worker left out.
            let shown = try ClusterProcesses.runToCompletion(["status"] + cluster.clientArguments + ["--set", "limits.max_frame_bytes=\(FrameLimits.minimumBytes)"])
            #expect(shown.status == 0 && shown.stdout.contains("workers: 2") && shown.stdout.contains(" more\n"), "\(shown)")
            #expect(shown.stdout.contains("(kinds shortened: the status was cut") && !shown.stdout.contains("more workers not shown"), "\(shown.stdout)")

            // A put of 30,000 bytes: its history as JSON (bytes as numbers) is about three client frames.
            let value = StoreValue.bytes(Array(repeating: 200, count: 30_000))
            let transaction = try await client.transact([ParticipantOperations(participant: "w1", operations: [.put(key: "big", value: value)])])
            #expect(transaction.committed, "\(String(describing: transaction.reason))")
            let entry = try #require(try await client.transaction(transaction.id))
            #expect(entry.begin.participants.first?.operations == [.put(key: "big", value: value)])
            let saga = try await client.runSaga([SagaStep(forward: [ParticipantOperations(participant: "w1", operations: [.put(key: "saga", value: value)])])])
            #expect(saga.completed, "\(String(describing: saga.reason))")
            guard case .saga(let history)? = try await client.history(saga.id) else {
                Issue.record("the saga's history did not come back")
                return
            }
            #expect(!history.records.isEmpty)
            #expect(!(await client.isClosed) && !cluster.log("coordinator").contains("FRAME_TOO_LARGE"))
            await client.close()
        }

        /// Starts the coordinator and worker w1 of `cluster`, and a client whose own frame limit is
        /// `clientFrameBytes`, once w1 has registered.
        static func startWithOneWorker(_ cluster: ClusterProcesses, clientFrameBytes: Int) async throws -> PhalanxClient {
            try await cluster.startCoordinator()
            try cluster.startWorker("w1")
            let client = try await cluster.client(limits: clientLimits(frameBytes: clientFrameBytes))
            try await cluster.waitForWorkers(1, using: client)
            return client
        }

        static func clientLimits(frameBytes: Int) -> ConnectionLimits {
            var limits = ConnectionLimits()
            limits.maximumFrameBytes = frameBytes
            return limits
        }

        /// The largest echo payload whose result, serialized, fills a results frame of `frameBytes` exactly.
        static func largestEchoedPayload(taskID: String, worker: String, frameBytes: Int) throws -> Int {
            let budget = frameBytes - FrameBudget.envelopeOverheadBytes - BatchFrame.perElementOverheadBytes
            var payload = budget
            while true {
                var result = Phalanx_V1_TaskResult()
                result.taskID = taskID
                result.attempt = 1
                result.worker = worker
                result.output = Data(count: payload)
                let bytes: [UInt8] = try result.serializedBytes()
                if bytes.count <= budget { return payload }
                payload -= 1
            }
        }

        @Test func aResultAtTheClientsFrameLimitComesBackTheSameWayWhenWaitedForLookedUpAndReAttachedAfterARestart() async throws {
            let cluster = try ClusterProcesses(settings: ["limits.max_frame_bytes=\(Self.frameBytes)"])
            defer { cluster.stopAll() }
            let client = try await Self.startWithOneWorker(cluster, clientFrameBytes: FrameLimits.minimumBytes)

            let limits = Self.clientLimits(frameBytes: FrameLimits.minimumBytes)
            let edge = try Self.largestEchoedPayload(taskID: "edge", worker: "w1", frameBytes: limits.maximumFrameBytes)
            let requests = [
                TaskRequest(taskID: "edge", kind: "echo", payload: [UInt8](repeating: 1, count: edge)),
                TaskRequest(taskID: "past", kind: "echo", payload: [UInt8](repeating: 2, count: edge + 1)),
            ]
            func expectEdgeAndPast(_ outcomes: [TaskOutcome], _ path: String) {
                let byID = Dictionary(uniqueKeysWithValues: outcomes.map { ($0.taskID, $0) })
                #expect((try? byID["edge"]?.result.get()) == requests[0].payload, "\(path): the result at the limit did not come back")
                guard case .failure(let error)? = byID["past"]?.result else {
                    Issue.record("\(path): a result one byte past the client's frame limit was not replaced: \(String(describing: byID["past"]))")
                    return
                }
                #expect(error.code == .internal && error.message.contains("more than this client's frame limit of 32768 bytes"), "\(path): \(error.message)")
            }
            expectEdgeAndPast(try await client.run(requests), "submit --wait")

            func lookUp() async throws -> [TaskOutcome] {
                let other = try await cluster.client(limits: limits)
                let lookup = try await other.attach(["edge", "past"])
                #expect(lookup.pending.isEmpty && lookup.unknown.isEmpty)
                var outcomes: [TaskOutcome] = []
                for request in requests { outcomes.append(await other.outcome(of: request.taskID)) }
                await other.close()
                return outcomes
            }
            expectEdgeAndPast(try await lookUp(), "phalanx result")
            await client.close()

            cluster.kill("coordinator")
            try await cluster.startCoordinator()
            expectEdgeAndPast(try await lookUp(), "re-attach after a restart")
            #expect(!cluster.log("coordinator").contains("FRAME_TOO_LARGE"))
        }
    }
}
