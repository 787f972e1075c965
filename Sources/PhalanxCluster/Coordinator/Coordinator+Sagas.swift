import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxWire

extension ConnectionID {
    /// The sagas' own "connection": transactions a saga runs answer here instead of to a peer.
    static var sagaEngine: ConnectionID { ConnectionID(0) }
}

/// Sagas in the shell: each step and compensation runs as a transaction through the
/// ``TransactionMachine``; the compensation log goes through the group commit like everything else.
extension Coordinator {
    func sagaRequest(_ request: Phalanx_V1_SagaRequest, from id: ConnectionID) {
        switch SagaStep.from(wire: request.steps) {
        case .success(let steps):
            // Every step and compensation must reach its workers: refused whole before anything runs.
            if let refusal = steps.lazy.compactMap({ self.prepareTooLarge($0.forward + $0.compensation) }).first {
                refuseSaga(request, refusal, to: id)
                return
            }
            let client = links[id]?.peer.identity.name ?? ""
            guard !sagas.knows(request.sagaID) else {
                let registered = registeredOrReturning
                perform(sagas.start(
                    request.sagaID, requestID: request.requestID, from: id, clientName: client, steps: steps, nowUnixMilliseconds: WireTime.nowUnixMilliseconds(),
                    isConnected: registered))
                return
            }
            if transactions.knows(request.sagaID) {
                let refusal = sharedIDRefusal(request.sagaID, usedBy: "a transaction")
                refuseSaga(request, refusal, to: id)
                return
            }
            // Not in memory: the compensation log may hold it from before a restart (then no step
            // runs again), or the decision log a transaction of that id.
            let ledger = ledger
            Task {
                do throws(LedgerError) {
                    let logged = try await ledger.saga(request.sagaID)
                    guard self.links[id] != nil else { return }
                    if logged == nil, try await ledger.transaction(request.sagaID) != nil {
                        let refusal = self.sharedIDRefusal(request.sagaID, usedBy: "a transaction")
                        self.refuseSaga(request, refusal, to: id)
                        return
                    }
                    let nowUnix = WireTime.nowUnixMilliseconds()
                    if let logged {
                        self.perform(self.sagas.answer(fromLog: logged, requestID: request.requestID, from: id, clientName: client, steps: steps, nowUnixMilliseconds: nowUnix))
                    } else {
                        let registered = self.registeredOrReturning
                        self.perform(self.sagas.start(
                            request.sagaID, requestID: request.requestID, from: id, clientName: client, steps: steps, nowUnixMilliseconds: nowUnix,
                            isConnected: registered))
                    }
                } catch {
                    let reason = ErrorContext(code: .unavailable, message: "\(error); try again", originNode: self.local.name)
                    self.refuseSaga(request, reason, to: id)
                }
            }
        case .failure(var error):
            error.originNode = local.name
            refuseSaga(request, error, to: id)
        }
    }

    /// Answers saga `request` as refused before any step ran, for `reason`.
    private func refuseSaga(_ request: Phalanx_V1_SagaRequest, _ reason: ErrorContext, to id: ConnectionID) {
        sendNow(Phalanx_V1_Envelope(.sagaReply(SagaOutcome(id: request.sagaID, completed: false, reason: reason).wire(requestID: request.requestID))), to: id)
    }

    func perform(_ actions: [SagaMachine.Action]) {
        var touched = Set<ConnectionID>()
        for action in actions {
            switch action {
            case .persist(let record):
                writer.enqueue([.saga(record)])
            case .runTransaction, .reply:
                performWhenDurable(.saga(action), touched: &touched)
            }
        }
        for id in touched { links[id]?.flush() }
        scheduleTransactionWakeUp()
    }

    /// Runs a step or compensation, or answers a client (what precedes it is durable).
    func performVisible(_ action: SagaMachine.Action, touched: inout Set<ConnectionID>) {
        switch action {
        case .runTransaction(let transaction, let participants):
            // A worker that reconnected with smaller frames since the saga began: the step fails here
            // instead of cutting the worker off.
            if let refusal = prepareTooLarge(participants) {
                sagaTransactionEnded(TransactionOutcome(id: transaction, committed: false, reason: refusal))
                return
            }
            if awaitsReregistration(of: participants) {
                // Just restarted, a worker it names not back yet: it runs once it is (or the grace ends).
                waitForReregistration(of: participants) { coordinator in
                    var touched = Set<ConnectionID>()
                    coordinator.performVisible(action, touched: &touched)
                    for id in touched { coordinator.links[id]?.flush() }
                }
                return
            }
            let connected = workerConnections
            perform(transactions.begin(
                transaction, requestID: 0, from: .sagaEngine, clientName: "saga", participants: participants, isConnected: { connected[$0] != nil },
                now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds()))
        case .reply(let client, let requestID, let outcome):
            write(Phalanx_V1_Envelope(.sagaReply(outcome.wire(requestID: requestID))), to: client, touched: &touched)
        case .persist:
            perform([action])
        }
    }

    /// A saga's transaction ended (its decision is durable).
    func sagaTransactionEnded(_ outcome: TransactionOutcome) {
        perform(sagas.transactionEnded(outcome, now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds()))
    }

    /// After a restart (and after the transactions were recovered): unfinished sagas resume.
    func recoverSagas() async throws(LedgerError) {
        let unfinished = try await ledger.unfinishedSagas()
        guard !unfinished.isEmpty else { return }
        var decisions: [String: Bool] = [:]
        for history in unfinished {
            for record in history.records {
                switch record.event {
                case .stepStarted(_, _, let transaction), .compensationStarted(_, _, let transaction):
                    if let entry = try await ledger.transaction(transaction), let committed = entry.committed { decisions[transaction] = committed }
                default: break
                }
            }
        }
        logger.notice("sagas resume after the restart", metadata: ["count": "\(unfinished.count)"])
        // Each waits for the workers it names to register again, at most a heartbeat window.
        let grace = configuration.heartbeatInterval * configuration.heartbeatMisses
        perform(sagas.recovered(unfinished, decisions: decisions, now: now, grace: grace, nowUnixMilliseconds: WireTime.nowUnixMilliseconds()))
        scheduleTransactionWakeUp()
    }
}
