import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxWire

/// The coordinator's side of two-phase commit: it feeds transaction messages into the
/// ``TransactionMachine`` and performs its actions. Decision-log changes go through the same
/// group commit as tasks; a reply or decision that follows one waits until it is durable.
extension Coordinator {
    /// Ids of transactions a task applies: a re-run of the task asks for the same ones.
    static var taskEffectPrefix: String { "task:" }

    func transactionRequest(_ request: Phalanx_V1_TxRequest, from id: ConnectionID) {
        let participants: [ParticipantOperations]
        switch ParticipantOperations.from(wire: request.participants) {
        case .success(let parsed): participants = parsed
        case .failure(var error):
            error.originNode = local.name
            replyNow(.refusal(id: request.txID, reason: error), requestID: request.requestID, to: id)
            return
        }
        let peer = links[id]?.peer.identity
        var client = peer?.name ?? ""
        let transactionID: String
        if peer?.role == .worker {
            // The effects of a running attempt: named after its task, fenced by its attempt.
            guard let key = machine.runningTask(request.taskDispatchID, attempt: request.taskAttempt, on: id) else {
                let refusal = ErrorContext(
                    code: .superseded,
                    message: "attempt \(request.taskAttempt) of task \(request.taskDispatchID) is not running on this worker any more (it finished, was cancelled, lost or retried); its effects were not applied",
                    originNode: local.name)
                replyNow(.refusal(id: "", reason: refusal), requestID: request.requestID, to: id)
                return
            }
            // Every attempt names effect k alike, and gets its logged outcome: a committed effect is
            // never applied twice, and an aborted one stays aborted (the handler saw that and went on
            // — a retry is its next effect — so a re-run must see it too, or it applies twice).
            transactionID = "\(Self.taskEffectPrefix)\(key.client)/\(key.taskID)#\(request.effectIndex)"
            client = key.client  // the task's client: every attempt, on any worker, asks as the same one
        } else if request.txID.hasPrefix(Self.taskEffectPrefix) || request.txID.hasPrefix(SagaMachine.transactionPrefix) {
            let refusal = ErrorContext(
                code: .invalidArgument,
                message: "transaction ids starting with '\(Self.taskEffectPrefix)' or '\(SagaMachine.transactionPrefix)' are reserved for the effects of tasks and the steps of sagas; choose another id",
                originNode: local.name)
            replyNow(.refusal(id: request.txID, reason: refusal), requestID: request.requestID, to: id)
            return
        } else {
            transactionID = request.txID
        }
        if let refusal = prepareTooLarge(participants) {
            replyNow(.refusal(id: transactionID, reason: refusal), requestID: request.requestID, to: id)
            return
        }
        let isClient = peer?.role != .worker
        let known = transactions.knows(transactionID)
        if isClient, !known, sagas.knows(transactionID) {
            replyNow(.refusal(id: transactionID, reason: sharedIDRefusal(transactionID, usedBy: "a saga")), requestID: request.requestID, to: id)
            return
        }
        // A client that made a new id for this request promises it was never used: nothing to look up.
        guard !known, !(request.freshID && isClient) else {
            begin(transactionID, request, participants: participants, from: id, client: client)
            return
        }
        // Not in memory: the decision log may hold it from before a restart (then it must not run
        // again), or the compensation log a saga of that id.
        let ledger = ledger
        Task {
            do throws(LedgerError) {
                let logged = try await ledger.transaction(transactionID)
                if logged == nil, isClient, try await ledger.saga(transactionID) != nil {
                    self.replyNow(.refusal(id: transactionID, reason: self.sharedIDRefusal(transactionID, usedBy: "a saga")), requestID: request.requestID, to: id)
                    return
                }
                self.begin(transactionID, request, participants: participants, from: id, client: client, logged: logged)
            } catch {
                self.replyNow(
                    .refusal(id: transactionID, reason: ErrorContext(code: .unavailable, message: "\(error); try again", originNode: self.local.name)),
                    requestID: request.requestID, to: id)
            }
        }
    }

    /// The refusal of an id that `usedBy` ("a saga", "a transaction") already has: transactions
    /// and sagas share one set of ids, so that `tx show ID` names one thing.
    func sharedIDRefusal(_ id: String, usedBy other: String) -> ErrorContext {
        ErrorContext(
            code: .invalidArgument,
            message: "id \(id) was used by \(other); transactions and sagas share one set of ids (phalanx tx show finds either), so use a new id",
            originNode: local.name)
    }

