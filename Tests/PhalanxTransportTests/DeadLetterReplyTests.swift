import Foundation
import Logging
import PhalanxClient
import PhalanxCore
import PhalanxStore
import PhalanxTesting
import PhalanxTransport
import Testing

/// The dead-letter queue through a real coordinator for an admin whose frames hold only part of
/// the answer: what a reply leaves out is counted, never silently dropped.
@Suite(.serialized, .timeLimit(.minutes(1))) struct DeadLetterReplyTests {
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    static let queued = 1_500

    /// A coordinator whose ledger holds `queued` dead-lettered tasks (with reasons of 200 bytes, so
    /// that about 130 fit a reply to 32 KiB frames), and an admin with those frames.
    func withQueue(_ body: (PhalanxClient) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-dlq-\(UUID().uuidString)").path
        let ledger = try SQLiteTaskLedger(path: "\(folder)/tasks.sqlite")
        let reason = String(repeating: "r", count: 200)
        try await ledger.apply((0..<Self.queued).flatMap { number -> [LedgerChange] in
            let key = TaskKey(client: "client", taskID: String(format: "dead-%05d", number))
            return [
                .accepted(key, spec: [], acceptedUnixMilliseconds: 1),
                .finished(key, result: [], finishedUnixMilliseconds: 2),
                .deadLettered(DeadLetter(key: key, spec: [], code: "WORKER_LOST", reason: reason, attempts: 3, deadUnixMilliseconds: Int64(10 + number))),
            ]
        })
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator"), configure: { $0.dataDirectory = folder }) { coordinator in
            var limits = coordinator.limits
            limits.maximumFrameBytes = FrameLimits.minimumBytes
            let admin = try await PhalanxClient.connect(
                host: "127.0.0.1", port: coordinator.port, tls: TestCertificates.files("admin"), limits: limits, logger: quiet)
            try await body(admin)
            await admin.close()
        }
    }

    @Test func aListRetryAndPurgeLargerThanTheAdminsFramesCountWhatTheyLeaveOut() async throws {
        try await withQueue { admin in
            let listed = try await admin.deadLetters(.list)
            #expect(listed.entries.count > 0 && listed.entries.count < 1_000, "\(listed.entries.count) fit 32 KiB")
            #expect(listed.entries.count + listed.omitted == Self.queued, "\(listed.entries.count) + \(listed.omitted)")
            #expect(listed.entries.first?.key.taskID == "dead-00000", "oldest first")

            // 600 named: sent in requests that fit, each reply counting what it does not list.
            let named = (0..<600).map { DeadLetterEntry.Key(client: "client", taskID: String(format: "dead-%05d", $0)) }
                + [DeadLetterEntry.Key(client: "client", taskID: "never")]
            let retried = try await admin.deadLetters(.retry(named))
            #expect(retried.entries.count + retried.omitted == 600, "\(retried.entries.count) + \(retried.omitted)")
            #expect(retried.missing.map(\.taskID) == ["never"])
            let after = try await admin.deadLetters(.list)
            #expect(after.entries.count + after.omitted == Self.queued - 600)

            let purged = try await admin.deadLetters(.purgeAll)
            #expect(purged.entries.count > 0 && purged.entries.count + purged.omitted == Self.queued - 600, "\(purged.entries.count) + \(purged.omitted)")
            let empty = try await admin.deadLetters(.list)
            #expect(empty.entries.isEmpty && empty.omitted == 0)
        }
    }
}
