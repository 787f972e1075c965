/// One operation of a transaction on a transactional resource that a worker registered (TCC
/// style: its prepare hook tries and reserves, commit confirms, abort cancels, compensate undoes
/// a committed one). Phalanx treats `action` and `argument` as opaque; it locks `key` (within the
/// resource) from prepare to decision, like a key of the built-in store.
public struct ResourceOperation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The resource's name on its worker (e.g. `stock`).
    public var resource: String
    /// What to do (e.g. `reserve`); the resource decides what its actions mean.
    public var action: String
    public var key: String
    public var argument: [UInt8]
    /// This operation undoes `action` of an earlier, committed transaction (a saga's
    /// compensation): it has no prepare hook, and the commit calls the resource's `compensate`.
    public var compensating: Bool

    public init(resource: String, action: String, key: String, argument: [UInt8] = [], compensating: Bool = false) {
        self.resource = resource
        self.action = action
        self.key = key
        self.argument = argument
        self.compensating = compensating
    }

    /// The key in the participant's lock table: `@RESOURCE/KEY`, apart from the built-in store's.
    public var lockKey: String { "@\(resource)/\(key)" }

    /// The argument as text (most resources take a number or a word).
    public var argumentText: String { String(decoding: argument, as: UTF8.self) }

    public var description: String {
        "\(compensating ? "compensate " : "")@\(resource) \(action) \(key)\(argument.isEmpty ? "" : "=\(argumentText)")"
    }

    /// What is wrong with `name` as a resource's name, or nil.
    public static func problem(withName name: String) -> String? {
        name.isEmpty || name.utf8.count > 64 || name.contains("/") ? "a resource name must be 1 to 64 bytes without '/'" : nil
    }

    /// What is wrong with the operation, or nil.
    public var problem: String? {
        if let problem = Self.problem(withName: resource) { return problem }
        if action.isEmpty || action.utf8.count > 64 { return "an action must be 1 to 64 bytes" }
        if argument.count > TransactionLimits.maximumValueBytes {
            return "the argument has \(argument.count) bytes; at most \(TransactionLimits.maximumValueBytes) are allowed"
        }
        return nil
    }
}

extension Array where Element == ResourceOperation {
    /// The operations whose prepare hook must run (compensations have none).
    public var needingPrepare: [ResourceOperation] { filter { !$0.compensating } }
}
