import Foundation
import PhalanxWire

extension Phalanx_V1_StatusReply {
    /// This reply cut to fit a frame of `maximumFrameBytes`: first each worker's task kinds are
    /// shortened, down to ``keptKindsPerWorker`` (a worker may serve 1,000 kinds of 64 bytes), then
    /// the oldest recent failures are left out, then the last workers. What is left out is counted
    /// (`kinds_omitted`, `recent_failures_omitted`, `workers_omitted`), so a client with small frames
    /// sees a shorter status, never a cut connection.
    mutating func fit(maximumFrameBytes: Int) {
        let budget = maximumFrameBytes - FrameBudget.envelopeOverheadBytes
        var bytes = serializedSize
        guard bytes > budget else { return }
        var kindsPerWorker = workers.map(\.kinds.count).max() ?? 0
        while bytes > budget && kindsPerWorker > Self.keptKindsPerWorker {
            kindsPerWorker = max(Self.keptKindsPerWorker, kindsPerWorker / 2)
            for index in workers.indices where workers[index].kinds.count > kindsPerWorker {
                workers[index].kindsOmitted += UInt32(workers[index].kinds.count - kindsPerWorker)
                workers[index].kinds.removeLast(workers[index].kinds.count - kindsPerWorker)
            }
            bytes = serializedSize
        }
        if !recentFailures.isEmpty { bytes += 7 }  // room for the count of failures left out (field 21)
        while bytes > budget, let oldest = recentFailures.popLast() {
            bytes -= Self.fieldBytes(oldest.serializedSize, tagBytes: 2)  // field 19
            recentFailuresOmitted += 1
        }
        guard bytes > budget else { return }
        bytes += 7  // room for the count of workers left out (field 20: a tag of 2 bytes and a varint of up to 5)
        while bytes > budget, let last = workers.popLast() {
            bytes -= Self.fieldBytes(last.serializedSize, tagBytes: 1)  // field 2
            workersOmitted += 1
        }
    }

    /// Kinds per worker kept while workers are left out to fit.
    static let keptKindsPerWorker = 16

    private var serializedSize: Int { ((try? serializedBytes()) as [UInt8]?)?.count ?? .max }

    /// Bytes a length-delimited field with a body of `bodyBytes` takes (tag, length, body).
    private static func fieldBytes(_ bodyBytes: Int, tagBytes: Int) -> Int {
        var length = 1
        var rest = bodyBytes >> 7
        while rest > 0 {
            length += 1
            rest >>= 7
        }
        return tagBytes + length + bodyBytes
    }
}

extension Phalanx_V1_WorkerStatus {
    fileprivate var serializedSize: Int { ((try? serializedBytes()) as [UInt8]?)?.count ?? .max }
}

extension Phalanx_V1_RecentFailure {
    fileprivate var serializedSize: Int { ((try? serializedBytes()) as [UInt8]?)?.count ?? .max }
}
