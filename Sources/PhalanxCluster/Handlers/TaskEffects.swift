import PhalanxCore
import PhalanxResilience
import PhalanxTransport
import PhalanxWire
import Synchronization

/// A running task's way to change the workers' stores exactly once, through two-phase-commit
/// transactions tied to the task.
///
/// The k-th ``apply(_:)`` of any attempt is the transaction `task:CLIENT/TASK_ID#k` on the
/// coordinator: when the task runs again after its worker died, the effects the lost attempt
/// committed are not applied again — the re-run gets their outcome (committed, without the values
/// read) and goes on from there; an aborted one stays aborted for the re-run too (the lost attempt
/// went on from that). To try an aborted effect again, apply it again: that is the next effect,
/// the same on every run. An attempt that is no longer the task's current one (it was
/// declared lost, retried or cancelled) is refused with `SUPERSEDED` and applies nothing. Apply
/// effects in the same order on every run.
///
/// ```swift
/// handlers.register("deposit") { input in
///     let outcome = try await input.effects.apply([ParticipantOperations(participant: "w2", operations: [.add(key: "acct", amount: 5)])])
///     return Array((outcome.committed ? "ok" : "aborted").utf8)
/// }
/// ```
public struct TaskEffects: Sendable {
    private let sender: TransactionSender?
    private let dispatchID: UInt64
    private let attempt: UInt32
    private let calls = Counter()

    /// Effects outside a worker (tests, local calls): every ``apply(_:)`` throws.
    public static var unavailable: TaskEffects { TaskEffects(sender: nil, dispatchID: 0, attempt: 0) }

    init(sender: TransactionSender?, dispatchID: UInt64, attempt: UInt32) {
        self.sender = sender
        self.dispatchID = dispatchID
        self.attempt = attempt
    }

    /// Applies `participants`' operations as this task's next effect; returns the outcome. An
    /// aborted outcome (e.g. `CONFLICT`, retryable) applied nothing; trying again is a new effect.
    public func apply(_ participants: [ParticipantOperations]) async throws -> TransactionOutcome {
        guard let sender else { throw PhalanxError(.invalidArgument, "task effects need a worker connected to a coordinator") }
        if let problem = TransactionLimits.problem(id: "task", participants) { throw PhalanxError(.invalidArgument, problem) }
        return try await sender.transact(participants, dispatchID: dispatchID, attempt: attempt, effectIndex: calls.next())
    }

    private final class Counter: Sendable {
        private let value = Mutex<UInt32>(0)
        func next() -> UInt32 { value.withLock { value in defer { value += 1 }; return value } }
    }
}

/// One worker connection's transaction requests for task effects, and their replies.
actor TransactionSender {
    private let link: any PeerLink
    private var nextRequestID: UInt64 = 0
    private var waiting: [UInt64: CheckedContinuation<Phalanx_V1_TxReply, any Error>] = [:]
    private var closedError: ErrorContext?

    init(link: any PeerLink) {
        self.link = link
    }

    func transact(_ participants: [ParticipantOperations], dispatchID: UInt64, attempt: UInt32, effectIndex: UInt32) async throws -> TransactionOutcome {
        if let closedError { throw closedError }
        nextRequestID += 1
        var request = Phalanx_V1_TxRequest()
        request.requestID = nextRequestID
        request.participants = participants.map(\.wire)
        request.taskDispatchID = dispatchID
        request.taskAttempt = attempt
        request.effectIndex = effectIndex
        if let trace = TraceContext.current {
            request.trace.traceID = trace.traceID
            request.trace.spanID = trace.spanID
        }
        let requestID = request.requestID
        // A cancelled handler (deadline, `phalanx cancel`, a drain, the connection's end) stops
        // waiting; the effect's outcome is decided on the coordinator and the next attempt learns it.
        let reply = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Phalanx_V1_TxReply, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                waiting[requestID] = continuation
                link.write(Phalanx_V1_Envelope(.txRequest(request)))
                link.flush()
            }
        } onCancel: {
            Task { await self.cancelled(requestID) }
        }
        let outcome = TransactionOutcome(wire: reply)
        if let reason = outcome.reason, reason.code == .superseded { throw reason }
        return outcome
    }

    private func cancelled(_ requestID: UInt64) {
        waiting.removeValue(forKey: requestID)?.resume(throwing: CancellationError())
    }

    func replied(_ reply: Phalanx_V1_TxReply) {
        waiting.removeValue(forKey: reply.requestID)?.resume(returning: reply)
    }

    /// The connection ended: waiting effects fail (their outcome is decided on the coordinator;
    /// the task's next attempt will learn it).
    func connectionEnded(_ error: ErrorContext) {
        closedError = error
        for waiter in waiting.values { waiter.resume(throwing: error) }
        waiting.removeAll()
    }
}
