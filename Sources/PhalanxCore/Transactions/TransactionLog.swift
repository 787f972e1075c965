import PhalanxResilience

/// What the coordinator's decision log records about a transaction, in order: BEGIN, then the
/// decision (the commit point), then END once every participant acknowledged it.
public enum TransactionLogChange: Sendable, Hashable {
    case begun(TransactionBegin)
    case decided(id: String, committed: Bool, reason: ErrorContext?, decidedUnixMilliseconds: Int64)
    case ended(id: String, endedUnixMilliseconds: Int64)

    public var id: String {
        switch self {
        case .begun(let begin): begin.id
        case .decided(let id, _, _, _), .ended(let id, _): id
        }
    }

    /// Nothing waits for this record to be durable: an END lost in a crash only makes recovery
    /// resend the decision, which every participant treats as a duplicate.
    public var mayBeWrittenLazily: Bool {
        if case .ended = self { true } else { false }
    }
}

/// A transaction as BEGIN logs it: who asked, and the operations of every participant.
public struct TransactionBegin: Sendable, Hashable, Codable {
    public var id: String
    public var client: String
    public var participants: [ParticipantOperations]
    public var begunUnixMilliseconds: Int64
    public var traceID: String

    public init(id: String, client: String, participants: [ParticipantOperations], begunUnixMilliseconds: Int64, traceID: String = "") {
        self.id = id
        self.client = client
        self.participants = participants
        self.begunUnixMilliseconds = begunUnixMilliseconds
        self.traceID = traceID
    }
}

/// A transaction as the decision log holds it (read back at recovery, by `tx show` and the audit).
public struct TransactionLogEntry: Sendable, Hashable, Codable {
    public var begin: TransactionBegin
    /// nil: undecided.
    public var committed: Bool?
    public var reason: ErrorContext?
    public var decidedUnixMilliseconds: Int64?
    public var endedUnixMilliseconds: Int64?

    public init(
        begin: TransactionBegin, committed: Bool? = nil, reason: ErrorContext? = nil, decidedUnixMilliseconds: Int64? = nil,
        endedUnixMilliseconds: Int64? = nil
    ) {
        self.begin = begin
        self.committed = committed
        self.reason = reason
        self.decidedUnixMilliseconds = decidedUnixMilliseconds
        self.endedUnixMilliseconds = endedUnixMilliseconds
    }

    public var id: String { begin.id }
    public var participantNames: [String] { begin.participants.map(\.participant) }

    /// Whether an audit must see every participant to judge it: it committed, or is not finished
    /// (an aborted transaction that ended changed nothing anywhere).
    public var requiresEveryParticipant: Bool { committed == true || endedUnixMilliseconds == nil }

    /// `change` applied to this entry (a BEGIN replaces it).
    public mutating func apply(_ change: TransactionLogChange) {
        switch change {
        case .begun(let begin): self = TransactionLogEntry(begin: begin)
        case .decided(_, let committed, let reason, let at):
            self.committed = committed
            self.reason = reason
            self.decidedUnixMilliseconds = at
        case .ended(_, let at): endedUnixMilliseconds = at
        }
    }
}

/// A transaction's outcome as its client gets it.
public struct TransactionOutcome: Sendable, Hashable {
    public var id: String
    public var committed: Bool
    /// Why it aborted: the code, and the participant that voted NO as `originNode`.
    public var reason: ErrorContext?
    /// Values read by `get`, per participant.
    public var reads: [String: [String: StoreValue?]]
    /// The request was refused before anything began (a bad or reused id, too large, the
    /// coordinator full): nothing ran under it, and what its id names elsewhere is unchanged.
    public var refused: Bool

    public init(id: String, committed: Bool, reason: ErrorContext? = nil, reads: [String: [String: StoreValue?]] = [:], refused: Bool = false) {
        self.id = id
        self.committed = committed
        self.reason = reason
        self.reads = reads
        self.refused = refused
    }

    /// A request refused before anything began, for `reason`.
    public static func refusal(id: String, reason: ErrorContext) -> TransactionOutcome {
        TransactionOutcome(id: id, committed: false, reason: reason, refused: true)
    }

    /// How the error of a transaction that was sent but never answered begins (the connection
    /// to the coordinator ended): its outcome is unknown here, unlike one refused before sending.
    public static let unknownOutcomePrefix = "the outcome of transaction "

    /// How the transaction's id ends in that error (``unknownOutcomeMessage(id:cause:)``).
    static let unknownOutcomeIDEnd = " is unknown ("

    /// The error message of a transaction `id` that was sent and never answered.
    public static func unknownOutcomeMessage(id: String, cause: String) -> String {
        "\(unknownOutcomePrefix)\(id)\(unknownOutcomeIDEnd)it may have committed or aborted; it is all or nothing either way): \(cause). Ask with `phalanx tx show \(id)`; a request that repeats its id gets the first request's outcome"
    }

    /// Whether `error` says a transaction was sent and its outcome is unknown.
    public static func isUnknownOutcome(_ error: any Error) -> Bool {
        unknownOutcomeID(error) != nil
    }

    /// The id of the transaction whose outcome `error` says is unknown; nil for any other error.
    public static func unknownOutcomeID(_ error: any Error) -> String? {
        guard let message = (error as? ErrorContext)?.message, message.hasPrefix(unknownOutcomePrefix),
            let end = message.firstRange(of: unknownOutcomeIDEnd)
        else { return nil }
        return String(message[message.index(message.startIndex, offsetBy: unknownOutcomePrefix.count)..<end.lowerBound])
    }
}
