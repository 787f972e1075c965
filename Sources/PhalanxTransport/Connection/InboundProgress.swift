import Synchronization

/// How many messages a connection has delivered to its reader, and how many the reader has
/// handled: the difference is a backlog of messages that arrived and wait. A peer with a backlog
/// is alive whatever its last handled message says, so a coordinator that falls behind on its
/// messages (an overloaded actor) does not declare a worker dead whose heartbeats wait in line.
public final class InboundProgress: Sendable {
    private let delivered = Atomic<UInt64>(0)
    private let handled = Atomic<UInt64>(0)

    public init() {}

    /// The connection handed one more message to its reader (on the event loop).
    public func deliveredOne() { delivered.add(1, ordering: .relaxed) }

    /// The reader finished handling one message.
    public func handledOne() { handled.add(1, ordering: .relaxed) }

    /// Messages delivered and not handled yet.
    public var backlog: UInt64 {
        let handled = handled.load(ordering: .relaxed)
        let delivered = delivered.load(ordering: .relaxed)
        return delivered > handled ? delivered - handled : 0
    }
}
