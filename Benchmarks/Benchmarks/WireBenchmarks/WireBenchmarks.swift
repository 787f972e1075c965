// Framing cost of the hot-path batches: a DispatchBatch and a ResultBatch of 1,000 elements
// encoded as one Envelope by SwiftProtobuf against `BatchFrame` from elements serialized one by
// one; and making trace ids.
import Benchmark
import Foundation
import NIOCore
import PhalanxResilience
import PhalanxWire

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    let allocator = ByteBufferAllocator()
    var ids = TraceIDGenerator(seed: 1)
    let assignments = (0..<1_000).map { index in
        var assignment = Phalanx_V1_Assignment()
        assignment.task.taskID = "bench-1234567890-t\(index)"
        assignment.task.kind = "echo"
        assignment.task.payload = Data(repeating: UInt8(ascii: "x"), count: 64)
        assignment.task.deadlineUnixMs = 1_900_000_000_000
        let trace = TraceContext.newTrace(using: &ids)
        assignment.task.trace.traceID = trace.traceID
        assignment.task.trace.spanID = trace.spanID
        assignment.attempt = 1
        assignment.dispatchID = UInt64(index) << 20
        return assignment
    }
    let results = assignments.map { assignment in
        var result = Phalanx_V1_TaskResult()
        result.taskID = assignment.task.taskID
        result.attempt = assignment.attempt
        result.dispatchID = assignment.dispatchID
        result.worker = "w1"
        result.output = assignment.task.payload
        return result
    }

    Benchmark("dispatch of 1,000: one Envelope (SwiftProtobuf)") { benchmark in
        for _ in benchmark.scaledIterations {
            var batch = Phalanx_V1_DispatchBatch()
            batch.assignments = assignments
            blackHole(try FrameEncoder.frame(Phalanx_V1_Envelope(.dispatch(batch)), allocator: allocator))
        }
    }

    Benchmark("dispatch of 1,000: BatchFrame") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(BatchFrame.dispatch(assignments.map(BatchFrame.serialized), allocator: allocator)) }
    }

    Benchmark("results of 1,000: one Envelope (SwiftProtobuf)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try FrameEncoder.frame(.results(results), allocator: allocator)) }
    }

    Benchmark("results of 1,000: BatchFrame") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(BatchFrame.results(results.map(BatchFrame.serialized), allocator: allocator)) }
    }

    Benchmark("1,000 trace ids + span ids, built from String(radix:) pieces (before)") { benchmark in
        var generator = TraceIDGenerator(seed: 2)
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 { blackHole((piecewiseHex(generator.next(), generator.next()), piecewiseHex(generator.next()))) }
        }
    }

    Benchmark("1,000 new traces (trace id + span id)") { benchmark in
        var generator = TraceIDGenerator(seed: 2)
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 { blackHole(TraceContext.newTrace(using: &generator)) }
        }
    }
}

/// How trace ids were made before they were written straight into the string's storage.
func piecewiseHex(_ words: UInt64...) -> String {
    var text = ""
    for var word in words {
        if word == 0 { word = 1 }
        let digits = String(word, radix: 16)
        text += String(repeating: "0", count: 16 - digits.count) + digits
    }
    return text
}
