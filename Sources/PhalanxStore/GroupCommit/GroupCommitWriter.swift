import Synchronization

/// Makes ledger changes durable in groups: whatever was queued while the previous transaction
/// was being written goes into the next one, so many events share one fsync.
///
/// ``enqueue(_:)`` never blocks and returns the changes' sequence number. ``run(reportingTo:)``
/// writes in order and reports the highest sequence number that is durable after each
/// transaction; the coordinator performs what waits for durability (acknowledgements, deliveries)
/// up to that number. Writes happen off the caller's thread (GRDB's writer queue).
public final class GroupCommitWriter: Sendable {
    /// Orders queued changes; a higher number was queued later.
    public typealias Sequence = UInt64

    private struct State {
        var pending: [LedgerChange] = []
        var lastQueued: Sequence = 0
        var failure: LedgerError?
    }

    private let ledger: any TaskLedger
    private let state = Mutex(State())
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    public init(ledger: any TaskLedger) {
        self.ledger = ledger
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `changes` for the next transaction; returns their sequence number.
    @discardableResult
    public func enqueue(_ changes: [LedgerChange]) -> Sequence {
        let sequence = state.withLock { state in
            state.pending.append(contentsOf: changes)
            state.lastQueued += 1
            return state.lastQueued
        }
        ring.yield()
        return sequence
    }

    /// The sequence number of the last queued changes (0 before any).
    public var lastQueued: Sequence { state.withLock { $0.lastQueued } }

    /// Writes queued changes until cancelled, in transactions of everything queued so far, and
    /// calls `durable` with the highest durable sequence after each. Throws the first write
    /// failure: nothing queued after it is written, and the caller must stop acknowledging.
    public func run(reportingTo durable: @Sendable (Sequence) async -> Void) async throws(LedgerError) {
        for await _ in doorbell {
            while true {
                let (batch, upTo) = state.withLock { state in
                    let batch = state.pending
                    state.pending.removeAll(keepingCapacity: true)
                    return (batch, state.lastQueued)
                }
                if batch.isEmpty {
                    await durable(upTo)
                    break
                }
                do {
                    try await ledger.apply(batch)
                } catch {
                    state.withLock { $0.failure = error }
                    throw error
                }
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
