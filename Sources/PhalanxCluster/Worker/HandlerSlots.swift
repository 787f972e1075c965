import PhalanxResilience
import Synchronization

/// Where a worker's handlers wait for their turn: at most `worker.capacity` run at once (tasks
/// prefetched beyond it wait here for a slot, first come first served), and at most
/// `[bulkheads] kind = N` of one kind. A task first waits for its kind, then for a worker slot, so
/// that tasks of a full kind hold no slot another kind could use.
///
/// The waits have no timer of their own: a task's deadline or a cancel ends its wait, as it would
/// end its handler. At most `capacity + prefetch` tasks wait for a slot, which is what the
/// coordinator may send; past that (a coordinator that breaks the window) a task fails
/// `BULKHEAD_FULL` instead of waiting.
struct HandlerSlots: Sendable {
    /// Limits all handlers together (`worker.capacity`).
    let worker: Bulkhead<ContinuousClock>
    /// Limits each kind listed in `[bulkheads]`.
    let perKind: [String: Bulkhead<ContinuousClock>]

    init(_ configuration: WorkerConfiguration) throws(StartupError) {
        let window = configuration.window
        guard window <= 100_000 else {
            throw StartupError(ErrorContext(
                code: .invalidArgument,
                message: "worker.capacity + worker.prefetch is \(window); the coordinator accepts at most 100000 tasks in flight per worker: lower one of them"))
        }
        do {
            worker = try Bulkhead(
                name: "worker capacity", configuration: .init(maxConcurrentCalls: configuration.capacity, maxWaitingCalls: window, maxWaitDuration: nil),
                clock: ContinuousClock())
        } catch {
            throw StartupError(error.wrapped(in: .invalidArgument, "worker.capacity = \(configuration.capacity): \(error.message)"))
        }
        var perKind: [String: Bulkhead<ContinuousClock>] = [:]
        for (kind, limit) in configuration.bulkheads {
            do {
                perKind[kind] = try Bulkhead(
                    name: kind, configuration: .init(maxConcurrentCalls: limit, maxWaitingCalls: window, maxWaitDuration: nil), clock: ContinuousClock())
            } catch {
                throw StartupError(error.wrapped(in: .invalidArgument, "[bulkheads] \(kind) = \(limit): \(error.message)"))
            }
        }
        self.perKind = perKind
    }

    /// Runs `handler` of a task of `kind` once its kind's bulkhead (if it has one) admits it and
    /// it holds `slot` (one of ``worker``'s).
    func run(kind: String, holding slot: HeldSlot, _ handler: () async throws -> [UInt8]) async throws -> [UInt8] {
        guard let bulkhead = perKind[kind] else { return try await Self.run(holding: slot, handler) }
        return try await bulkhead.run { try await Self.run(holding: slot, handler) }
    }

    private static func run(holding slot: HeldSlot, _ handler: () async throws -> [UInt8]) async throws -> [UInt8] {
        try await slot.take()
        defer { slot.giveUp() }
        return try await handler()
    }
}

/// The worker slot one handler holds: taken before it starts, given up while it waits for its
/// children (the coordinator counts a waiting parent's slot as free and may send the children to
/// this worker, where they need a slot), taken again after, and freed when it ends.
final class HeldSlot: Sendable {
    private let slots: Bulkhead<ContinuousClock>
    private let held = Mutex(false)

    init(of slots: Bulkhead<ContinuousClock>) {
        self.slots = slots
    }

    /// Waits for a slot (a cancel or the task's deadline ends the wait).
    func take() async throws(ErrorContext) {
        try await slots.acquire()
        held.withLock { $0 = true }
    }

    /// Frees the slot if it is held.
    func giveUp() {
        let wasHeld = held.withLock { held in
            defer { held = false }
            return held
        }
        if wasHeld { slots.release() }
    }
}

/// Whether a task's handler started (it got its slot and was not handed back): a task that ended
/// before (its deadline passed, or it was cancelled, while it waited) says so in its result, so
/// that the coordinator does not blame this worker's health for it.
final class HandlerStart: Sendable {
    private let started = Atomic(false)

    func mark() { started.store(true, ordering: .relaxed) }

    var happened: Bool { started.load(ordering: .relaxed) }
}
