import NIOCore

/// A task executor that runs jobs on a NIO event loop.
///
/// A connection's task runs with this executor as its preference, so resuming it after the channel
/// delivered a message, stepping the (default) actor it calls, and writing the reply all happen on
/// the loop's thread: no thread hop per message. Work that may take CPU time (task handlers) must
/// opt out with `globalConcurrentExecutor`.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
