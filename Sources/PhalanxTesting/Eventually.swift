/// Waits (polling, bounded) until `condition` holds; throws naming `what` if it never does.
/// For conditions that depend on other processes or sockets; pure logic never needs it.
public func eventually(
    _ what: String, within timeout: Duration = .seconds(10), poll: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: poll)
    }
    if try await condition() { return }
    throw EventuallyTimedOut(description: "not within \(timeout): \(what)")
}

/// A condition awaited with ``eventually(_:within:poll:_:)`` did not come true in time.
public struct EventuallyTimedOut: Error, CustomStringConvertible {
    public let description: String
}
