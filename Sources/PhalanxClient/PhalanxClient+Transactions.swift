import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxWire

/// Transactions and the audit through the client API.
extension PhalanxClient {
    /// Runs a transaction (operations on several participants, by worker name) with two-phase
    /// commit and returns its outcome once the decision is durable. Without `id` it gets a new one.
    /// Repeating an `id` (same operations), also after a coordinator restart, gets the outcome of
    /// the first request instead of running again.
    ///
    ///     try await client.transact([
    ///         ParticipantOperations(participant: "w1", operations: [.add(key: "alice", amount: -10, lowerBound: 0)]),
    ///         ParticipantOperations(participant: "w2", operations: [.add(key: "bob", amount: 10)]),
    ///     ])
    public func transact(_ participants: [ParticipantOperations], id given: String? = nil) async throws -> TransactionOutcome {
        try ensureOpen()
        let id = given ?? takeUnnamedID()
        // Only what fails as given is judged again as read (the coordinator judges it anyway).
        if TransactionLimits.problem(id: id, participants) != nil, let problem = TransactionLimits.problemAsRead(id: id, participants) {
            throw ErrorContext(code: .invalidArgument, message: problem, originNode: local.name)
        }
        var request = Phalanx_V1_TxRequest()
        request.requestID = takeRequestID()
        request.txID = id
        request.freshID = given == nil  // a fresh id (RequestIDs): the coordinator need not look for it in its log
        request.participants = participants.map(\.wire)
        let trace = takeTrace()
        request.trace.traceID = trace.traceID
        request.trace.spanID = trace.spanID
        let requestID = request.requestID
        try sendIfItFits(Phalanx_V1_Envelope(.txRequest(request)))
        do {
            let reply = try await withCheckedThrowingContinuation { registerTransactionWaiter(requestID, $0) }
            return TransactionOutcome(wire: reply)
        } catch var error as ErrorContext {
            // Sent, and no answer: the coordinator may have decided either way.
            error.message = TransactionOutcome.unknownOutcomeMessage(id: id, cause: error.message)
            throw error
        }
    }

    /// Runs saga `id`: its steps commit one after another, each on its own; if a step fails for
    /// good, the steps that committed are compensated, last first (each compensation retried until
    /// it commits). Returns once the saga completed or was compensated.
    public func runSaga(_ steps: [SagaStep], id given: String? = nil) async throws -> SagaOutcome {
        try ensureOpen()
        let id = given ?? takeUnnamedID()
        var request = Phalanx_V1_SagaRequest()
        request.requestID = takeRequestID()
        request.sagaID = id
        request.steps = steps.map(\.wire)
        let requestID = request.requestID
        try sendIfItFits(Phalanx_V1_Envelope(.sagaRequest(request)))
        return SagaOutcome(wire: try await withCheckedThrowingContinuation { registerSagaWaiter(requestID, $0) })
    }

    /// A transaction's entry in the decision log, or a saga's history in the compensation log.
    public enum History: Sendable {
        case transaction(TransactionLogEntry)
        case saga(SagaHistory)
    }

    /// What the coordinator's logs hold about `id`, a transaction or a saga (nil: unknown).
    public func history(_ id: String) async throws -> History? {
        try ensureOpen()
        var request = Phalanx_V1_TxShowRequest()
        request.requestID = takeRequestID()
        request.txID = id
        let requestID = request.requestID
        write(Phalanx_V1_Envelope(.txShowRequest(request)))
        let reply = try await withCheckedThrowingContinuation { registerShowWaiter(requestID, $0) }
        if reply.hasError { throw ErrorContext(wire: reply.error) }
        guard reply.found else { return nil }
        if !reply.sagaJson.isEmpty { return .saga(try WireJSON.decode(SagaHistory.self, from: reply.sagaJson)) }
        return .transaction(try WireJSON.decode(TransactionLogEntry.self, from: reply.entryJson))
    }

    /// Transaction `id` as the coordinator's decision log holds it (nil: unknown, or a saga).
    public func transaction(_ id: String) async throws -> TransactionLogEntry? {
        if case .transaction(let entry)? = try await history(id) { return entry }
        return nil
    }

    /// Audits the running cluster (admin certificate): the report, the participants that could not
    /// be judged, and why, where known (e.g. its store cannot be read). `snapshotTimeout` bounds a
    /// participant's silence: one that sends no part of its snapshot for that long is unreachable.
    public func audit(
        inDoubtThreshold: Duration = .seconds(30), pendingThreshold: Duration = .seconds(30), snapshotTimeout: Duration = .seconds(10)
    ) async throws -> AuditOutcome {
        try ensureOpen()
        var request = Phalanx_V1_AuditRequest()
        request.requestID = takeRequestID()
        request.inDoubtThresholdMs = UInt32(clamping: inDoubtThreshold.wholeMilliseconds)
        request.pendingThresholdMs = UInt32(clamping: pendingThreshold.wholeMilliseconds)
        request.snapshotTimeoutMs = UInt32(clamping: snapshotTimeout.wholeMilliseconds)
        let requestID = request.requestID
        write(Phalanx_V1_Envelope(.auditRequest(request)))
        let reply = try await withCheckedThrowingContinuation { registerAuditWaiter(requestID, $0) }
        if reply.hasError { throw ErrorContext(wire: reply.error) }
        return AuditOutcome(
            summary: try WireJSON.decode(AuditSummary.self, from: reply.reportJson), unreachable: reply.unreachable, reasons: reply.unreachableReasons)
    }
}

/// What an online audit found: the report, the participants that could not be judged, and why,
/// where known.
public struct AuditOutcome: Sendable {
    public var summary: AuditSummary
    public var unreachable: [String]
    /// Why a participant in `unreachable` could not be judged (e.g. its store cannot be read).
    public var reasons: [String: String]
}
