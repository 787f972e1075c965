import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import PhalanxTransport
import Testing

/// The outbound batcher on a testing channel (its loop is a serial queue: work handed to it from
/// outside runs there in order, work it queues itself runs when the test runs the loop): what is
/// sent together leaves with one flush, in the order it was sent, and closing loses nothing.
@Suite(.timeLimit(.minutes(1))) struct OutboundBatcherTests {
    /// Counts the flushes that reach the channel.
    final class FlushCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = String
        typealias OutboundOut = String
        private let count = NIOLockedValueBox(0)
        var flushes: Int { count.withLockedValue { $0 } }

        func flush(context: ChannelHandlerContext) {
            count.withLockedValue { $0 += 1 }
            context.flush()
        }
    }

    func makeChannel() async throws -> (NIOAsyncTestingChannel, FlushCounter, OutboundBatcher<String>) {
        let counter = FlushCounter()
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(counter)
        return (channel, counter, OutboundBatcher(channel: channel))
    }

    func written(_ channel: NIOAsyncTestingChannel) async throws -> [String] {
        var messages: [String] = []
        while let message = try await channel.readOutbound(as: String.self) { messages.append(message) }
        return messages
    }

    @Test func writesFromOffTheLoopLeaveTogetherWithOneFlushInOrder() async throws {
        let (channel, counter, batcher) = try await makeChannel()
        batcher.write("a")
        batcher.write("b")
        batcher.send("c")
        await channel.testingEventLoop.run()
        #expect(try await written(channel) == ["a", "b", "c"])
        #expect(counter.flushes == 1)
    }

    @Test func writesWithoutAFlushStayUnflushed() async throws {
        let (channel, counter, batcher) = try await makeChannel()
        batcher.write("a")
        await channel.testingEventLoop.run()
        #expect(try await written(channel) == [], "written to the channel, not flushed")
        #expect(counter.flushes == 0)
        batcher.flush()
        await channel.testingEventLoop.run()
        #expect(try await written(channel) == ["a"])
        #expect(counter.flushes == 1)
    }

    @Test func sendsInOneTurnOfTheLoopShareOneFlush() async throws {
        let (channel, counter, batcher) = try await makeChannel()
        let turn = channel.eventLoop.submit {
            for message in ["a", "b", "c"] { batcher.send(message) }
        }
        await channel.testingEventLoop.run()
        try await turn.get()
        #expect(try await written(channel) == ["a", "b", "c"])
        #expect(counter.flushes == 1)
    }

    @Test func aWriteOnTheLoopComesAfterWhatWasBufferedOffItAndTakesItsFlushAlong() async throws {
        let (channel, counter, batcher) = try await makeChannel()
        // The loop's turn waits until the off-loop send has buffered its message and queued its
        // drain behind the turn: the write on the loop must hand the buffer over first, with its flush.
        let sent = DispatchSemaphore(value: 0)
        let turn = channel.eventLoop.submit {
            sent.wait()
            batcher.write("on the loop, later")
        }
        batcher.send("off the loop, earlier")
        sent.signal()
        await channel.testingEventLoop.run()
        try await turn.get()
        #expect(try await written(channel) == ["off the loop, earlier", "on the loop, later"])
        #expect(counter.flushes == 1)
    }

    @Test func closingFlushesWhatWasWrittenFirst() async throws {
        let (channel, counter, batcher) = try await makeChannel()
        batcher.write("last words")
        let closing = Task { await batcher.close() }
        // The close queues its work on the loop from another task: run the loop until it ran.
        for _ in 0..<1000 where channel.isActive {
            await channel.testingEventLoop.run()
            await Task.yield()
        }
        await closing.value
        #expect(!channel.isActive)
        #expect(try await written(channel) == ["last words"])
        #expect(counter.flushes == 1)
    }

    @Test func afterPendingWritesRunsOnceEverythingWrittenWasFlushed() async throws {
        let (channel, counter, batcher) = try await makeChannel()
        let flushesSeen = NIOLockedValueBox(-1)
        batcher.write("first")
        batcher.afterPendingWrites { _ in flushesSeen.withLockedValue { $0 = counter.flushes } }
        await channel.testingEventLoop.run()
        #expect(flushesSeen.withLockedValue { $0 } == 1)
        #expect(try await written(channel) == ["first"])
    }

    @Test func aSecondFlushWithinTheIntervalWaitsForItThenTakesEverythingSentMeanwhile() async throws {
        let (channel, counter, batcher) = try await makeChannel()
        let loop = channel.testingEventLoop
        try await loop.submit { batcher.send("first") }.get()
        await loop.run()
        #expect(try await written(channel) == ["first"])
        #expect(counter.flushes == 1)
        try await loop.submit {
            batcher.send("second")
            batcher.send("third")
        }.get()
        await loop.advanceTime(by: FlushPacing.standard.minimumInterval - .microseconds(1))
        #expect(try await written(channel) == [], "flushed again before the interval was over")
        #expect(counter.flushes == 1)
        await loop.advanceTime(by: .microseconds(1))
        #expect(try await written(channel) == ["second", "third"])
        #expect(counter.flushes == 2)
    }

    @Test func aFlushAfterTheIntervalGoesOutInTheSameTurn() async throws {
        let (channel, counter, batcher) = try await makeChannel()
        let loop = channel.testingEventLoop
        try await loop.submit { batcher.send("first") }.get()
        await loop.run()
        await loop.advanceTime(by: FlushPacing.standard.minimumInterval)
        try await loop.submit { batcher.send("second") }.get()
        await loop.run()
        #expect(try await written(channel) == ["first", "second"])
        #expect(counter.flushes == 2)
    }
}

/// The pacing rule alone: when a flush asked for at a time goes out.
@Suite struct FlushPacingTests {
    let pacing = FlushPacing(minimumInterval: .microseconds(200))
    let start = NIODeadline.uptimeNanoseconds(1_000_000)

    @Test func theFirstFlushGoesOutAtOnce() {
        #expect(pacing.deadline(lastFlush: nil, now: start) == nil)
    }

    @Test func aFlushWithinTheIntervalIsScheduledForItsEnd() {
        #expect(pacing.deadline(lastFlush: start, now: start) == start + .microseconds(200))
        #expect(pacing.deadline(lastFlush: start, now: start + .microseconds(199)) == start + .microseconds(200))
    }

    @Test func aFlushAtOrPastTheIntervalGoesOutAtOnce() {
        #expect(pacing.deadline(lastFlush: start, now: start + .microseconds(200)) == nil)
        #expect(pacing.deadline(lastFlush: start, now: start + .seconds(1)) == nil)
    }

    @Test func noIntervalMeansNoWait() {
        #expect(FlushPacing(minimumInterval: .zero).deadline(lastFlush: start, now: start) == nil)
    }
}
