import Synchronization

/// Makes changes durable in groups: whatever was queued while the previous transaction was being
/// written goes into the next one, so many events share one fsync. The coordinator's task ledger
/// (``GroupCommitWriter``) and each participant's store use it.
///
/// ``enqueue(_:)`` never blocks and returns the changes' sequence number. ``run(reportingTo:)``
/// writes in order and reports the highest sequence number that is durable after each
/// transaction; the coordinator performs what waits for durability (acknowledgements, deliveries)
/// up to that number. Writes happen off the caller's thread (GRDB's writer queue).
public final class GroupCommit<Change: Sendable>: Sendable {
    /// Orders queued changes; a higher number was queued later.
    public typealias Sequence = UInt64

    private struct State {
        /// Queued changes, one entry per ``enqueue(_:)``, oldest first, with their size.
        var pending: [(sequence: Sequence, changes: [Change], bytes: Int)] = []
        var pendingHead = 0
        var pendingBytes = 0
        var lastQueued: Sequence = 0

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
            pendingBytes -= bytes
            if pendingHead == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingHead = 0
            }
            return (changes, upTo)
        }
    }

    /// A transaction takes queued changes up to about this many bytes (more wait for the next one),
    /// so that a burst of large payloads is written in steps instead of one huge transaction.
    public let maximumTransactionBytes: Int

    private let write: @Sendable ([Change]) async throws(LedgerError) -> Void
    private let size: @Sendable (Change) -> Int
    private let state = Mutex(State())
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    /// A writer that makes changes durable with `write` (one transaction per call; it must not
    /// return before they are on disk), taking about `maximumTransactionBytes` per transaction as
    /// `size` measures them.
    public init(
        maximumTransactionBytes: Int = 4 * 1024 * 1024, size: @escaping @Sendable (Change) -> Int,
        write: @escaping @Sendable ([Change]) async throws(LedgerError) -> Void
    ) {
        self.write = write
        self.size = size
        self.maximumTransactionBytes = maximumTransactionBytes
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `changes` for the next transaction; returns their sequence number.
    @discardableResult
    public func enqueue(_ changes: [Change]) -> Sequence {
        let bytes = changes.reduce(0) { $0 + size($1) }  // outside the lock
        let sequence = state.withLock { state in
            state.lastQueued += 1
            state.pending.append((state.lastQueued, changes, bytes))
            state.pendingBytes += bytes
            return state.lastQueued
        }
        ring.yield()
        return sequence
    }

    /// Bytes queued and not yet taken into a transaction (the backlog a caller may bound).
    public var pendingBytes: Int { state.withLock { $0.pendingBytes } }

    /// The sequence number of the last queued changes (0 before any).
    public var lastQueued: Sequence { state.withLock { $0.lastQueued } }

    /// Writes queued changes until cancelled, in transactions of everything queued so far, and
    /// calls `durable` with the highest durable sequence after each (what is queued meanwhile goes
    /// into the next transaction). Throws the first write failure: nothing queued after it is
    /// written, and the caller must stop acknowledging.
    public func run(reportingTo durable: @Sendable (Sequence) async -> Void) async throws(LedgerError) {
        for await _ in doorbell {
            while let (batch, upTo) = state.withLock({ $0.take(maximumBytes: maximumTransactionBytes) }) {
                try await write(batch)
                await durable(upTo)
            }
            if Task.isCancelled { return }
        }
    }

    /// Ends ``run(reportingTo:)`` once what is queued now has been written.
    public func finish() {
        ring.finish()
    }
}

/// The coordinator's group-commit writer over its task ledger.
public typealias GroupCommitWriter = GroupCommit<LedgerChange>

extension GroupCommit where Change == LedgerChange {
    public convenience init(ledger: any TaskLedger, maximumTransactionBytes: Int = 4 * 1024 * 1024) {
        self.init(maximumTransactionBytes: maximumTransactionBytes, size: \.approximateBytes) { changes throws(LedgerError) in
            try await ledger.apply(changes)
        }
    }
}
