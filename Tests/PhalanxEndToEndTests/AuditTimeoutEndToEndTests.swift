import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import PhalanxTesting
import PhalanxWire
import Testing

extension EndToEnd {
    /// The audit's snapshot timeout bounds a participant's silence, not its whole snapshot: a large
    /// store that keeps arriving for longer than the timeout is waited for (the hostile tester saw
    /// a live worker of 100,000 keys reported unreachable), one that stops sending is not.
    @Suite(.timeLimit(.minutes(1))) struct AuditTimeoutEndToEndTests {
        /// A worker (a raw peer with w1's certificate) that answers the audit's snapshot request
        /// with its cut, then with `parts` one every `spacing`, the last marked last unless `stopEarly`.
        /// `audit`: the audit's id (the peer keeps every envelope it received, older requests too).
        static func answer(_ raw: RawTLSPeer, audit: UInt64, parts: [Data], spacing: Duration, stopEarly: Bool) async throws {
            let request = try #require(await raw.waitFor(within: .seconds(10)) {
                if case .snapshotRequest(let request) = $0.body { request.auditID == audit } else { false }
            })
            guard case .snapshotRequest(let snapshotRequest)? = request.body else { return }
            var cut = Phalanx_V1_SnapshotPart()
            cut.auditID = snapshotRequest.auditID
            try await raw.send(Phalanx_V1_Envelope(.snapshotPart(cut)))
            for (index, data) in parts.enumerated() {
                if stopEarly && index == parts.count - 1 { return }
                try await Task.sleep(for: spacing)
                var part = Phalanx_V1_SnapshotPart()
                part.auditID = snapshotRequest.auditID
                part.snapshotItems = data
                part.last = index == parts.count - 1
                try await raw.send(Phalanx_V1_Envelope(.snapshotPart(part)))
            }
        }

        @Test func aSnapshotStillArrivingAfterTheTimeoutIsWaitedForAndOneThatStopsIsUnreachableWithTheReason() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let raw = try await cluster.rawPeer("w1")
            var registration = Phalanx_V1_RegisterWorker()
            registration.capacity = 1
            registration.kinds = ["echo"]
            registration.incarnation = 1
            try await raw.send(Phalanx_V1_Envelope(.register(registration)))
            // Alive throughout (the tests' heartbeat window is short): only its snapshot is slow or stops.
            let heartbeats = Task {
                while !Task.isCancelled {
                    try await raw.send(Phalanx_V1_Envelope(.heartbeat(Phalanx_V1_Heartbeat())))
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { heartbeats.cancel() }
            let admin = try await cluster.client("admin")
            defer { Task { await admin.close() } }
            try await cluster.waitForWorkers(1, using: admin)

            let values = Dictionary(uniqueKeysWithValues: (0..<6).map { ("key-\($0)", StoredValue(.integer(Int64($0)))) })
            let parts = SnapshotStream.parts(of: ParticipantSnapshot(node: "w1", values: values, prepared: [], applied: []), maximumBytes: 16)
            #expect(parts.count >= 5, "\(parts.count) parts")
            // Parts every 400 ms for about 2 s or more, against a timeout of 1 s.
            async let answered: Void = Self.answer(raw, audit: 1, parts: parts, spacing: .milliseconds(400), stopEarly: false)
            let audit = try await admin.audit(snapshotTimeout: .seconds(1))
            try await answered
            #expect(audit.unreachable == [], "\(audit.reasons)")
            #expect(audit.summary.report.keys == values.count)

            async let stopped: Void = Self.answer(raw, audit: 2, parts: parts, spacing: .milliseconds(200), stopEarly: true)
            let cutShort = try await admin.audit(snapshotTimeout: .seconds(1))
            try await stopped
            #expect(cutShort.unreachable == ["w1"])
            #expect(cutShort.reasons["w1"]?.contains("its snapshot stopped arriving") == true, "\(cutShort.reasons)")
        }

        @Test func aRealWorkerReadingALargeStoreLongerThanTheTimeoutIsNotReportedUnreachable() async throws {
            // The 40,000-key prepare keeps this debug build's worker busy on its connection's loop
            // for over a second under a full test run: the heartbeat window here is 5 s, as by default.
            let cluster = try ClusterProcesses(settings: ["coordinator.heartbeat_interval_ms=1000"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            defer { Task { await client.close() } }
            let keys = 40_000
            let filled = try await client.transact([ParticipantOperations(
                participant: "w1", operations: (0..<keys).map { .put(key: "key-\($0)", value: .bytes(Array(repeating: 7, count: 40))) })])
            #expect(filled.committed, "\(String(describing: filled.reason))")
            try await eventually("w1 applied it", within: .seconds(30)) { try await client.transaction(filled.id)?.endedUnixMilliseconds != nil }
            let admin = try await cluster.client("admin")
            defer { Task { await admin.close() } }
            // Reading and encoding 40,000 keys takes this debug build longer than 300 ms: the
            // worker's signs of life every 200 ms keep it from being reported unreachable.
            let started = ContinuousClock.now
            let audit = try await admin.audit(snapshotTimeout: .milliseconds(300))
            let took = ContinuousClock.now - started
            #expect(audit.unreachable == [], "took \(took): \(audit.reasons)")
            #expect(audit.summary.report.keys == keys, "took \(took)")
        }
    }
}
