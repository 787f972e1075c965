/// A task's identity: the client certificate name that submitted it and the client's own task id.
///
/// Two keys are equal when their UTF-8 bytes are, as in the ledger (SQLite compares text as
/// bytes): Swift's `String` equality would treat canonically equivalent spellings (an NFC and an
/// NFD "é") as one id, which the ledger keeps apart.
public struct TaskKey: Sendable, Hashable, CustomStringConvertible {
    public let client: String
    public let taskID: String
    /// The bytes of both, hashed once: a key is looked up in several tables per task (the
    /// machine's, the ledger writer's, the results'); those lookups, hashing both strings each
    /// time, were about 5 % of the coordinator's profile samples in the throughput benchmark.
    private let digest: Int

    public init(client: String, taskID: String) {
        self.client = client
        self.taskID = taskID
        var hasher = Hasher()
        ByteWise.hash(client, into: &hasher)
        ByteWise.hash(taskID, into: &hasher)
        digest = hasher.finalize()
    }

    public var description: String { "\(client)/\(taskID)" }

    public static func == (lhs: TaskKey, rhs: TaskKey) -> Bool {
        lhs.digest == rhs.digest && ByteWise.equal(lhs.taskID, rhs.taskID) && ByteWise.equal(lhs.client, rhs.client)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(digest)
    }
}

/// Equality and hashing of strings by their UTF-8 bytes (ids and keys are bytes on the wire and in the ledger).
enum ByteWise {
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        let fast = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in left.elementsEqual(right) }
        }
        return (fast ?? nil) ?? lhs.utf8.elementsEqual(rhs.utf8)
    }

    static func hash(_ text: String, into hasher: inout Hasher) {
        let hashed: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil { Array(text.utf8).withUnsafeBytes { hasher.combine(bytes: $0) } }  // the same bytes, the same hash
        hasher.combine(text.utf8.count)  // ends the field, so ("ab", "c") and ("a", "bc") differ
    }
}
