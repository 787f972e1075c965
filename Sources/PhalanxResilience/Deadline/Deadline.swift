/// An absolute point in time by which work must be finished, on a given clock.
///
/// A deadline remembers its clock, so code far from where it was set can ask how much time is left
/// without knowing which clock the program (or a test, with a `TestClock`) uses. The deadline of the
/// running work is ``Deadline/current``; ``withDeadline(_:operation:)`` narrows it for a child.
public struct Deadline: Sendable, CustomStringConvertible {
    private let storage: any DeadlineStorage

    /// A deadline at `instant` on `clock`.
    public init<C: Clock>(_ instant: C.Instant, on clock: C) where C.Duration == Duration {
        storage = ClockDeadline(clock: clock, instant: instant)
    }

    /// A deadline `duration` from now on `clock`.
    public static func after<C: Clock>(_ duration: Duration, on clock: C) -> Deadline where C.Duration == Duration {
        Deadline(clock.now.advanced(by: duration), on: clock)
    }

    /// The time left; zero or negative once the deadline has passed.
    public var remaining: Duration { storage.remaining }

    /// Whether the deadline has passed.
    public var hasPassed: Bool { remaining <= .zero }

    /// The earlier of this deadline and `other`.
    public func earlier(_ other: Deadline?) -> Deadline {
        guard let other else { return self }
        return storage.isEarlier(than: other.storage) ? self : other
    }

    /// Suspends until the deadline passes (throws `CancellationError` when cancelled first).
    public func sleepUntilPassed() async throws {
        try await storage.sleepUntilPassed()
    }

    public var description: String { "deadline(remaining: \(remaining))" }

    /// The deadline of the work running now, if any.
    @TaskLocal public static var current: Deadline?
}

/// The error thrown when a deadline passes before the work finished.
public struct DeadlineExceededError: ClassifiedError, Hashable {
    public var code: ErrorCode { .deadlineExceeded }
    public var message: String

    public init(message: String = "the deadline passed before the work finished") {
        self.message = message
    }
}

private protocol DeadlineStorage: Sendable {
    var remaining: Duration { get }
    func isEarlier(than other: any DeadlineStorage) -> Bool
    func sleepUntilPassed() async throws
}

private struct ClockDeadline<C: Clock>: DeadlineStorage where C.Duration == Duration {
    let clock: C
    let instant: C.Instant

    var remaining: Duration { clock.now.duration(to: instant) }

    func isEarlier(than other: any DeadlineStorage) -> Bool {
        if let sameClock = other as? ClockDeadline<C> { return instant < sameClock.instant }
        return remaining < other.remaining
    }

    func sleepUntilPassed() async throws {
        try await clock.sleep(until: instant, tolerance: nil)
    }
}