    /// Why the PREPARE for one of `participants` cannot reach its worker (it would be larger than
    /// the frames the worker announced, which would cut the worker off), or nil when every one fits.
    func prepareTooLarge(_ participants: [ParticipantOperations]) -> ErrorContext? {
        for participant in participants {
            guard let connection = workerConnections[participant.participant], let limit = links[connection]?.peer.maximumFrameBytes else { continue }
            // Far from the limit (every transfer): not serialized just to be measured. The bound is
            // at least the encoded size: twice the estimate (content bytes and more) and 64 bytes
            // of tags and lengths per operation.
            let bound = 2 * participant.estimatedBytes + 64 * (participant.operations.count + 1)
            if bound + 256 <= limit { continue }
            let bytes = (try? participant.wire.serializedBytes() as [UInt8])?.count ?? 0
            if bytes + 256 > limit {
                return ErrorContext(
                    code: .invalidArgument,
                    message: "the operations for \(participant.participant) take \(bytes) bytes; with the 256 bytes kept for the PREPARE around them that is more than the \(limit)-byte frames \(participant.participant) accepts; split the transaction",
                    originNode: local.name)
            }
        }
        return nil
    }

    private func begin(
        _ transactionID: String, _ request: Phalanx_V1_TxRequest, participants: [ParticipantOperations], from id: ConnectionID, client: String,
        logged: TransactionLogEntry? = nil
    ) {
        guard let link = links[id] else { return }
        if let logged {
            perform(transactions.answer(fromLog: logged, requestID: request.requestID, to: id, clientName: client, participants: participants))
            return
        }
        if awaitsReregistration(of: participants) {
            // Just restarted: a worker it names has not registered again yet; it begins once it has
            // (or when the grace ends), rather than aborting "not connected" because of the restart.
            waitForReregistration(of: participants) { coordinator in
                coordinator.begin(transactionID, request, participants: participants, from: id, client: client)
            }
            return
        }
        let connected = workerConnections
        perform(transactions.begin(
            transactionID, requestID: request.requestID, from: id, clientName: client, traceID: request.trace.traceID, participants: participants,
            isConnected: { connected[$0] != nil }, now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds(),
            maximumReadBytes: TransactionLimits.readBudget(forFrameBytes: link.peer.maximumFrameBytes)))
    }

    private func replyNow(_ outcome: TransactionOutcome, requestID: UInt64, to id: ConnectionID) {
        sendNow(Phalanx_V1_Envelope(.txReply(outcome.wire(requestID: requestID))), to: id)
    }

    func transactionVote(_ vote: Phalanx_V1_TxVote, from id: ConnectionID) {
        guard let name = workerName(of: id) else { return }
        let parsed: ParticipantMachine.Vote =
            vote.yes ? .yes(reads: StoreReads.from(vote.reads)[name] ?? [:]) : .no(vote.hasError ? ErrorContext(wire: vote.error) : ErrorContext(code: .internal, message: "\(name) voted NO without a reason", originNode: name))
        if vote.storeWrites > 0 { machine.participantStoreWrote(name, writes: Int64(clamping: vote.storeWrites)) }
        perform(transactions.voted(vote.txID, from: name, parsed, now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds()))
    }

    func transactionAcknowledged(_ ack: Phalanx_V1_TxAck, from id: ConnectionID) {
        guard let name = workerName(of: id) else { return }
        if ack.storeWrites > 0 { machine.participantStoreWrote(name, writes: Int64(clamping: ack.storeWrites)) }
        perform(transactions.acknowledged(ack.txID, from: name, nowUnixMilliseconds: WireTime.nowUnixMilliseconds()))
    }

    func transactionInquiry(_ inquiry: Phalanx_V1_TxInquiry, from id: ConnectionID) {
        guard let name = workerName(of: id) else { return }
        perform(transactions.inquired(Array(inquiry.txIds.prefix(10_000)), from: name))
    }

    /// Whether a transaction naming `participants` waits for a worker to register again: the
    /// coordinator just restarted (within the grace), a worker it names registered before and is
    /// not back yet, and the waiting ones are within the bounds of transactions in progress.
    func awaitsReregistration(of participants: [ParticipantOperations]) -> Bool {
        guard let until = reregistrationGraceUntil, now < until else { return false }
        return participants.contains(where: { workerConnections[$0.participant] == nil && machine.knowsWorker($0.participant) })
            && waitingForReregistration.count < transactions.settings.maximumActive
            && waitingForReregistrationBytes + participants.estimatedBytes <= transactions.settings.maximumActiveBytes
    }

