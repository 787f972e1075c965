import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxWire

/// An audit in progress: the cut it took and the participant snapshots gathered so far.
struct AuditRun: Sendable {
    let id: UInt64
    let admin: ConnectionID
    let requestID: UInt64
    let inDoubtThreshold: Int64
    let pendingThreshold: Int64
    /// When the cut was taken; transactions begun later (and not in progress then) are not judged.
    let cutUnixMilliseconds: Int64
    let activeAtCut: Set<String>
    var waiting: Set<String>
    /// The participants registered when the audit began (asked for their snapshots).
    let asked: Set<String>
    var unreachable: Set<String> = []
    /// Why a participant could not be judged, where it said (its store cannot be read) or the
    /// coordinator knows (its snapshot cannot be read, it disconnected, it sent nothing in time).
    var reasons: [String: String] = [:]
    /// When each participant last sent a part (from the start of the audit for one that has not):
    /// silent for the snapshot timeout, it is unreachable.
    var lastProgress: [String: Duration] = [:]
    var started: Duration = .zero
    /// Each participant's snapshot parts as they arrived (JSON), read off the actor at the end.
    var parts: [String: [Data]] = [:]
    /// Participants whose last part arrived: only their snapshots are judged (a partial one is not).
    var complete: Set<String> = []
    var finishing = false
}

/// `phalanx audit` online: a consistent cut of the decision log and every participant, taken
/// without stopping the cluster. From the moment the cut starts until a participant sent its
/// snapshot, decisions for it are held back (not sent), so no participant applies before its
/// snapshot a decision the cut does not judge; transactions that begin during the cut are left out
/// of the judgement. A slow participant holds back only its own decisions. The
/// pure ``TransactionAudit`` then checks the whole.
extension Coordinator {
    /// Participants that send no part of their snapshot for this long are reported unreachable
    /// (unless the request says otherwise). It bounds the silence, not the whole snapshot: a large
    /// store that keeps arriving is waited for.
    static var auditSnapshotTimeout: Duration { .seconds(10) }

    func auditRequest(_ request: Phalanx_V1_AuditRequest, from id: ConnectionID) {
        guard audit == nil else {
            var reply = Phalanx_V1_AuditReply()
            reply.requestID = request.requestID
            reply.error = ErrorContext(code: .overloaded, message: "another audit is running; try again when it ends", originNode: local.name).wire
            sendNow(Phalanx_V1_Envelope(.auditReply(reply)), to: id)
            return
        }
        nextAuditID += 1
        let auditID = nextAuditID
        let participants = workerConnections
        audit = AuditRun(
            id: auditID, admin: id, requestID: request.requestID,
            inDoubtThreshold: Int64(request.inDoubtThresholdMs > 0 ? request.inDoubtThresholdMs : 30_000),
            pendingThreshold: Int64(request.pendingThresholdMs > 0 ? request.pendingThresholdMs : 30_000),
            cutUnixMilliseconds: WireTime.nowUnixMilliseconds(), activeAtCut: Set(transactions.activeEntries.map(\.id)),
            waiting: Set(participants.keys), asked: Set(participants.keys), started: now)
        logger.notice("audit started", metadata: ["audit": "\(auditID)", "participants": "\(participants.count)"])
        var snapshotRequest = Phalanx_V1_SnapshotRequest()
        snapshotRequest.auditID = auditID
        for connection in participants.values { sendNow(Phalanx_V1_Envelope(.snapshotRequest(snapshotRequest)), to: connection) }
        let clock = clock
        let timeout: Duration = request.snapshotTimeoutMs > 0 ? .milliseconds(Int64(request.snapshotTimeoutMs)) : Self.auditSnapshotTimeout
        // Checked four times per timeout, so a silence is noticed within 1.25 times it.
        let tick = max(.milliseconds(25), timeout / 4)
        Task {
            while true {
                try? await clock.sleep(for: tick)
                guard await self.auditSnapshotTimerFired(auditID, after: timeout) else { return }
            }
        }
        if participants.isEmpty { Task { await self.finishAudit(auditID) } }
    }

