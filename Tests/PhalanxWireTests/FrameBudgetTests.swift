import Foundation
import PhalanxCore
import PhalanxResilience
import SwiftProtobuf
import Testing

@testable import PhalanxWire

@Suite struct FrameBudgetTests {
    static func assignment(payloadBytes: Int, id: String = "task-1") -> Phalanx_V1_Assignment {
        var spec = Phalanx_V1_TaskSpec()
        spec.taskID = id
        spec.kind = "echo"
        spec.payload = Data(repeating: 0x61, count: payloadBytes)
        spec.trace.traceID = String(repeating: "a", count: 32)
        spec.trace.spanID = String(repeating: "b", count: 16)
        spec.deadlineUnixMs = Int64.max
        var assignment = Phalanx_V1_Assignment()
        assignment.task = spec
        assignment.attempt = .max
        assignment.dispatchID = .max
        return assignment
    }

    static func frameBytes(_ assignments: [Phalanx_V1_Assignment]) throws -> Int {
        var batch = Phalanx_V1_DispatchBatch()
        batch.assignments = assignments
        let bytes: [UInt8] = try Phalanx_V1_Envelope(.dispatch(batch)).serializedBytes()
        return bytes.count
    }

    /// What the coordinator and the client count per element: its exact size and its tag and length.
    static func budgeted(_ message: some SwiftProtobuf.Message) -> Int { BatchFrame.serialized(message).count + BatchFrame.perElementOverheadBytes }

    @Test func oneTaskWithTheLargestAcceptedPayloadFitsOneFrameWithTheLongestIdKindAndKey() throws {
        let frame = 64 * 1024
        var largest = Self.assignment(payloadBytes: TaskLimits.maximumPayloadBytes(forFrameBytes: frame), id: String(repeating: "i", count: 256))
        largest.task.kind = String(repeating: "k", count: 64)
        largest.task.idempotencyKey = String(repeating: "y", count: TaskLimits.maximumIdempotencyKeyBytes)
        let (chunks, oversized) = FrameBudget.chunks([largest], maximumFrameBytes: frame) { Self.budgeted($0) }
        #expect(chunks.count == 1 && oversized.isEmpty)
        #expect(try Self.frameBytes(chunks[0]) <= frame)
    }

