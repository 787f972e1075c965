/// Failure detection as a pure value: when each worker was last heard from, and which have been
/// silent for longer than the window. Time is the elapsed `Duration` since an origin the owner picks.
///
/// Liveness is judged only from what a worker sends (heartbeats, results), never from how long a
/// task has run, so a task may run for hours on a live worker.
public struct HeartbeatMonitor<Member: Hashable & Sendable>: Sendable {
    /// Silence longer than this declares a member dead.
    public let window: Duration
    private var lastHeard: [Member: Duration] = [:]

    public init(window: Duration) {
        precondition(window > .zero, "a heartbeat window must be positive")
        self.window = window
    }

    /// Members watched now.
    public var members: Dictionary<Member, Duration>.Keys { lastHeard.keys }

    /// `member` was heard from at `now` (starts watching it if it was not watched).
    public mutating func heard(from member: Member, at now: Duration) {
        lastHeard[member] = now
    }

    /// Stops watching `member`.
    public mutating func forget(_ member: Member) {
        lastHeard[member] = nil
    }

    /// Members silent for longer than the window at `now`; they are no longer watched.
    public mutating func expired(at now: Duration) -> [Member] {
        var dead: [Member] = []
        for (member, heard) in lastHeard where now - heard > window { dead.append(member) }
        for member in dead { lastHeard[member] = nil }
        return dead
    }

    /// When the next member would expire if it stays silent (nil when nobody is watched).
    public var nextExpiry: Duration? {
        lastHeard.values.min().map { $0 + window + .milliseconds(1) }
    }
}