    func snapshotPart(_ part: Phalanx_V1_SnapshotPart, from id: ConnectionID) {
        guard var run = audit, run.id == part.auditID, !run.finishing,
            let name = workerConnections.first(where: { $0.value == id })?.key, run.waiting.contains(name)
        else { return }
        // Its first part says its cut is taken (a worker sends an empty one as soon as its read
        // holds its snapshot): the decisions held back for it can go, it no longer sees them.
        if part.alive {
            run.lastProgress[name] = now
            audit = run
            return
        }
        let first = run.parts[name] == nil
        var parts = run.parts[name] ?? []
        if !part.snapshotItems.isEmpty { parts.append(part.snapshotItems) }
        run.parts[name] = parts
        run.lastProgress[name] = now
        if part.hasError {
            // The worker cannot read its store: it cannot be judged, and says why.
            let error = ErrorContext(wire: part.error)
            logger.error("a worker cannot send its snapshot for the audit", metadata: ["worker": "\(name)", "error": "\(error.message)"])
            run.waiting.remove(name)
            run.unreachable.insert(name)
            run.reasons[name] = error.message
            run.parts[name] = nil
        } else if part.last {
            run.waiting.remove(name)
            run.complete.insert(name)
        }
        audit = run
        if first { releaseHeldDecisions(for: name) }
        if run.waiting.isEmpty { Task { await self.finishAudit(run.id) } }
    }

    /// A participant that disconnects during the audit cannot be judged.
    func auditLost(_ name: String) {
        guard var run = audit, run.waiting.remove(name) != nil else { return }
        run.unreachable.insert(name)
        run.reasons[name] = "it was lost during the audit (it disconnected, or missed its heartbeats and was declared dead)"
        audit = run
        if run.waiting.isEmpty { Task { await self.finishAudit(run.id) } }
    }

    /// The participants' snapshots read back from their parts, off the actor; names whose parts
    /// cannot be read. Each participant's parts are released once read.
    private nonisolated static func readSnapshots(_ parts: consuming [String: [Data]]) async -> ([String: ParticipantSnapshot], [String: ErrorContext]) {
        var parts = parts
        return await Task.detached {
            var snapshots: [String: ParticipantSnapshot] = [:]
            var unreadable: [String: ErrorContext] = [:]
            for name in parts.keys.sorted() {
                let pieces = parts.removeValue(forKey: name) ?? []
                var reader = SnapshotStream.Reader(node: name)
                do throws(ErrorContext) {
                    for data in pieces { try reader.append(data) }
                    snapshots[name] = try reader.finish()
                } catch {
                    unreadable[name] = error
                }
            }
            return (snapshots, unreadable)
        }.value
    }

    /// The snapshot timer of audit `auditID` ticked: participants silent for `timeout` are
    /// unreachable. Returns whether the timer should run again (some are still sending).
    private func auditSnapshotTimerFired(_ auditID: UInt64, after timeout: Duration) async -> Bool {
        guard var run = audit, run.id == auditID, !run.finishing else { return false }
        let now = now
        let silent = run.waiting.filter { now - (run.lastProgress[$0] ?? run.started) >= timeout }
        for name in silent {
            run.reasons[name] = run.parts[name] == nil
                ? "it sent no snapshot within \(timeout) (a worker that is stuck or too busy; raise --timeout-ms if it is merely slow)"
                : "its snapshot stopped arriving: nothing for \(timeout)"
        }
        run.unreachable.formUnion(silent)
        run.waiting.subtract(silent)
        audit = run
        if run.waiting.isEmpty {
            await finishAudit(auditID)
            return false
        }
        return true
    }