    @Test func batchesWhoseSumCrossesTheLimitAreCutAndEveryFrameFits() throws {
        let frame = 64 * 1024
        let tasks = (0..<10).map { Self.assignment(payloadBytes: 20_000, id: "t\($0)") }
        let (chunks, oversized) = FrameBudget.chunks(tasks, maximumFrameBytes: frame) { Self.budgeted($0) }
        #expect(oversized.isEmpty)
        #expect(chunks.flatMap { $0 }.map(\.task.taskID) == tasks.map(\.task.taskID), "order kept, nothing lost")
        #expect(chunks.count == 4)  // three 20 kB tasks per 64 KiB frame
        for chunk in chunks { #expect(try Self.frameBytes(chunk) <= frame) }
    }

    /// A client's submit frames filled as full as its budget allows (the largest request id and a
    /// trace, tasks with the longest ids and idempotency keys, which an estimate once left out and
    /// so sent 71,590-byte frames to a coordinator of 32 KiB) never exceed the limit.
    @Test(arguments: [0, 1, 100, 1_000, 7_000])
    func submitFramesCutToTheClientsBudgetFit(payloadBytes: Int) throws {
        let frame = 32 * 1024
        let tasks = (0..<200).map { index in
            var spec = Self.assignment(payloadBytes: payloadBytes, id: String(repeating: "i", count: 250) + "\(index)").task
            spec.kind = String(repeating: "k", count: 64)
            spec.idempotencyKey = String(repeating: "y", count: 250) + "\(index)"
            spec.maxAttempts = .max
            spec.priority = .low
            return spec
        }
        for spec in tasks { #expect(BatchFrame.serialized(spec).count <= spec.estimatedWireBytes) }
        // As the client cuts them: by the estimate, to the limit less the frame's own fields.
        let (chunks, oversized) = FrameBudget.chunks(tasks, maximumFrameBytes: frame - BatchFrame.submitFieldsBytes) {
            $0.estimatedWireBytes + BatchFrame.perElementOverheadBytes
        }
        #expect(oversized.isEmpty && chunks.flatMap { $0 }.count == 200)
        var trace = Phalanx_V1_TraceContext()
        trace.traceID = String(repeating: "f", count: 32)
        trace.spanID = String(repeating: "f", count: 16)
        for chunk in chunks {
            let built = BatchFrame.submit(requestID: .max, tasks: chunk.map(BatchFrame.serialized), trace: trace)
            #expect(built.readableBytes - FrameParser.headerBytes <= frame)
        }
    }

    @Test func handBacksAndCancelsOfManyAttemptsAreCutToTheFrameLimitInOrder() throws {
        // The largest references: a drain of 100,000 prefetched tasks once sent one frame of 1.8 MB.
        let references = (0..<100_000).map { index in
            var reference = Phalanx_V1_TaskRef()
            reference.dispatchID = UInt64.max - UInt64(index)
            reference.attempt = .max
            return reference
        }
        let frame = 32 * 1024
        let wraps: [([Phalanx_V1_TaskRef]) -> Phalanx_V1_Envelope] = [
            { var handBack = Phalanx_V1_HandBack(); handBack.tasks = $0; return Phalanx_V1_Envelope(.handBack(handBack)) },
            { var cancel = Phalanx_V1_CancelAttempts(); cancel.tasks = $0; return Phalanx_V1_Envelope(.cancelAttempts(cancel)) },
        ]
        for wrap in wraps {
            let frames = Phalanx_V1_TaskRef.frames(references, maximumFrameBytes: frame, wrap: wrap)
            var carried: [UInt64] = []
            for envelope in frames {
                let bytes: [UInt8] = try envelope.serializedBytes()
                #expect(bytes.count <= frame)
                switch envelope.body {
                case .handBack(let handBack): carried += handBack.tasks.map(\.dispatchID)
                case .cancelAttempts(let cancel): carried += cancel.tasks.map(\.dispatchID)
                default: Issue.record("unexpected envelope \(envelope)")
                }
            }
            #expect(carried == references.map(\.dispatchID), "every reference, once, in order")
            #expect(frames.count == 100_000 / ((frame - FrameBudget.envelopeOverheadBytes) / Phalanx_V1_TaskRef.maximumWireBytes) + 1)
        }
        // At the limit one frame, one reference past it two.
        let perFrame = (frame - FrameBudget.envelopeOverheadBytes) / Phalanx_V1_TaskRef.maximumWireBytes
        #expect(Phalanx_V1_TaskRef.frames(Array(references.prefix(perFrame)), maximumFrameBytes: frame, wrap: wraps[0]).count == 1)
        #expect(Phalanx_V1_TaskRef.frames(Array(references.prefix(perFrame + 1)), maximumFrameBytes: frame, wrap: wraps[0]).count == 2)
        #expect(Phalanx_V1_TaskRef.frames([], maximumFrameBytes: frame, wrap: wraps[0]).isEmpty)
    }

    @Test func exactlyAtTheBudgetFitsAndOneBytePastStartsANewFrame() {
        let items = [100, 100]
        let exact = FrameBudget.chunks(items, maximumFrameBytes: 200 + FrameBudget.envelopeOverheadBytes) { $0 }
        #expect(exact.chunks == [[100, 100]])
        let past = FrameBudget.chunks(items + [1], maximumFrameBytes: 200 + FrameBudget.envelopeOverheadBytes) { $0 }
        #expect(past.chunks == [[100, 100], [1]])
    }

    @Test func anItemLargerThanAFrameAloneIsSetAside() {
        let (chunks, oversized) = FrameBudget.chunks([10, 1_000, 10], maximumFrameBytes: 500) { $0 }
        #expect(chunks == [[10, 10]] && oversized == [1_000])
    }

    @Test func batchesAreCutByCountToo() {
        let (chunks, _) = FrameBudget.chunks(Array(repeating: 1, count: 2_500), maximumFrameBytes: 1 << 20, maximumCount: 1_000) { $0 }
        #expect(chunks.map(\.count) == [1_000, 1_000, 500])
    }

    @Test func resultEstimatesAreUpperBounds() throws {
        var output = Phalanx_V1_TaskResult()
        output.taskID = String(repeating: "t", count: 256)
        output.worker = "worker-with-a-long-name"
        output.attempt = .max
        output.dispatchID = .max
        output.output = Data(repeating: 1, count: 5_000)
        var failed = output
        failed.error = ErrorContext(
            code: .internal, message: String(repeating: "m", count: 3_000), traceID: String(repeating: "a", count: 32),
            originNode: "w1", causes: [ErrorContext(code: .unavailable, message: "cause")]
        ).wire
        // Earlier attempts in the history (retried, or lost with their worker) count too.
        var retried = output
        retried.originalTaskID = String(repeating: "o", count: 200)
        retried.history = (1...5).map { attempt in
            var record = Phalanx_V1_AttemptRecord()
            record.attempt = UInt32(attempt)
            record.worker = "worker-\(attempt)-with-a-long-name"
            record.error = ErrorContext(
                code: .workerLost, message: String(repeating: "w", count: 400), originNode: "coordinator", taskID: output.taskID, attempt: attempt
            ).wire
            return record
        }
        for result in [output, failed, retried] {
            let bytes: [UInt8] = try Phalanx_V1_Envelope.results([result]).serializedBytes()
            #expect(bytes.count <= result.estimatedWireBytes + FrameBudget.envelopeOverheadBytes, "\(bytes.count) > \(result.estimatedWireBytes)")
        }
    }
}
