import PhalanxCore
import PhalanxResilience

/// A participant of your own in Phalanx transactions, TCC style (try / confirm / cancel, plus
/// compensate for sagas). Register it with the worker
/// (`WorkerRuntime(configuration:handlers:resources:)`); a transaction then names it as
/// `NODE:@NAME/ACTION/KEY=ARGUMENT` on the CLI, or ``ResourceOperation`` in the client API.
///
/// What Phalanx guarantees around the hooks:
/// - ``prepare(_:)`` runs only after the worker has durably recorded its intent, and the vote YES
///   goes out only after every resource of the transaction prepared and that is durable too.
/// - The coordinator's decision reaches ``commit(_:)`` or ``abort(_:)``; each is retried with
///   backoff until it returns, also across worker and coordinator restarts, and only then is the
///   transaction's outcome durable and acknowledged. The keys stay locked until then.
/// - An ABORT reaches every resource whose prepare may have run, also after a crash between the
///   hook and the worker's record; a PREPARE arriving after its ABORT never reaches the resource.
/// - ``compensate(_:)`` runs when a saga undoes a committed step (operations marked
///   `compensating`), retried until it returns.
///
/// So each hook must be idempotent per transaction id (it may run again after a crash), and
/// ``abort(_:)`` must accept a transaction it never prepared. A prepare hook should honour
/// cancellation (it is cancelled at the vote deadline): when the worker's session ends, closing
/// waits for running hooks only 10 s, so a prepare that outlasts that may finish after the next
/// session aborted its transaction — a resource whose hooks can take that long should refuse a
/// prepare for a transaction it already aborted (`StockResource` does). A hook that cannot do its part
/// throws: from ``prepare(_:)`` a ``ResourceRefusal`` is a NO for business reasons (never
/// retried), any other error a NO for system reasons (retryable); from the others, any error
/// means "try again later".
public protocol TransactionalResource: Sendable {
    /// The resource's name on this worker (1 to 64 bytes, no '/').
    var name: String { get }
    /// Try: validate and reserve what the operations need, durably, without making it visible.
    func prepare(_ transaction: ResourceTransaction) async throws
    /// Confirm: make the reservation of a prepared transaction take effect.
    func commit(_ transaction: ResourceTransaction) async throws
    /// Cancel: release the reservation (nothing, if there is none).
    func abort(_ transaction: ResourceTransaction) async throws
    /// Undo the effect of a committed transaction: `transaction.operations` are the ones that
    /// committed; `transaction.id` is the compensating transaction's id.
    func compensate(_ transaction: ResourceTransaction) async throws
    /// For `phalanx audit`: the transactions this resource holds reserved, and anything wrong
    /// with its state (a broken invariant). The default reports nothing.
    func audit() async throws -> ResourceAuditReport
}

extension TransactionalResource {
    public func audit() async throws -> ResourceAuditReport { ResourceAuditReport() }
}

/// One transaction's operations on one resource, as its hooks receive them.
public struct ResourceTransaction: Sendable, Hashable {
    public var id: String
    public var operations: [ResourceOperation]

    public init(id: String, operations: [ResourceOperation]) {
        self.id = id
        self.operations = operations
    }
}

/// Thrown by a resource's prepare hook to vote NO for a business reason (e.g. out of stock).
public struct ResourceRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

extension ResourceAuditReport {
    /// A report that this resource holds reservations of `reserved` and that `problems` are wrong.
    public init(reserved: [String] = [], problems: [String] = []) {
        self.init(resource: "", reserved: reserved, problems: problems)
    }
}
