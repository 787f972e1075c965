/// The audit report with the task ledger's counts, as `report_json` carries it.
public struct AuditSummary: Sendable, Hashable, Codable {
    public var report: TransactionAudit.Report
    public var tasksAccepted: Int
    public var tasksFinished: Int
    /// Violations left out of `report` so that it fits one frame (they are counted, not lost: the
    /// exit status still says violations were found).
    public var violationsOmitted: Int
    /// Findings explained by accepted losses left out of `report` so that it fits one frame.
    public var explainedOmitted = 0

    public init(report: TransactionAudit.Report, tasksAccepted: Int, tasksFinished: Int, violationsOmitted: Int = 0) {
        self.report = report
        self.tasksAccepted = tasksAccepted
        self.tasksFinished = tasksFinished
        self.violationsOmitted = violationsOmitted
    }

    /// Whether anything was found.
    public var isClean: Bool { report.violations.isEmpty && violationsOmitted == 0 }
}