    /// Runs `begin` once the workers `participants` name are back (or the grace ended); their
    /// bytes count against the bound ``awaitsReregistration(of:)`` checks.
    func waitForReregistration(of participants: [ParticipantOperations], then begin: @escaping @Sendable (isolated Coordinator) -> Void) {
        waitingForReregistrationBytes += participants.estimatedBytes
        waitingForReregistration.append(begin)
    }

    /// Registered workers, and — within the grace after a restart — those that registered before
    /// it and may come back (a saga naming one is not refused as "not registered" meanwhile).
    var registeredOrReturning: @Sendable (String) -> Bool {
        let connected = workerConnections
        let returning: Set<String> = reregistrationGraceUntil.map { now < $0 } == true ? machine.knownWorkerNames : []
        return { connected[$0] != nil || returning.contains($0) }
    }

    /// The grace after a restart ended: transactions still waiting for a worker begin now (and
    /// abort "not connected" if it is still missing).
    func reregistrationGraceEnded() {
        reregistrationGraceUntil = nil
        retryWaitingForReregistration()
    }

    private func retryWaitingForReregistration() {
        guard !waitingForReregistration.isEmpty else { return }
        let waiting = waitingForReregistration
        waitingForReregistration = []
        waitingForReregistrationBytes = 0
        for begin in waiting { begin(self) }  // those still missing a worker wait again
    }

    /// A worker registered: it is a participant from now on, and gets the decisions it missed.
    func participantRegistered(_ name: String, on id: ConnectionID) {
        defer { retryWaitingForReregistration() }
        workerConnections[name] = id
        perform(transactions.participantConnected(name, now: now))
        let connected = workerConnections  // sagas resumed after a restart may have waited for it
        perform(sagas.wakeUp(now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds(), isConnected: { connected[$0] != nil }))
    }

    /// A worker went on with a new participant store: decisions the lost store never acknowledged
    /// stop waiting for it (and are no longer resent every second).
    func participantStoreReplaced(_ name: String) {
        let (released, actions) = transactions.participantStoreReplaced(name, now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds())
        if !released.isEmpty {
            logger.warning(
                "decisions the lost participant store of a worker never acknowledged no longer wait for it; the audit names each commit the new store lacks, as explained by the accepted loss",
                metadata: ["worker": "\(name)", "transactions": "\(released.count)", "first": "\(released.prefix(5).joined(separator: ","))"])
        }
        perform(actions)  // also the aborts of undecided transactions that named it
    }

    /// A connection ended; if it was a registered worker, transactions waiting for its vote abort.
    func participantDisconnected(_ id: ConnectionID) {
        transactions.clientLost(id)
        sagas.clientLost(id)
        guard let name = workerConnections.first(where: { $0.value == id })?.key else { return }
        workerConnections[name] = nil
        participantProblems[name] = nil
        perform(transactions.participantLost(name, now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds()))
    }

    private func workerName(of id: ConnectionID) -> String? {
        workerConnections.first(where: { $0.value == id })?.key
    }

    /// After a restart: transactions without END are resolved (undecided ones abort).
    func recoverTransactions() async throws(LedgerError) {
        let unended = try await ledger.unendedTransactions()
        if !unended.isEmpty {
            logger.notice("transactions without END in the decision log", metadata: ["count": "\(unended.count)"])
        }
        perform(transactions.recovered(unended, now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds()))
    }

    // MARK: - Actions

    func perform(_ actions: [TransactionMachine.Action]) {
        var touched = Set<ConnectionID>()
        for action in actions {
            switch action {
            case .persist(let change):
                // Encoded here, beside the writer, not in its serial write; an END rides along
                // with the next commit instead of costing an fsync of its own.
                writer.enqueue([.encodedTransaction(change)], lazy: change.mayBeWrittenLazily)
            case .sendPrepare(let participant, let txID, let operations, let deadline):
                guard let connection = workerConnections[participant] else { continue }
                var prepare = Phalanx_V1_TxPrepare()
                prepare.txID = txID
                prepare.operations = operations.map(\.wire)
                prepare.voteDeadlineUnixMs = deadline
                write(Phalanx_V1_Envelope(.txPrepare(prepare)), to: connection, touched: &touched)
            case .sendDecision, .reply:
                performWhenDurable(.transaction(action), touched: &touched)
            }
        }
        for id in touched { links[id]?.flush() }
        scheduleTransactionWakeUp()
    }

