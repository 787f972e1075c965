import ArgumentParser
import Foundation
import PhalanxClient
import PhalanxCluster
import PhalanxCore
import PhalanxResilience
import PhalanxWire

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check that the cluster is consistent: transactions atomic, nothing in doubt, invariants held, every task one result.",
        discussion: """
            Online (admin certificate): the coordinator takes a consistent cut of its decision log and every worker's participant store
            while the cluster runs. --offline reads coordinator.data_dir and worker.data_dir directly while the cluster is down.
            Checks: every transaction applied on all its participants or none; nothing prepared longer than --in-doubt-ms, nothing
            undecided or unacknowledged longer than --pending-ms; each store's history chains to its values; no value below its bound;
            for the bank workload, the accounts sum to what was seeded; every finished task has exactly one terminal result.
            Exit codes: 0 clean; 1 violations found (each named with the transaction, node and key); 2 could not audit (naming what
            was unreachable or unreadable), or a configuration error.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Flag(help: "Read the data directories directly (the cluster must be down).")
    var offline = false

    @Option(parsing: .unconditional, help: "A prepared transaction may wait for its decision this long (ms) before it is reported in doubt.")
    var inDoubtMs: Int = 30_000

    @Option(parsing: .unconditional, help: "A transaction may stay undecided, or decided and unacknowledged, this long (ms) before it is reported.")
    var pendingMs: Int = 30_000

    @Option(parsing: .unconditional, help: "Online: a worker that sends no part of its snapshot for this long (ms) is reported unreachable.")
    var timeoutMs: Int = 10_000

    func validate() throws {
        guard (1...86_400_000).contains(inDoubtMs), (1...86_400_000).contains(pendingMs) else {
            throw ValidationError("--in-doubt-ms and --pending-ms must be 1 to 86400000")
        }
        guard (1_000...600_000).contains(timeoutMs) else {
            throw ValidationError("--timeout-ms must be 1000 to 600000, got \(timeoutMs) (a worker sends a sign of life every 200 ms while it reads its store)")
        }
    }

    func run() async throws {
        let config = try common.load()
        let summary: AuditSummary
        var unreachable: [String] = []
        var reasons: [String: String] = [:]
        var unregistered: Set<String> = []
        if offline {
            do {
                summary = try await OfflineAudit.run(
                    coordinatorDirectory: config.path("coordinator.data_dir"), workersDirectory: config.path("worker.data_dir"),
                    inDoubtThresholdMilliseconds: Int64(inDoubtMs), pendingThresholdMilliseconds: Int64(pendingMs),
                    retentionMilliseconds: Int64(config.integer("coordinator.retention_ms")))
            } catch {
                try couldNotAudit("\(error)")
            }
        } else {
            let connection = try await client.connect(config, defaultName: "admin", unreachableExitCode: 2)  // could not audit
            do {
                let outcome = try await connection.audit(
                    inDoubtThreshold: .milliseconds(inDoubtMs), pendingThreshold: .milliseconds(pendingMs), snapshotTimeout: .milliseconds(timeoutMs))
                (summary, unreachable, reasons) = (outcome.summary, outcome.unreachable, outcome.reasons)
            } catch let error as ErrorContext {
                await connection.close()
                try couldNotAudit("\(error)")
            }
            if !unreachable.isEmpty, let registered = try? await connection.status().workers.map(\.name) {
                unregistered = Set(unreachable).subtracting(registered)  // stopped or retired, not merely slow
            }
            await connection.close()
        }
        print(AuditText.render(summary, unreachable: unreachable, reasons: reasons, unregistered: unregistered, json: client.json))
        if !summary.isClean { throw ExitCode(1) }
        if !unreachable.isEmpty { throw ExitCode(2) }
    }

    /// Exits 2 saying why; with --json also as `{"clean": false, "could_not_audit": WHY}` on stdout.
    private func couldNotAudit(_ reason: String) throws -> Never {
        printError("could not audit: \(reason)")
        if client.json { print(AuditText.couldNotAuditJSON(reason)) }
        throw ExitCode(2)
    }
}

/// The audit report as text or JSON.
enum AuditText {
    /// Findings explained by accepted losses listed in the text report (`--json` has them all).
    static let explainedShown = 20

    /// What `audit --json` prints when it could not audit.
    static func couldNotAuditJSON(_ reason: String) -> String {
        struct Output: Encodable { let clean: Bool; let couldNotAudit: String }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(Output(clean: false, couldNotAudit: reason))) ?? Data(), as: UTF8.self)
    }

    /// `reasons`: why an unreachable worker could not be judged, where known; `unregistered`: the
    /// unreachable workers that are not registered with the coordinator.
    static func render(
        _ summary: AuditSummary, unreachable: [String], reasons: [String: String] = [:], unregistered: Set<String> = [], json: Bool
    ) -> String {
        let report = summary.report
        if json {
            // Snake case like every other --json; the reasons are a list, not a map, so that the
            // key conversion cannot rename a worker.
            struct Reason: Encodable { let worker: String; let reason: String }
            struct Output: Encodable {
                let clean: Bool
                let summary: AuditSummary
                let unreachable: [String]
                let unreachableReasons: [Reason]
                let unregistered: [String]
            }
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            let output = Output(
                clean: summary.isClean && unreachable.isEmpty, summary: summary, unreachable: unreachable,
                unreachableReasons: reasons.sorted { $0.key < $1.key }.map { Reason(worker: $0.key, reason: $0.value) }, unregistered: unregistered.sorted())
            return String(decoding: (try? encoder.encode(output)) ?? Data(), as: UTF8.self)
        }
        var lines: [String] = []
        lines.append("audit of \(report.participants.count) participants (\(report.participants.joined(separator: ", ")))")
        lines.append("  transactions: \(report.transactions) in the decision log, \(report.committed) committed, \(report.aborted) aborted, \(report.inProgress) in progress; \(report.inDoubt) prepared on participants")
        lines.append("  keys: \(report.keys)")
        if report.sagas > 0 {
            lines.append("  sagas: \(report.sagas), \(report.sagasCompensated) compensated, \(report.sagasInProgress) in progress")
        }
        if let total = report.bankTotal {
            lines.append("  bank: accounts sum to \(total), seeded \(report.bankSeeded.map { "\($0)" } ?? "(unknown)")")
        }
        lines.append("  tasks: \(summary.tasksAccepted) in the ledger, \(summary.tasksFinished) finished")
        for name in unreachable {
            if let reason = reasons[name] {
                lines.append("  UNREACHABLE: \(name) (it could not be audited: \(reason.terminalSafe))")
            } else if unregistered.contains(name) {
                lines.append("  UNREACHABLE: \(name) (not registered with the coordinator: it is stopped or was retired, and transactions within coordinator.retention_ms name it; the audit needs its store: start it)")
            } else {
                lines.append("  UNREACHABLE: \(name) (its snapshot did not arrive in time; it could not be audited; see its log, or raise --timeout-ms)")
            }
        }
        for loss in report.acceptedLosses {
            lines.append(
                "  ACCEPTED LOSS: \(loss.worker.terminalSafe) went on with another participant store at \(WireTime.iso8601(unixMilliseconds: loss.acceptedUnixMilliseconds)) (--accept-new-store); what the previous one (\(loss.previousStore.terminalSafe), \(loss.previousWrites) durable writes) held and the new one lacks is gone")
        }
        let explained = report.explainedByAcceptedLosses.count + summary.explainedOmitted
        if explained > 0 {
            lines.append("  explained by the accepted losses, not counted as violations: \(explained)")
            for finding in report.explainedByAcceptedLosses.prefix(Self.explainedShown) { lines.append("    \(finding.description.terminalSafe)") }
            if explained > Self.explainedShown { lines.append("    … and \(explained - Self.explainedShown) more (--json lists \(report.explainedByAcceptedLosses.count))") }
            if report.explainedByAcceptedLosses.contains(where: { [.bankTotalChanged, .bankSeedMismatch].contains($0.kind) }) {
                lines.append("    (the bank's balances are judged against their seed again once seeded anew: phalanx bank seed)")
            }
        }
        if summary.isClean {
            lines.append(unreachable.isEmpty ? "clean: no violations" : "no violations among what could be audited")
        } else {
            lines.append("VIOLATIONS: \(report.violations.count + summary.violationsOmitted)")
            for violation in report.violations { lines.append("  \(violation.description.terminalSafe)") }
            if summary.violationsOmitted > 0 { lines.append("  … and \(summary.violationsOmitted) more (too many for one frame)") }
        }
        return lines.joined(separator: "\n")
    }
}
