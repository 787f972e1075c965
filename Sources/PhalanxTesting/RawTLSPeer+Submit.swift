import NIOCore
import PhalanxWire

extension RawTLSPeer {
    /// Sends one SubmitBatch of `(id, kind, payload)` tasks as request `requestID`, with an optional
    /// trace context (`traceID`/`spanID` exactly as given, valid or not).
    /// Unless `waitForWrite` is false: then it queues the frame and returns at once (for a peer
    /// that floods a coordinator which no longer reads from it).
    public func submit(
        requestID: UInt64, _ tasks: [(id: String, kind: String, payload: [UInt8])], traceID: String? = nil, spanID: String? = nil,
        waitForWrite: Bool = true
    ) async throws {
        var batch = Phalanx_V1_SubmitBatch()
        batch.requestID = requestID
        batch.tasks = tasks.map { task in
            var spec = Phalanx_V1_TaskSpec()
            spec.taskID = task.id
            spec.kind = task.kind
            spec.payload = .init(task.payload)
            if let traceID {
                spec.trace.traceID = traceID
                spec.trace.spanID = spanID ?? "00f067aa0ba902b7"
            }
            return spec
        }
        let envelope = Phalanx_V1_Envelope(.submit(batch))
        if waitForWrite {
            try await send(envelope)
        } else {
            channel.writeAndFlush(try FrameEncoder.frame(envelope, allocator: channel.allocator), promise: nil)
        }
    }

    /// The SubmitAck for `requestID`, once it arrives (or nil after `timeout`).
    public func acknowledgement(of requestID: UInt64, within timeout: Duration = .seconds(5)) async -> Phalanx_V1_SubmitAck? {
        let envelope = await waitFor(within: timeout) {
            if case .submitAck(let ack) = $0.body { ack.requestID == requestID } else { false }
        }
        if case .submitAck(let ack) = envelope?.body { return ack }
        return nil
    }

    /// Every TaskResult received so far.
    public var results: [Phalanx_V1_TaskResult] {
        envelopes.flatMap { envelope -> [Phalanx_V1_TaskResult] in
            if case .results(let batch) = envelope.body { batch.results } else { [] }
        }
    }
}
