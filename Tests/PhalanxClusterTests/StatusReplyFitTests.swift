import Foundation
import PhalanxWire
import Testing

@testable import PhalanxCluster

/// A status reply fits the client's frames: kinds are shortened, old failures and then workers
/// left out, and what was left out is counted.
@Suite struct StatusReplyFitTests {
    static func reply(workers: Int, kinds: Int, failures: Int) -> Phalanx_V1_StatusReply {
        var reply = Phalanx_V1_StatusReply()
        reply.coordinator = "coordinator"
        reply.workers = (0..<workers).map { index in
            var worker = Phalanx_V1_WorkerStatus()
            worker.name = "worker-\(index)"
            worker.capacity = 8
            worker.kinds = (0..<kinds).map { "kind-\(index)-\($0)-" + String(repeating: "k", count: 48) }
            return worker
        }
        reply.recentFailures = (0..<failures).map { index in
            var failure = Phalanx_V1_RecentFailure()
            failure.taskID = "task-\(index)"
            failure.message = String(repeating: "m", count: 1_000)
            return failure
        }
        return reply
    }

    static func frameBytes(of reply: Phalanx_V1_StatusReply) throws -> Int {
        try (Phalanx_V1_Envelope(.statusReply(reply)).serializedBytes() as [UInt8]).count + 4
    }

    @Test func aWorkerWithAThousandKindsIsShownWithFewerAndTheRestCounted() throws {
        var reply = Self.reply(workers: 1, kinds: 1_000, failures: 0)
        reply.fit(maximumFrameBytes: 32_768)
        #expect(try Self.frameBytes(of: reply) <= 32_768)
        let worker = try #require(reply.workers.first)
        #expect(worker.kinds.count > 0 && worker.kinds.count + Int(worker.kindsOmitted) == 1_000)
        #expect(worker.kinds == Array(Self.reply(workers: 1, kinds: 1_000, failures: 0).workers[0].kinds.prefix(worker.kinds.count)))
        #expect(reply.workersOmitted == 0)
    }

    @Test func manyWorkersAreCutToTheFrameAfterTheirKindsAndTheOldFailures() throws {
        var reply = Self.reply(workers: 200, kinds: 100, failures: 20)
        reply.fit(maximumFrameBytes: 32_768)
        #expect(try Self.frameBytes(of: reply) <= 32_768)
        #expect(reply.recentFailures.isEmpty && reply.recentFailuresOmitted == 20, "every failure left out is counted")
        #expect(reply.workers.allSatisfy { $0.kinds.count == Phalanx_V1_StatusReply.keptKindsPerWorker && $0.kindsOmitted == 84 })
        #expect(reply.workers.count > 0 && reply.workers.count + Int(reply.workersOmitted) == 200)
        #expect(reply.workers.last?.name == "worker-\(reply.workers.count - 1)", "the first workers are kept")
    }

    @Test func aReplyAtTheLimitIsUnchangedAndOneBytePastItIsCut() throws {
        let whole = Self.reply(workers: 3, kinds: 40, failures: 5)
        // The limit the reply fits exactly: its own bytes plus what FrameBudget keeps for the envelope.
        let size = (try whole.serializedBytes() as [UInt8]).count + FrameBudget.envelopeOverheadBytes
        var atLimit = whole
        atLimit.fit(maximumFrameBytes: size)
        #expect(atLimit == whole)
        var past = whole
        past.fit(maximumFrameBytes: size - 1)
        let pastBytes = try Self.frameBytes(of: past)
        #expect(past != whole && pastBytes <= size - 1 - 4)
        #expect(past.workers.count == 3 && past.recentFailures.count == 5, "shortening kinds was enough")
        #expect(past.recentFailuresOmitted == 0 && past.workersOmitted == 0)
    }

    @Test func onlyTheOldestFailuresGoWhenKindsAreShortAlready() throws {
        let whole = Self.reply(workers: 2, kinds: 16, failures: 20)
        let size = (try whole.serializedBytes() as [UInt8]).count + FrameBudget.envelopeOverheadBytes
        var cut = whole
        cut.fit(maximumFrameBytes: size - 600)
        #expect(try Self.frameBytes(of: cut) <= size - 600)
        #expect(cut.recentFailures.count > 0 && cut.recentFailures.count + Int(cut.recentFailuresOmitted) == 20)
        #expect(cut.recentFailures == Array(whole.recentFailures.prefix(cut.recentFailures.count)), "the newest are kept")
        #expect(cut.workers == whole.workers && cut.workersOmitted == 0)
    }
}