    /// Sends a decision or a reply whose decision is durable. While an audit takes its cut, a
    /// decision for a participant whose snapshot has not arrived yet waits for it.
    func performVisible(_ action: TransactionMachine.Action, touched: inout Set<ConnectionID>) {
        switch action {
        case .sendDecision(let participant, let txID, let commit):
            if let run = audit, run.waiting.contains(participant) {
                heldDecisions.append((participant, txID, commit))
                return
            }
            Failpoints.hit("coordinator.before_decision_sent", context: txID)
            guard let connection = workerConnections[participant] else { return }  // sent when it registers again
            var decision = Phalanx_V1_TxDecision()
            decision.txID = txID
            decision.commit = commit
            write(Phalanx_V1_Envelope(.txDecision(decision)), to: connection, touched: &touched)
        case .reply(let client, let requestID, let outcome):
            if client == .sagaEngine {
                sagaTransactionEnded(outcome)
                return
            }
            write(Phalanx_V1_Envelope(.txReply(outcome.wire(requestID: requestID))), to: client, touched: &touched)
        case .persist, .sendPrepare:
            perform([action])
        }
    }

    /// Releases the decisions held while an audit took its cut: those for `participant` once its
    /// snapshot is in, or all of them.
    func releaseHeldDecisions(for participant: String? = nil) {
        let held = heldDecisions.filter { participant == nil || $0.participant == participant }
        heldDecisions.removeAll { participant == nil || $0.participant == participant }
        var touched = Set<ConnectionID>()
        for decision in held {
            performVisible(.sendDecision(participant: decision.participant, id: decision.id, commit: decision.commit), touched: &touched)
        }
        for id in touched { links[id]?.flush() }
    }

    /// Arms one timer for the earliest due time of the transaction and saga machines.
    func scheduleTransactionWakeUp() {
        guard let next = [transactions.nextWakeUp, sagas.nextWakeUp].compactMap({ $0 }).min(), !stopping else { return }
        if let current = transactionWakeUp, current.at <= next { return }
        transactionWakeUp?.task.cancel()
        let clock = clock
        let delay = max(.zero, next - now)
        transactionWakeUp = (next, Task {
            guard (try? await clock.sleep(for: delay)) != nil else { return }
            self.transactionTimersDue()
        })
    }

    private func transactionTimersDue() {
        transactionWakeUp = nil
        guard !stopping else { return }
        let connected = workerConnections
        perform(transactions.wakeUp(now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds(), isConnected: { connected[$0] != nil }))
        perform(sagas.wakeUp(now: now, nowUnixMilliseconds: WireTime.nowUnixMilliseconds(), isConnected: { connected[$0] != nil }))
    }

    // MARK: - History

    func transactionShow(_ request: Phalanx_V1_TxShowRequest, from id: ConnectionID) {
        let ledger = ledger
        let active = transactions.activeEntries.first { $0.id == request.txID }
        Task {
            var reply = Phalanx_V1_TxShowReply()
            reply.requestID = request.requestID
            do throws(LedgerError) {
                // The in-memory state is newer for a transaction in progress.
                var entry = active
                if entry == nil { entry = try await ledger.transaction(request.txID) }
                if let entry {
                    reply.found = true
                    reply.entryJson = WireJSON.encode(entry)
                } else if let saga = try await ledger.saga(request.txID) {
                    reply.found = true
                    reply.sagaJson = WireJSON.encode(saga)
                }
            } catch {
                reply.error = ErrorContext(code: .unavailable, message: "\(error); try again later", originNode: self.local.name).wire
            }
            self.sendShowReply(reply, to: id)
        }
    }

    /// Sends `reply` in parts that fit the client's frames: a history as JSON can be several
    /// times larger than the operations that made it (byte values are arrays of numbers).
    private func sendShowReply(_ reply: Phalanx_V1_TxShowReply, to id: ConnectionID) {
        guard let link = links[id] else { return }
        let partBytes = max(1_024, link.peer.maximumFrameBytes - 1_024)
        let json = reply.sagaJson.isEmpty ? reply.entryJson : reply.sagaJson
        guard json.count > partBytes else { return sendNow(Phalanx_V1_Envelope(.txShowReply(reply)), to: id) }
        var touched = Set<ConnectionID>()
        for start in stride(from: 0, to: json.count, by: partBytes) {
            var part = reply
            let piece = Data(json[(json.startIndex + start)..<(json.startIndex + min(json.count, start + partBytes))])
            if reply.sagaJson.isEmpty { part.entryJson = piece } else { part.sagaJson = piece }
            part.more = start + partBytes < json.count
            write(Phalanx_V1_Envelope(.txShowReply(part)), to: id, touched: &touched)
        }
        for id in touched { links[id]?.flush() }
    }
}
