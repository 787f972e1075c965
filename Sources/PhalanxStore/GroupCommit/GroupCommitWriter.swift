import Dispatch
import Foundation
import Synchronization

/// Makes changes durable in groups: whatever was queued while the previous transaction was being
/// written goes into the next one, so many events share one fsync. The coordinator's task ledger
/// (``GroupCommitWriter``) and each participant's store use it.
///
/// ``enqueue(_:)`` never blocks and returns the changes' sequence number. The writes run on the
/// writer's own thread, one blocking transaction after the other: the next one starts as soon as
/// the last is on disk, without waiting for anyone to hear about it, and a write is never a hop
/// through a thread pool and back. ``run(reportingTo:)`` starts that thread and reports the
/// highest sequence number that is durable after each transaction (coalesced when reports come
/// faster than they are heard); the caller performs what waits for durability (acknowledgements,
/// deliveries) up to that number, on the executor of the task that runs it.
public final class GroupCommit<Change: Sendable>: Sendable {
    /// Orders queued changes; a higher number was queued later.
    public typealias Sequence = UInt64

    private struct State {
        /// Queued changes, one entry per ``enqueue(_:)``, oldest first, with their size and, for
        /// lingering ones, when their transaction must start at the latest (uptime nanoseconds).
        var pending: [(sequence: Sequence, changes: [Change], bytes: Int, deadline: UInt64?)] = []
        var pendingHead = 0
        var pendingBytes = 0
        var lastQueued: Sequence = 0
        /// The last changes queued that someone waits for (see ``GroupCommit/barrier``).
        var lastUrgent: Sequence = 0
        /// The last of them that starts a transaction at once (not lingering).
        var lastImmediate: Sequence = 0
        /// When the oldest lingering change pending must be written at the latest.
        var lingerDeadline: UInt64?
        /// The last changes taken into a transaction.
        var lastTaken: Sequence = 0
        /// How the writer thread waits, if it does (an enqueue may have to wake it).
        var sleeping: Sleep?
        /// ``finish()`` was called: the thread ends once nothing is pending.
        var finished = false
        /// What the thread made durable, and how it ended (for the reporting task).
        var durable: Sequence = 0
        var failure: LedgerError?
        var threadEnded = false

        /// Takes whole entries, oldest first, until about `maximumBytes` (at least one entry).
        mutating func take(maximumBytes: Int) -> (changes: [Change], upTo: Sequence)? {
            guard pendingHead < pending.count else { return nil }
            var changes: [Change] = []
            var bytes = 0
            var upTo: Sequence = 0
            while pendingHead < pending.count, changes.isEmpty || bytes < maximumBytes {
                let entry = pending[pendingHead]
                pendingHead += 1
                changes.append(contentsOf: entry.changes)
                bytes += entry.bytes
                upTo = entry.sequence
            }
            lastTaken = upTo
            pendingBytes -= bytes
            if pendingHead == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingHead = 0
            }
            lingerDeadline = pending[pendingHead...].lazy.compactMap(\.deadline).min()
            return (changes, upTo)
        }

