import Foundation

/// How time crosses the wire: absolute deadlines as Unix milliseconds (0 = none), intervals as
/// whole milliseconds. Sender and receiver use this one conversion, both ways.
public enum WireTime {
    /// Now, in Unix milliseconds.
    public static func nowUnixMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000).rounded()) }

    /// A wall-clock time in milliseconds since 1970 as ISO 8601 (UTC, to the second), for messages and reports.
    public static func iso8601(unixMilliseconds: Int64) -> String { Date(timeIntervalSince1970: Double(unixMilliseconds) / 1000).formatted(.iso8601) }

    /// The absolute deadline `timeout` from now (nil timeout: 0, no deadline).
    public static func deadlineUnixMilliseconds(after timeout: Duration?) -> Int64 {
        guard let timeout else { return 0 }
        return nowUnixMilliseconds() + timeout.wholeMilliseconds
    }

    /// Time left until `unixMilliseconds` (nil when 0, meaning no deadline).
    public static func remaining(untilUnixMilliseconds unixMilliseconds: Int64, now: Int64 = nowUnixMilliseconds()) -> Duration? {
        // 0 is "no deadline"; one before 1970 (negative) has passed, like any other in the past.
        guard unixMilliseconds != 0 else { return nil }
        return .milliseconds(max(unixMilliseconds, 0) - now)
    }
}

extension Duration {
    /// The duration in whole milliseconds (rounded toward zero).
    public var wholeMilliseconds: Int64 { components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000 }
}
