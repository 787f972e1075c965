import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxWire

/// `phalanx audit --offline`: the same checks as the online audit, over the data directories of a
/// cluster that is down — the coordinator's task ledger (with its decision log) and every
/// worker's participant store. It takes each directory's lock first, so it never reads a store a
/// running node is writing.
public enum OfflineAudit {
    /// What could not be read; the audit exits 2 naming it.
    public struct Unreadable: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads `coordinatorDirectory/tasks.sqlite` and `workersDirectory/*/participant.sqlite`, then
    /// runs ``TransactionAudit`` (with `retentionMilliseconds`, history older than the retention may
    /// have been pruned on one side only and is not judged).
    public static func run(
        coordinatorDirectory: String, workersDirectory: String, nowUnixMilliseconds: Int64 = WireTime.nowUnixMilliseconds(),
        inDoubtThresholdMilliseconds: Int64 = 30_000, pendingThresholdMilliseconds: Int64 = 30_000, retentionMilliseconds: Int64? = nil
    ) async throws(Unreadable) -> AuditSummary {
        let ledgerPath = "\(coordinatorDirectory)/tasks.sqlite"
        guard FileManager.default.fileExists(atPath: ledgerPath) else {
            throw Unreadable(description: "there is no task ledger at \(ledgerPath); check coordinator.data_dir")
        }
        if let problem = emptyFileProblem(ledgerPath, what: "task ledger") { throw Unreadable(description: problem) }
        var locks: [DataDirectoryLock] = []
        defer { withExtendedLifetime(locks) {} }
        do {
            locks.append(try DataDirectoryLock(
                directory: coordinatorDirectory, why: "the coordinator is running", advice: "audit it online (phalanx audit without --offline), or stop it first"))
        } catch {
            throw Unreadable(description: error.message)
        }
        let log: [TransactionLogEntry]
        let sagas: [SagaHistory]
        let tasks: TaskLedgerAudit
        let losses: [AcceptedStoreLoss]
        do {
            let ledger = try SQLiteTaskLedger(path: ledgerPath)
            log = try await ledger.transactionLog()
            sagas = try await ledger.sagaLog()
            tasks = try await ledger.auditTasks { StoredTaskResult.isTerminal($0) }
            losses = try await ledger.acceptedStoreLosses()
        } catch {
            throw Unreadable(description: error.message)
        }
        var snapshots: [ParticipantSnapshot] = []
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: workersDirectory)) ?? []).sorted()
        for name in names {
            let directory = "\(workersDirectory)/\(name)"
            let path = "\(directory)/participant.sqlite"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            if let problem = emptyFileProblem(path, what: "participant store") { throw Unreadable(description: "worker \(name): \(problem)") }
            do {
                locks.append(try DataDirectoryLock(
                    directory: directory, owner: "participant", setting: "worker.data_dir", why: "worker \(name) is running",
                    advice: "stop it for an offline audit, or audit the cluster online (phalanx audit without --offline)"))
                snapshots.append(try await ParticipantStore(path: path).snapshot(node: name))
            } catch {
                throw Unreadable(description: "worker \(name): \(error.message)")
            }
        }
        let known = Set(snapshots.map(\.node))
        let missing = Set(log.filter(\.requiresEveryParticipant).flatMap(\.participantNames)).subtracting(known)
        if !missing.isEmpty {
            throw Unreadable(description: "no participant store for \(missing.sorted().joined(separator: ", ")) under \(workersDirectory), named by committed or unfinished transactions in the decision log; check worker.data_dir")
        }
        var input = TransactionAudit.Input(
            log: log, participants: snapshots, sagas: sagas, taskFindings: tasks.findings, nowUnixMilliseconds: nowUnixMilliseconds,
            inDoubtThresholdMilliseconds: inDoubtThresholdMilliseconds, pendingThresholdMilliseconds: pendingThresholdMilliseconds)
        input.historyHorizonUnixMilliseconds = retentionMilliseconds.map {
            TransactionAudit.Input.historyHorizon(retentionMilliseconds: $0, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        input.acceptedLosses = losses
        let report = TransactionAudit.run(input)
        return AuditSummary(report: report, tasksAccepted: tasks.accepted, tasksFinished: tasks.finished)
    }

    /// An empty file is no store (opening it would write a new schema into it, so the audit would
    /// change what it reads and report nothing missing).
    private static func emptyFileProblem(_ path: String, what: String) -> String? {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        guard size == 0 else { return nil }
        return "the \(what) \(path) is an empty file (0 bytes), not a store: it was never written, or was truncated; restore it from a backup, or remove it if this node never held data"
    }
}
