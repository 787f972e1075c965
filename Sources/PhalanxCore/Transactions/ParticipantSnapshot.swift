/// A transaction as a participant's history keeps it once decided: its outcome and, for a
/// commit, what it wrote, in the order the participant applied them.
public struct AppliedTransaction: Sendable, Hashable, Codable {
    public var id: String
    public var committed: Bool
    public var writes: [KeyWrite]
    /// Order of application on this participant (higher: later).
    public var sequence: Int64
    public var appliedUnixMilliseconds: Int64

    public init(id: String, committed: Bool, writes: [KeyWrite], sequence: Int64, appliedUnixMilliseconds: Int64) {
        self.id = id
        self.committed = committed
        self.writes = writes
        self.sequence = sequence
        self.appliedUnixMilliseconds = appliedUnixMilliseconds
    }
}

/// Everything the audit needs from one participant, taken at one instant: committed values,
/// prepared transactions (including ones still being made durable), and the history.
public struct ParticipantSnapshot: Sendable, Hashable, Codable {
    public var node: String
    public var values: [String: StoredValue]
    public var prepared: [ParticipantMachine.Prepared]
    public var applied: [AppliedTransaction]
    /// What the worker's registered resources report (nil: none, or read offline).
    public var resources: [ResourceAuditReport]?

    public init(
        node: String, values: [String: StoredValue], prepared: [ParticipantMachine.Prepared], applied: [AppliedTransaction],
        resources: [ResourceAuditReport]? = nil
    ) {
        self.node = node
        self.values = values
        self.prepared = prepared
        self.applied = applied
        self.resources = resources
    }
}

/// What a registered resource reports for an audit: the transactions it holds reserved (each
/// must be prepared on its participant, or the reservation leaked) and broken invariants.
public struct ResourceAuditReport: Sendable, Hashable, Codable {
    public var resource: String
    public var reserved: [String]
    public var problems: [String]

    public init(resource: String, reserved: [String], problems: [String]) {
        self.resource = resource
        self.reserved = reserved
        self.problems = problems
    }
}
