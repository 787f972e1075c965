import PhalanxResilience
import PhalanxTransport
import PhalanxWire

/// One worker connection's child tasks: sends a running attempt's `SpawnChildren`, and hands the
/// `SpawnReply` and the children's results (`ChildResults`) back to the handler that waits for them.
actor ChildSpawner {
    private struct Waiter {
        var expected: [String]
        var results: [String: Phalanx_V1_TaskResult] = [:]
        let failFast: Bool
        var continuation: CheckedContinuation<[Phalanx_V1_TaskResult], any Error>?
    }

    private struct AttemptKey: Hashable {
        let dispatchID: UInt64
        let attempt: UInt32
    }

    private let link: any PeerLink
    private var nextRequestID: UInt64 = 0
    private var replies: [UInt64: CheckedContinuation<Phalanx_V1_SpawnReply, any Error>] = [:]
    private var waiters: [AttemptKey: Waiter] = [:]
    private var closedError: ErrorContext?

    init(link: any PeerLink) {
        self.link = link
    }

    /// Starts `children` in the scope of an attempt and waits for their results (all of them, or
    /// up to the first failure with `failFast`), in the order given. One call per attempt at a time.
    func run(
        _ children: [Phalanx_V1_TaskSpec], parent dispatchID: UInt64, attempt: UInt32, failFast: Bool
    ) async throws -> [Phalanx_V1_TaskResult] {
        let key = AttemptKey(dispatchID: dispatchID, attempt: attempt)
        guard waiters[key] == nil else {
            throw PhalanxError(.invalidArgument, "this task is already waiting for children it started; start more children in the same call")
        }
        if let closedError { throw closedError }
        waiters[key] = Waiter(expected: children.map(\.taskID), failFast: failFast)
        nextRequestID += 1
        let requestID = nextRequestID
        var request = Phalanx_V1_SpawnChildren()
        request.requestID = requestID
        request.parentDispatchID = dispatchID
        request.parentAttempt = attempt
        request.children = children
        request.policy = failFast ? .failFast : .all
        return try await withTaskCancellationHandler {
            do {
                let reply = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Phalanx_V1_SpawnReply, any Error>) in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    replies[requestID] = continuation
                    link.write(Phalanx_V1_Envelope(.spawnChildren(request)))
                    link.flush()
                }
                if reply.hasError { throw ErrorContext(wire: reply.error) }
                return try await withCheckedThrowingContinuation { continuation in
                    if waiters[key] == nil || Task.isCancelled {
                        waiters[key] = nil
                        continuation.resume(throwing: CancellationError())
                    } else if let ready = takeIfDone(key) {
                        waiters[key] = nil
                        continuation.resume(returning: ready)
                    } else {
                        waiters[key]!.continuation = continuation
                    }
                }
            } catch {
                waiters[key] = nil
                throw error
            }
        } onCancel: {
            Task { await self.cancelled(key, request: requestID) }
        }
    }

    /// The coordinator answered a spawn request.
    func replied(_ reply: Phalanx_V1_SpawnReply) {
        replies.removeValue(forKey: reply.requestID)?.resume(returning: reply)
    }

    /// Finished children of an attempt arrived.
    func arrived(_ frame: Phalanx_V1_ChildResults) {
        let key = AttemptKey(dispatchID: frame.parentDispatchID, attempt: frame.parentAttempt)
        guard waiters[key] != nil else { return }  // the attempt stopped waiting (cancelled or done)
        for result in frame.results { waiters[key]!.results[result.taskID] = result }
        guard waiters[key]!.continuation != nil, let ready = takeIfDone(key) else { return }
        waiters[key]!.continuation!.resume(returning: ready)
        waiters[key] = nil
    }

    /// The connection ended: every waiting handler gets `error` (its attempt is lost anyway).
    func connectionEnded(_ error: ErrorContext) {
        closedError = error
        for (_, reply) in replies { reply.resume(throwing: error) }
        replies.removeAll()
        for (_, waiter) in waiters { waiter.continuation?.resume(throwing: error) }
        waiters.removeAll()
    }

    /// The results in order once every child reported, or as soon as one failed under fail-fast.
    private func takeIfDone(_ key: AttemptKey) -> [Phalanx_V1_TaskResult]? {
        guard let waiter = waiters[key] else { return nil }
        let failed = waiter.results.values.contains { $0.failure != nil }
        guard waiter.results.count >= waiter.expected.count || (failed && waiter.failFast) else { return nil }
        return waiter.expected.compactMap { waiter.results[$0] }
    }

    /// The handler was cancelled: it stops waiting, for the spawn reply or for the children.
    private func cancelled(_ key: AttemptKey, request requestID: UInt64) {
        replies.removeValue(forKey: requestID)?.resume(throwing: CancellationError())
        waiters.removeValue(forKey: key)?.continuation?.resume(throwing: CancellationError())
    }
}