        /// Whether the writer must be woken for `reason`; it counts as awake from here on.
        mutating func wake(for reason: Wake) -> Bool {
            guard let sleeping else { return false }
            switch (reason, sleeping) {
            case (.urgent, _), (.lazy, .untilWork): break
            case (.lingering(let deadline), .forCompany(let until)) where until <= deadline: return false
            case (.lingering, _): break
            case (.lazy, _): return false
            }
            self.sleeping = nil
            return true
        }
    }

    /// How the writer thread waits.
    private enum Sleep: Equatable {
        /// Nothing is pending: until anything is queued.
        case untilWork
        /// Only lazy changes are pending: until something urgent, or the lazy delay has passed.
        case onlyLazyPending
        /// Nothing is pending after a transaction: until something urgent, or the idle delay has
        /// passed (then `whenIdle` runs).
        case beforeIdle
        /// Lingering changes are pending: until something urgent, or the oldest one's deadline.
        case forCompany(until: UInt64)
    }

    /// Why the writer may have to wake: urgent changes (or ``finish()``), a lazy change that
    /// must start its delay, or a lingering change that must be written by its deadline.
    private enum Wake {
        case urgent
        case lazy
        case lingering(deadline: UInt64)
    }

    /// A transaction takes queued changes up to about this many bytes (more wait for the next one),
    /// so that a burst of large payloads is written in steps instead of one huge transaction.
    public let maximumTransactionBytes: Int

    private let write: @Sendable ([Change]) throws(LedgerError) -> Void
    /// Called on the writer thread when its queue stayed empty for ``idleDelay`` after a transaction (and before it ends).
    private let whenIdle: (@Sendable () throws(LedgerError) -> Void)?
    private let size: @Sendable (Change) -> Int
    private let label: String
    private let state = Mutex(State())
    /// Wakes the writer thread when it sleeps.
    private let workArrived = DispatchSemaphore(value: 0)
    private let reports: AsyncStream<Void>
    private let report: AsyncStream<Void>.Continuation

    /// A writer that makes changes durable with `write` (one transaction per call; it blocks until
    /// they are on disk, and runs on the writer's own thread, named `label`), taking about
    /// `maximumTransactionBytes` per transaction as `size` measures them. `whenIdle` runs on that
    /// thread when the queue has stayed empty for `idleDelay` after a transaction, and before the
    /// thread ends: a `write` that holds changes back for its next call writes them there.
    public init(
        label: String = "phalanx.group-commit", maximumTransactionBytes: Int = 4 * 1024 * 1024, lazyDelay: Duration = .milliseconds(20),
        size: @escaping @Sendable (Change) -> Int, write: @escaping @Sendable ([Change]) throws(LedgerError) -> Void,
        idleDelay: Duration = .milliseconds(2), whenIdle: (@Sendable () throws(LedgerError) -> Void)? = nil
    ) {
        self.label = label
        self.lazyDelay = lazyDelay
        self.idleDelay = idleDelay
        self.write = write
        self.whenIdle = whenIdle
        self.size = size
        self.maximumTransactionBytes = maximumTransactionBytes
        (reports, report) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `changes` for the next transaction; returns their sequence number.
    ///
    /// `lazy` changes are ones nothing waits for (a transaction's END record, say: losing it in a
    /// crash only makes recovery resend an idempotent decision): they do not start a transaction
    /// of their own but go into the next one something else starts, or are written after
    /// ``lazyDelay`` if nothing does. They do not move ``barrier``.
    @discardableResult
    public func enqueue(_ changes: [Change], lazy: Bool = false) -> Sequence {
        queue(changes, lazy ? .lazy : .urgent)
    }

    /// Queues `changes` that something waits for (they move ``barrier``, like any urgent change),
    /// but whose transaction may wait up to `delay` for other changes to share it: it starts as
    /// soon as an urgent change is queued, and after `delay` at the latest. A coordinator that
    /// accepted tasks and dispatched them at once lingers this way: a short task's result comes
    /// back within the delay, and its accept and its result are made durable by one fsync
    /// instead of two in a row (the acknowledgement of the accept waits as long).
    @discardableResult
    public func enqueue(_ changes: [Change], lingeringUpTo delay: Duration) -> Sequence {
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, delay / .nanoseconds(1)))
        return queue(changes, .lingering(deadline: deadline))
    }

    private func queue(_ changes: [Change], _ reason: Wake) -> Sequence {
        let bytes = changes.reduce(0) { $0 + size($1) }  // outside the lock
        let (sequence, wake) = state.withLock { state in
            state.lastQueued += 1
            var deadline: UInt64?
            switch reason {
            case .urgent:
                state.lastUrgent = state.lastQueued
                state.lastImmediate = state.lastQueued
            case .lingering(let lingerUntil):
                state.lastUrgent = state.lastQueued
                deadline = lingerUntil
                state.lingerDeadline = min(state.lingerDeadline ?? lingerUntil, lingerUntil)
            case .lazy:
                break
            }
            state.pending.append((state.lastQueued, changes, bytes, deadline))
            state.pendingBytes += bytes
            return (state.lastQueued, state.wake(for: reason))
        }
        if wake { workArrived.signal() }
        return sequence
    }

    /// How long lazy changes may wait for a transaction to ride along with.
    public let lazyDelay: Duration

    /// How long the queue stays empty after a transaction before `whenIdle` runs.
    public let idleDelay: Duration

    /// Bytes queued and not yet taken into a transaction (the backlog a caller may bound).
    public var pendingBytes: Int { state.withLock { $0.pendingBytes } }

    /// The sequence number of the last queued changes (0 before any).
    public var lastQueued: Sequence { state.withLock { $0.lastQueued } }

    /// The writer thread waits with nothing pending (for tests).
    var isIdle: Bool { state.withLock { $0.sleeping == .untilWork } }

    /// The sequence number of the last changes queued that are not lazy: what a visible action
    /// performed now must wait for (everything it may depend on was queued up to there).
    public var barrier: Sequence { state.withLock { $0.lastUrgent } }

    /// Starts the writer thread and calls `durable` with the highest durable sequence after each
    /// transaction (what is queued meanwhile goes into the next one), until ``finish()`` was called
    /// and everything queued before it is durable and reported. Throws the first write failure:
    /// nothing queued after it is written, and the caller must stop acknowledging. Call it once.
    public func run(reportingTo durable: @Sendable (Sequence) async -> Void) async throws(LedgerError) {
        let thread = Thread { [self] in commitUntilFinished() }
        thread.name = label
        thread.start()
        var reported: Sequence = 0
        for await _ in reports {
            let (upTo, failure, ended) = state.withLock { ($0.durable, $0.failure, $0.threadEnded) }
            if upTo > reported {
                reported = upTo
                await durable(upTo)
            }
            if let failure { throw failure }
            if ended { return }
        }
        finish()  // cancelled: the thread writes what is queued and ends
    }

    /// Ends ``run(reportingTo:)`` once what is queued now has been written.
    public func finish() {
        let wake = state.withLock { state in
            state.finished = true
            return state.wake(for: .urgent)
        }
        if wake { workArrived.signal() }
    }

    /// What the writer thread does next.
    private enum Next {
        case write([Change], Sequence)
        /// The queue stayed empty after a transaction: ``whenIdle`` runs before the thread sleeps or ends.
        case idle
        case sleep(Sleep)
        case end
    }

    /// The writer thread: takes what is queued, writes it, tells the reporting task, and sleeps
    /// when nothing is queued.
    private func commitUntilFinished() {
        var lazyDue = false
        var idleDue = false
        var wroteSinceIdle = false
        let lingerNanoseconds = max(1, Int(lazyDelay / .nanoseconds(1)))
        let idleNanoseconds = max(1, Int(idleDelay / .nanoseconds(1)))
        while true {
            let next = state.withLock { state -> Next in
                state.sleeping = nil
                let urgentPending = state.lastImmediate > state.lastTaken
                let lingerDue = state.lingerDeadline.map { DispatchTime.now().uptimeNanoseconds >= $0 } ?? false
                if urgentPending || lingerDue || lazyDue || state.finished, let (changes, upTo) = state.take(maximumBytes: maximumTransactionBytes) {
                    return .write(changes, upTo)
                }
                let mayIdle = wroteSinceIdle && whenIdle != nil && (state.finished || state.pending.isEmpty)
                if mayIdle && (state.finished || idleDue) { return .idle }
                if state.finished { return .end }
                // After a transaction, an empty queue waits the idle delay before `whenIdle`, so
                // that a lull of a moment does not cost a transaction of its own.
                let sleep: Sleep =
                    if let deadline = state.lingerDeadline { .forCompany(until: deadline) }
                    else if !state.pending.isEmpty { .onlyLazyPending } else if mayIdle { .beforeIdle } else { .untilWork }
                state.sleeping = sleep
                return .sleep(sleep)
            }
            switch next {
            case .write(let changes, let upTo):
                (lazyDue, idleDue) = (false, false)
                wroteSinceIdle = true
                do throws(LedgerError) {
                    try write(changes)
                    state.withLock { $0.durable = upTo }
                    report.yield()
                } catch {
                    end(failure: error)
                    return
                }
            case .idle:
                (wroteSinceIdle, idleDue) = (false, false)
                do throws(LedgerError) {
                    try whenIdle?()
                } catch {
                    end(failure: error)
                    return
                }
            case .sleep(.untilWork):
                workArrived.wait()
            case .sleep(.onlyLazyPending):
                lazyDue = workArrived.wait(timeout: .now() + .nanoseconds(lingerNanoseconds)) == .timedOut
            case .sleep(.beforeIdle):
                idleDue = workArrived.wait(timeout: .now() + .nanoseconds(idleNanoseconds)) == .timedOut
            case .sleep(.forCompany(let deadline)):
                _ = workArrived.wait(timeout: DispatchTime(uptimeNanoseconds: deadline))  // the deadline is checked above
            case .end:
                end(failure: nil)
                return
            }
        }
    }

    private func end(failure: LedgerError?) {
        state.withLock { state in
            state.failure = failure
            state.threadEnded = true
        }
        report.yield()
        report.finish()
    }
}

/// The coordinator's group-commit writer over its task ledger.
public typealias GroupCommitWriter = GroupCommit<LedgerChange>

extension GroupCommit where Change == LedgerChange {
    public convenience init(ledger: any TaskLedger, maximumTransactionBytes: Int = 4 * 1024 * 1024) {
        self.init(
            label: "phalanx.ledger-writer", maximumTransactionBytes: maximumTransactionBytes, size: \.approximateBytes,
            write: { changes throws(LedgerError) in try ledger.applyCoalescing(changes) },
            whenIdle: { () throws(LedgerError) in try ledger.applyCoalescing([]) })
    }
}
