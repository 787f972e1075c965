import Foundation

/// Absolute deadlines cross the wire as Unix milliseconds; this converts them to time left.
enum WallClock {
    static func nowUnixMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000).rounded()) }

    /// Time left until `unixMilliseconds` (nil when 0, meaning no deadline).
    static func remaining(untilUnixMilliseconds unixMilliseconds: Int64) -> Duration? {
        guard unixMilliseconds > 0 else { return nil }
        return .milliseconds(unixMilliseconds - nowUnixMilliseconds())
    }
}