    private func finishAudit(_ auditID: UInt64) async {
        guard var run = audit, run.id == auditID, !run.finishing else { return }
        run.finishing = true
        audit = run
        var reply = Phalanx_V1_AuditReply()
        reply.requestID = run.requestID
        do throws(LedgerError) {
            // Read while decisions are still held: the log can only be ahead of the participants.
            let stored = try await ledger.transactionLog()
            let storedSagas = try await ledger.sagaLog()
            let tasks = try await ledger.auditTasks { StoredTaskResult.isTerminal($0) }
            let losses = try await ledger.acceptedStoreLosses()
            // Reading the snapshots and checking them is pure work off the actor: a large history
            // must not keep the coordinator from its heartbeats meanwhile. The parts are let go as
            // they are read (only the reader holds them), not kept beside the snapshots to the end.
            let parts = run.parts.filter { run.complete.contains($0.key) }
            run.parts = [:]
            audit?.parts = [:]
            let (snapshots, unreadable) = await Self.readSnapshots(parts)
            for (name, error) in unreadable {
                logger.error("the audit cannot read a worker's snapshot; it counts as unreachable", metadata: ["worker": "\(name)", "error": "\(error.message)"])
                run.unreachable.insert(name)
                run.reasons[name] = error.message
            }
            let active = transactions.activeEntries
            audit = nil
            releaseHeldDecisions()
            let (cut, activeAtCut, unreachable) = (run.cutUnixMilliseconds, run.activeAtCut, run.unreachable)
            let (inDoubt, pending) = (run.inDoubtThreshold, run.pendingThreshold)
            let retention = configuration.retention.wholeMilliseconds
            let findings = tasks.findings
            // Off the actor too: the decision log may hold hundreds of thousands of entries.
            let (report, judgedUnreachable) = await Task.detached { () -> (TransactionAudit.Report, Set<String>) in
                // Records appended after the cut describe what the cut does not show yet.
                let sagaLog = storedSagas.map { SagaHistory(records: $0.records.filter { $0.unixMilliseconds < cut }) }.filter { !$0.records.isEmpty }
                var entries: [String: TransactionLogEntry] = [:]
                for entry in stored { entries[entry.id] = entry }
                for entry in active { entries[entry.id] = entry }
                // Judged: what began before the cut. An END logged after the cut may follow a participant's
                // snapshot (its decision was released once its cut was taken): judged as not ended yet.
                let judged = entries.values.filter { activeAtCut.contains($0.id) || $0.begin.begunUnixMilliseconds < cut }
                    .map { entry -> TransactionLogEntry in
                        guard let ended = entry.endedUnixMilliseconds, ended >= cut else { return entry }
                        var seen = entry
                        seen.endedUnixMilliseconds = nil
                        return seen
                    }
                // Participants that sent no snapshot (not connected, or too slow) cannot be judged where it
                // matters: a transaction that committed or is unfinished (an ended abort changed nothing).
                var unreachable = unreachable
                for entry in judged where entry.requiresEveryParticipant {
                    for name in entry.participantNames where snapshots[name] == nil { unreachable.insert(name) }
                }
                let nowUnix = WireTime.nowUnixMilliseconds()
                var input = TransactionAudit.Input(
                    log: judged, participants: Array(snapshots.values), sagas: sagaLog, unreachable: unreachable, taskFindings: findings,
                    nowUnixMilliseconds: nowUnix, inDoubtThresholdMilliseconds: inDoubt, pendingThresholdMilliseconds: pending)
                input.historyHorizonUnixMilliseconds = TransactionAudit.Input.historyHorizon(retentionMilliseconds: retention, nowUnixMilliseconds: nowUnix)
                input.acceptedLosses = losses
                return (TransactionAudit.run(input), unreachable)
            }.value
            run.unreachable = judgedUnreachable
            for name in judgedUnreachable where !run.asked.contains(name) && run.reasons[name] == nil {
                run.reasons[name] =
                    "it was not registered with the coordinator when the audit began (stopped, declared dead, or reconnecting), and transactions the audit judges name it; start it, or audit again once it is registered"
            }
            var summary = AuditSummary(report: report, tasksAccepted: tasks.accepted, tasksFinished: tasks.finished)
            let budget = (links[run.admin]?.peer.maximumFrameBytes ?? 4 * 1024 * 1024) - 4_096
            var encoded = WireJSON.encode(summary)
            /// Halves `findings` until the summary fits the admin's frame, counting what is left out.
            func shorten(_ findings: WritableKeyPath<AuditSummary, [AuditViolation]>, counting omitted: WritableKeyPath<AuditSummary, Int>) {
                while encoded.count > budget, !summary[keyPath: findings].isEmpty {
                    let keep = summary[keyPath: findings].count / 2
                    summary[keyPath: omitted] += summary[keyPath: findings].count - keep
                    summary[keyPath: findings] = Array(summary[keyPath: findings].prefix(keep))
                    encoded = WireJSON.encode(summary)
                }
            }
            // What accepted losses explain goes first: the violations are what the exit status judges.
            shorten(\.report.explainedByAcceptedLosses, counting: \.explainedOmitted)
            shorten(\.report.violations, counting: \.violationsOmitted)
            reply.reportJson = encoded
            reply.unreachable = run.unreachable.sorted()
            reply.unreachableReasons = run.reasons.filter { run.unreachable.contains($0.key) }
            logger.notice(
                "audit finished",
                metadata: ["audit": "\(auditID)", "violations": "\(report.violations.count)", "unreachable": "\(reply.unreachable)"])
        } catch {
            audit = nil
            releaseHeldDecisions()
            reply.error = ErrorContext(code: .unavailable, message: "\(error)", originNode: local.name).wire
        }
        sendNow(Phalanx_V1_Envelope(.auditReply(reply)), to: run.admin)
        FreedMemory.returnToSystem()
    }
}


/// The task ledger's stored results as the audit reads them.
enum StoredTaskResult {
    /// Whether `bytes` is one terminal outcome (an output or an error).
    static func isTerminal(_ bytes: [UInt8]) -> Bool {
        guard let result = try? Phalanx_V1_TaskResult(serializedBytes: bytes) else { return false }
        return result.outcome != nil
    }
}
