import Foundation
import PhalanxClient
import PhalanxResilience

/// Prints task outcomes the way `submit --wait` and `result` do: in text, one line per task for
/// small runs (and the first failures of large ones) and a summary; with `--json`, one JSON
/// object with every outcome.
struct OutcomeReport {
    let json: Bool
    /// Text lines are printed for every task up to this many tasks.
    let listAllUpTo: Int
    private(set) var succeeded = 0
    private(set) var failed = 0
    private(set) var pending = 0
    private(set) var unknown = 0
    private var entries: [[String: Any]] = []

    init(json: Bool, listAllUpTo: Int = 20) {
        self.json = json
        self.listAllUpTo = listAllUpTo
    }

    private var seen: Int { succeeded + failed + pending + unknown }

    mutating func add(_ outcome: TaskOutcome, total: Int) {
        let history: [[String: Any]] = outcome.history.map { failed in
            [
                "attempt": failed.attempt, "worker": failed.worker, "code": failed.error.code.rawValue, "message": failed.error.message,
                "lost": failed.lost,
            ]
        }
        var retried = Self.earlierAttempts(outcome.history)
        if let original = outcome.original { retried += "; the result of earlier task \(original), same idempotency key" }
        switch outcome.result {
        case .success(let bytes):
            succeeded += 1
            // Output that is not UTF-8 text (a binary echo) is not made into text: that loses bytes.
            let valid = String(validating: bytes, as: UTF8.self)
            let text = valid ?? "(\(bytes.count) bytes, not UTF-8 text; --json gives them as output_base64)"
            if json {
                var entry: [String: Any] = [
                    "task_id": outcome.taskID, "ok": true, "output": valid ?? "", "worker": outcome.worker ?? "", "attempt": outcome.attempt, "history": history,
                ]
                if valid == nil { entry["output_base64"] = Data(bytes).base64EncodedString() }
                if let original = outcome.original { entry["original_task_id"] = original }
                entries.append(entry)
            } else if total <= listAllUpTo {
                print("\(outcome.taskID.terminalSafe) ok (\(outcome.worker ?? "?"), attempt \(outcome.attempt)\(retried)): \(text.terminalSafe)")
            }
        case .failure(let error):
            failed += 1
            if json {
                var entry: [String: Any] = [
                    "task_id": outcome.taskID, "ok": false, "code": error.code.rawValue, "class": error.failureClass.rawValue,
                    "message": error.message, "origin_node": error.originNode ?? "", "trace_id": error.traceID ?? "",
                    "worker": outcome.worker ?? "", "attempt": outcome.attempt, "history": history,
                ]
                if let original = outcome.original { entry["original_task_id"] = original }
                entries.append(entry)
            } else if total <= listAllUpTo || failed <= 5 {
                print("\(outcome.taskID.terminalSafe) FAILED (attempt \(outcome.attempt)\(retried)) \(error.terminalDescription)")
            }
        }
    }

    /// ", after 1 failed and 2 interrupted attempt(s) on w1, w2, a worker not recorded (…)": what the history says, in one
    /// clause (interrupted: it ended without a result, `lost` in the JSON).
    static func earlierAttempts(_ history: [TaskOutcome.FailedAttempt]) -> String {
        guard !history.isEmpty else { return "" }
        let lost = history.filter(\.lost).count
        let failed = history.count - lost
        let kinds = [failed > 0 ? "\(failed) failed" : nil, lost > 0 ? "\(lost) interrupted" : nil].compactMap { $0 }.joined(separator: " and ")
        let workers = history.map { $0.worker.isEmpty ? "a worker not recorded (the coordinator restarted)" : $0.worker.terminalSafe }.joined(separator: ", ")
        return ", after \(kinds) attempt(s) on \(workers)"
    }

    mutating func addPending(_ taskID: String) {
        pending += 1
        if json { entries.append(["task_id": taskID, "pending": true]) } else { print("\(taskID.terminalSafe) pending (not finished yet)") }
    }

    mutating func addUnknown(_ taskID: String) {
        unknown += 1
        if json {
            entries.append(["task_id": taskID, "unknown": true])
        } else {
            print("\(taskID.terminalSafe) unknown: never accepted for this client certificate, or pruned after coordinator.retention_ms")
        }
    }

    /// Prints the summary (text) or the whole report (JSON).
    func finish(seconds: Double) throws {
        if json {
            var summary: [String: Any] = ["tasks": seen, "succeeded": succeeded, "failed": failed, "seconds": seconds, "results": entries]
            if pending > 0 { summary["pending"] = pending }
            if unknown > 0 { summary["unknown"] = unknown }
            try printJSON(summary)
        } else {
            var line = "\(seen) task(s): \(succeeded) succeeded, \(failed) failed"
            if pending > 0 { line += ", \(pending) pending" }
            if unknown > 0 { line += ", \(unknown) unknown" }
            print("\(line) in \(String(format: "%.3f", seconds)) s")
        }
    }
}
