/// A value in a participant's built-in store: an integer (balances, counters) or bytes.
public enum StoreValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case integer(Int64)
    case bytes([UInt8])

    public var description: String {
        switch self {
        case .integer(let value): "\(value)"
        case .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
        }
    }

    public var integer: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }
}

/// A key's value as the store keeps it, with the lowest value it may take (set by an `add` with
/// a lower bound; the audit checks it holds).
public struct StoredValue: Sendable, Hashable, Codable {
    public var value: StoreValue
    public var lowerBound: Int64?

    public init(_ value: StoreValue, lowerBound: Int64? = nil) {
        self.value = value
        self.lowerBound = lowerBound
    }

    /// Whether the value is below its lower bound (only integers have one).
    public var breaksBound: Bool {
        guard let lowerBound, let integer = value.integer else { return false }
        return integer < lowerBound
    }
}

/// One operation of a transaction on one participant's store.
public enum StoreOperation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Reads the key under the transaction's lock; the value comes back in the outcome.
    case get(key: String)
    /// Sets the key (a lower bound, if given, is kept with it; else the key keeps the one it has).
    case put(key: String, value: StoreValue, lowerBound: Int64? = nil)
    /// Adds `amount` to an integer key (a missing key counts as 0); refused when the result would
    /// go below `lowerBound` (or the bound the key already has).
    case add(key: String, amount: Int64, lowerBound: Int64? = nil)
    case delete(key: String)
    /// An operation on a transactional resource the worker registered (TCC): its hooks run it.
    case resource(ResourceOperation)

    /// The key the operation locks (a resource's keys are apart from the built-in store's).
    public var key: String {
        switch self {
        case .get(let key), .put(let key, _, _), .add(let key, _, _), .delete(let key): key
        case .resource(let operation): operation.lockKey
        }
    }

    public var description: String {
        switch self {
        case .get(let key): "get \(key)"
        case .put(let key, let value, _): "put \(key)=\(value)"
        case .add(let key, let amount, let bound): "add \(key) \(amount >= 0 ? "+" : "")\(amount)\(bound.map { " (not below \($0))" } ?? "")"
        case .delete(let key): "delete \(key)"
        case .resource(let operation): operation.description
        }
    }

    /// The resource operation, if this is one.
    public var resourceOperation: ResourceOperation? {
        if case .resource(let operation) = self { operation } else { nil }
    }
}

/// What a prepared transaction will do to one key: its value before (nil: absent) and after
/// (nil: deleted). The key is locked from prepare to decision, so `before` stays true until then.
public struct KeyWrite: Sendable, Hashable, Codable {
    public var key: String
    public var before: StoredValue?
    public var after: StoredValue?

    public init(key: String, before: StoredValue?, after: StoredValue?) {
        self.key = key
        self.before = before
        self.after = after
    }
}

/// The operations of one transaction on one participant.
public struct ParticipantOperations: Sendable, Hashable, Codable {
    public var participant: String
    public var operations: [StoreOperation]

    public init(participant: String, operations: [StoreOperation]) {
        self.participant = participant
        self.operations = operations
    }
}

/// The limits every transaction is checked against before anything is prepared.
public enum TransactionLimits {
    /// Participants in one transaction at most.
    public static let maximumParticipants = 64
    /// Operations in one transaction at most (all participants together).
    public static let maximumOperations = 100_000
    /// Bytes of one key at most.
    public static let maximumKeyBytes = 256
    /// Bytes of one value at most.
    public static let maximumValueBytes = 64 * 1024
    /// Bytes of a transaction id at most.
    public static let maximumIDBytes = 128

    /// Why `id` cannot name a transaction or saga (1 to `maximumBytes` bytes, no control
    /// characters: an id is printed on lines of logs and reports), or nil when it can.
    public static func idProblem(_ id: String, maximumBytes: Int = maximumIDBytes) -> String? {
        if id.isEmpty || id.utf8.count > maximumBytes { return "the id must be 1 to \(maximumBytes) bytes (got \(id.utf8.count))" }
        if hasControlCharacter(id) { return "the id must not contain control characters (a newline, a tab)" }
        if let first = id.unicodeScalars.first, let last = id.unicodeScalars.last, isBlank(first) || isBlank(last) {
            return "the id must not start or end with a space or another blank (a quoting slip, as in a name or key)"
        }
        return nil
    }

    /// A space of any kind (U+0020, a no-break space, an ideographic space…) or a byte order mark.
    private static func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace || scalar == "\u{FEFF}" }

    /// Whether `text` holds a control character (Unicode category Cc: U+0000–U+001F, U+007F–U+009F).
    /// By its UTF-8 bytes: on the path of every transaction, a Unicode property lookup per scalar cost
    /// about 2 % of the coordinator's CPU in a bank run.
    public static func hasControlCharacter(_ text: String) -> Bool {
        var afterC2 = false
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F || (afterC2 && (0x80...0x9F).contains(byte)) { return true }
            afterC2 = byte == 0xC2
        }
        return false
    }

    /// Why `participants` cannot be a transaction, or nil when it can.
    public static func problem(id: String, _ participants: [ParticipantOperations]) -> String? {
        if let problem = idProblem(id) { return "transaction id: \(problem)" }
        if participants.isEmpty { return "a transaction names at least one participant with at least one operation" }
        if participants.count > maximumParticipants { return "a transaction names at most \(maximumParticipants) participants (\(participants.count) given)" }
        var seen = Set<String>()
        var operations = 0
        for participant in participants {
            if participant.participant.isEmpty { return "a participant's name is empty; name the worker (e.g. w1)" }
            if !seen.insert(participant.participant).inserted {
                return "participant \(participant.participant) is named twice; put all its operations under one name"
            }
            if participant.operations.isEmpty { return "participant \(participant.participant) has no operations" }
            operations += participant.operations.count
            var read = Set<String>()
            for operation in participant.operations {
                if case .get(let key) = operation, !read.insert(key).inserted {
                    return "key '\(key.prefix(40))' on \(participant.participant) is read twice; the outcome holds one value per key read, so read it once"
                }
                let key = operation.resourceOperation?.key ?? operation.key  // a resource's key as given, not its lock key
                if key.isEmpty || key.utf8.count > maximumKeyBytes {
                    return "key '\(key.prefix(40))' on \(participant.participant): a key must be 1 to \(maximumKeyBytes) bytes of UTF-8 in Unicode normalization form C (how keys are read), and this one is \(key.utf8.count)"
                }
                // SQLite and the C strings around it end text at a NUL; a newline would forge lines of reports.
                if hasControlCharacter(key) {
                    return "a key on \(participant.participant) contains a control character (a NUL, a newline, a tab); keys are text without them"
                }
                if case .put(_, .bytes(let bytes), _) = operation, bytes.count > maximumValueBytes {
                    return "the value of \(key) on \(participant.participant) has \(bytes.count) bytes; at most \(maximumValueBytes) are allowed"
                }
                if let resource = operation.resourceOperation, let problem = resource.problem {
                    return "\(resource) on \(participant.participant): \(problem)"
                }
            }
        }
        if operations > maximumOperations { return "a transaction has at most \(maximumOperations) operations (\(operations) given)" }
        return nil
    }
}
