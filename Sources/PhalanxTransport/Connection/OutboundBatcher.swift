import NIOCore
import Synchronization

/// Gathers what a runtime writes to one channel so that the messages it sends together reach the
/// socket together: one TLS flush and one `write` system call for many messages, not one each.
///
/// - Off the channel's event loop, writes and flushes are kept in a buffer and handed to the loop
///   by one queued task (instead of one task per write and another per flush).
/// - On the loop (a connection's task prefers it, so the actors it calls run there), a write goes
///   to the channel at once, and a flush waits for a task queued on the loop: the messages handled
///   in the same turn of the loop leave with one flush. A channel flushed less than
///   ``FlushPacing/minimumInterval`` ago flushes when that interval is over (``FlushPacing``).
///
/// Order is kept: a write on the loop first hands over what is buffered, and the buffer drains in
/// the order it was filled. Nothing written before a flush is left unflushed.
public final class OutboundBatcher<Outbound: Sendable>: Sendable {
    private struct Buffer {
        var writes: [Outbound] = []
        var flush = false
        /// A drain task is queued on the loop (only that task clears this).
        var drainQueued = false
    }

    /// What only the loop touches.
    private struct LoopState: Sendable {
        /// A flush task is queued on the loop.
        var flushQueued = false
        /// When the last queued flush went out (nil: none yet).
        var lastFlush: NIODeadline?
    }

    private let buffer = Mutex(Buffer())
    private let loopState: NIOLoopBoundBox<LoopState>
    private let pacing: FlushPacing
    public let channel: any Channel

    public init(channel: any Channel, pacing: FlushPacing = .standard) {
        self.channel = channel
        self.pacing = pacing
        loopState = .makeBoxSendingValue(LoopState(), eventLoop: channel.eventLoop)  // made off the loop too
    }

    public func write(_ message: Outbound) {
        enqueue(message, flush: false)
    }

    /// Writes `message` and flushes.
    public func send(_ message: Outbound) {
        enqueue(message, flush: true)
    }

    public func flush() {
        enqueue(nil, flush: true)
    }

    /// Runs `body` on the loop after everything written so far reached the channel and was
    /// flushed (to write a last message and close, for example: NIO drops unflushed writes on
    /// close).
    public func afterPendingWrites(_ body: @escaping @Sendable (any Channel) -> Void) {
        let channel = channel
        channel.eventLoop.execute {
            self.handOver()
            channel.flush()
            body(channel)
        }
    }

    /// Flushes everything written so far, then closes the channel.
    public func close() async {
        let closed = channel.eventLoop.makePromise(of: Void.self)
        afterPendingWrites { channel in channel.close(promise: closed) }
        try? await closed.futureResult.get()  // a channel already closed has nothing left to lose
    }

    private func enqueue(_ message: Outbound?, flush: Bool) {
        if channel.eventLoop.inEventLoop {
            handOver()
            if let message { channel.write(message, promise: nil) }
            if flush { flushSoon() }
            return
        }
        let queueDrain = buffer.withLock { buffer in
            if let message { buffer.writes.append(message) }
            buffer.flush = buffer.flush || flush
            defer { buffer.drainQueued = true }
            return !buffer.drainQueued
        }
        if queueDrain { channel.eventLoop.execute { self.drain() } }
    }

    /// The queued drain task: hands the buffer to the channel and flushes if that was asked for.
    private func drain() {
        let (writes, flush) = takeBuffered(endingDrain: true)
        for message in writes { channel.write(message, promise: nil) }
        if flush { channel.flush() }
    }

    /// On the loop: what was buffered off it goes to the channel now (a flush asked for with it
    /// comes with the loop's next flush).
    private func handOver() {
        let (writes, flush) = takeBuffered(endingDrain: false)
        for message in writes { channel.write(message, promise: nil) }
        if flush { flushSoon() }
    }

    /// Empties the buffer; only the drain task itself ends the drain it was queued for.
    private func takeBuffered(endingDrain: Bool) -> (writes: [Outbound], flush: Bool) {
        buffer.withLock { buffer in
            if endingDrain { buffer.drainQueued = false }
            defer {
                buffer.writes = []
                buffer.flush = false
            }
            return (buffer.writes, buffer.flush)
        }
    }

    private func flushSoon() {
        guard !loopState.value.flushQueued else { return }
        loopState.value.flushQueued = true
        let loop = channel.eventLoop
        if let deadline = pacing.deadline(lastFlush: loopState.value.lastFlush, now: loop.now) {
            loop.scheduleTask(deadline: deadline) { self.queuedFlush() }
        } else {
            loop.execute { self.queuedFlush() }
        }
    }

    private func queuedFlush() {
        loopState.value = LoopState(flushQueued: false, lastFlush: channel.eventLoop.now)
        channel.flush()
    }
}
