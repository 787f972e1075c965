/// The coordinator's name for one accepted connection. Replies are routed by connection, never by
/// certificate name: many processes may share one client certificate, and each gets its own replies.
public struct ConnectionID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public static func < (lhs: ConnectionID, rhs: ConnectionID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "#\(rawValue)" }
}

/// The coordinator's handle for one accepted task; it travels to workers as `dispatch_id` and comes
/// back with the result, so a result is matched without parsing any string.
public typealias TaskNumber = UInt64
