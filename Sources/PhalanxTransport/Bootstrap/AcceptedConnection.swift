import NIOCore
import Synchronization

/// A connection the listener accepted, until the accept loop takes it to serve it.
///
/// One that is never taken (the loop stopped while the connection waited in the listener's
/// buffer, e.g. on SIGTERM during a burst of connects) is closed when it is released. Dropped
/// as a bare async channel, it would never be finished, and NIO traps on that.
public final class AcceptedConnection: Sendable {
    private let waiting: Mutex<PeerChannel?>

    init(_ peer: PeerChannel) {
        waiting = Mutex(peer)
    }

    /// The connection to serve; nil once it has been taken.
    public func take() -> PeerChannel? {
        waiting.withLock { $0.take() }
    }

    deinit {
        guard let peer = waiting.withLock({ $0.take() }) else { return }
        // executeThenClose finishes the channel's writer and closes it; the task keeps it alive until then.
        Task { try? await peer.channel.executeThenClose { _, _ in } }
    }
}
