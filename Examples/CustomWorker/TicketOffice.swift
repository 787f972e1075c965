import Foundation
import PhalanxCluster
import PhalanxCore

/// An example transactional resource of your own (TCC): a ticket office where each show has 100
/// seats. `phalanx tx run 'w9:@tickets/book/opera=2' 'w1:alice-=80'` books two seats and pays for
/// them atomically; the saga undo `w9:@tickets` gives booked seats back.
///
/// Each hook is idempotent per transaction id and its effect is durable when it returns (the
/// state is one small JSON file, written to a temporary file, synced and renamed). An actor, so
/// hooks of concurrent transactions do not interleave their read-modify-write.
actor TicketOffice: TransactionalResource {
    nonisolated let name = "tickets"
    static let seatsPerShow = 100

    private struct State: Codable {
        var sold: [String: Int] = [:]
        /// Seats held by prepared transactions, by transaction id, then show.
        var held: [String: [String: Int]] = [:]
        /// Transactions that ended here (so that a late prepare or a repeated hook changes nothing).
        var ended: Set<String> = []
    }

    private let path: URL
    private var state: State

    init(path: String) throws {
        self.path = URL(fileURLWithPath: path)
        if let data = try? Data(contentsOf: self.path) {
            state = try JSONDecoder().decode(State.self, from: data)
        } else {
            state = State()
        }
    }

    private func seats(_ operation: ResourceOperation) throws -> Int {
        guard operation.action == "book" else { throw ResourceRefusal("tickets has one action, book (got '\(operation.action)')") }
        guard let count = Int(operation.argumentText), count > 0 else { throw ResourceRefusal("book \(operation.key): give a number of seats, got '\(operation.argumentText)'") }
        return count
    }

    func prepare(_ transaction: ResourceTransaction) async throws {
        guard state.held[transaction.id] == nil, !state.ended.contains(transaction.id) else { return }  // a repeat
        var holds: [String: Int] = [:]
        for operation in transaction.operations {
            let show = operation.key
            let heldByOthers = state.held.values.reduce(0) { $0 + ($1[show] ?? 0) }
            let free = Self.seatsPerShow - (state.sold[show] ?? 0) - heldByOthers - (holds[show] ?? 0)
            let wanted = try seats(operation)
            guard wanted <= free else { throw ResourceRefusal("\(show): \(free) seats free, \(wanted) asked") }
            holds[show, default: 0] += wanted
        }
        var next = state
        next.held[transaction.id] = holds
        try save(next)
    }

    func commit(_ transaction: ResourceTransaction) async throws {
        var next = state
        guard let holds = next.held.removeValue(forKey: transaction.id) else { return }  // already committed
        for (show, count) in holds { next.sold[show, default: 0] += count }
        next.ended.insert(transaction.id)
        try save(next)
    }

    func abort(_ transaction: ResourceTransaction) async throws {
        var next = state
        next.held[transaction.id] = nil  // nothing held is fine: the prepare may never have run
        next.ended.insert(transaction.id)
        try save(next)
    }

    func compensate(_ transaction: ResourceTransaction) async throws {
        guard !state.ended.contains(transaction.id) else { return }
        var next = state
        for operation in transaction.operations { next.sold[operation.key, default: 0] -= try seats(operation) }
        next.ended.insert(transaction.id)
        try save(next)
    }

    func audit() async throws -> ResourceAuditReport {
        let problems = state.sold.filter { $0.value < 0 || $0.value > Self.seatsPerShow }.map { "\($0.key) has \($0.value) seats sold" }
        return ResourceAuditReport(reserved: state.held.keys.sorted(), problems: problems.sorted())
    }

    /// Makes `next` durable, then the state (a failed write leaves both as they were).
    private func save(_ next: State) throws {
        let temporary = path.appendingPathExtension("tmp")
        try JSONEncoder().encode(next).write(to: temporary)
        let handle = try FileHandle(forUpdating: temporary)
        try handle.synchronize()
        try handle.close()
        guard rename(temporary.path, path.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        state = next
    }
}
