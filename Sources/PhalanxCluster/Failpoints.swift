import Foundation

/// Named points where a process can be made to exit abruptly (exit status 86, no clean-up, like a
/// crash), for tests of crash recovery. Enabled only by the environment variable
/// `PHALANX_FAILPOINTS` (a comma-separated list of names); without it every point is inert.
public enum Failpoints {
    /// Every failpoint, with where it sits.
    public static let all: [String: String] = [
        "coordinator.before_decision_sent": "the coordinator logged a transaction's decision durably and has not sent it to any participant",
        "participant.after_prepare_durable": "a participant made its prepared record durable and has not sent its YES vote",
        "participant.after_compensation_prepare_durable": "a participant made the prepared record of a saga's compensation durable and has not voted",
        "participant.after_resource_prepared": "a registered resource's prepare hook succeeded and the participant has not recorded it (nor voted)",
        "participant.after_resource_committed": "a registered resource's commit hook returned and the participant has not made the outcome durable",
        "participant.after_outcome_durable": "a participant applied a decision durably and has not acknowledged it",
        "task.after_effect_committed": "a `deposit` task's effect committed and the worker has not reported the task's result",
    ]

    /// The exit status of a process stopped at a failpoint.
    public static let exitStatus: Int32 = 86

    /// The failpoints this process was started with (read once).
    public static let enabled: Set<String> = {
        guard let list = ProcessInfo.processInfo.environment["PHALANX_FAILPOINTS"] else { return [] }
        return Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }()

    /// What is wrong with `PHALANX_FAILPOINTS`, or nil when every name in it exists.
    public static func problem() -> String? {
        let unknown = enabled.subtracting(all.keys).sorted()
        guard !unknown.isEmpty else { return nil }
        return "PHALANX_FAILPOINTS names unknown failpoints \(unknown.joined(separator: ", ")); known: \(all.keys.sorted().joined(separator: ", "))"
    }

    /// Exits the process at once if failpoint `name` is enabled.
    public static func hit(_ name: String, context: String) {
        guard !enabled.isEmpty, enabled.contains(name) else { return }
        FileHandle.standardError.write(Data("failpoint \(name) hit (\(context)): exiting with status \(exitStatus)\n".utf8))
        _exit(exitStatus)
    }
}
