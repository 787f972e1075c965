/// Runs `operation` under `deadline`, or under the current deadline if that is earlier.
///
/// The operation sees the effective deadline as ``Deadline/current``. When the deadline passes
/// first, the operation is cancelled, awaited (it never outlives this call), and
/// ``DeadlineExceededError`` is thrown. A deadline that has already passed throws at once,
/// without starting the operation.
public func withDeadline<Success: Sendable>(
    _ deadline: Deadline,
    operation: @escaping @Sendable () async throws -> Success
) async throws -> Success {
    let effective = deadline.earlier(Deadline.current)
    if effective.hasPassed { throw DeadlineExceededError(message: "the deadline had passed before the work started") }
    return try await Deadline.$current.withValue(effective) {
        try await withThrowingTaskGroup(of: DeadlineRace<Success>.self) { group in
            group.addTask { .finished(try await operation()) }
            group.addTask {
                try await effective.sleepUntilPassed()
                return .deadlinePassed
            }
            defer { group.cancelAll() }
            switch try await group.next()! {
            case .finished(let value):
                return value
            case .deadlinePassed:
                group.cancelAll()
                // Wait for the operation to end; what it returns or throws after the deadline is moot.
                while let _ = try? await group.next() {}
                throw DeadlineExceededError(message: "the deadline passed before the work finished")
            }
        }
    }
}

/// Runs `operation` with a timeout of `duration` on `clock` (the earlier of it and the current deadline applies).
public func withTimeout<Success: Sendable, C: Clock>(
    _ duration: Duration,
    on clock: C,
    operation: @escaping @Sendable () async throws -> Success
) async throws -> Success where C.Duration == Duration {
    try await withDeadline(.after(duration, on: clock), operation: operation)
}

private enum DeadlineRace<Success: Sendable>: Sendable {
    case finished(Success)
    case deadlinePassed
}
