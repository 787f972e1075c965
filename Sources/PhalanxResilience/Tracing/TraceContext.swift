/// A W3C trace context: which trace a piece of work belongs to, and which span inside it.
///
/// The ids are lower-case hex (32 digits for the trace, 16 for the span), as in the
/// `traceparent` header, so they can be joined with any tracing backend.
public struct TraceContext: Sendable, Hashable, Codable, CustomStringConvertible {
    public var traceID: String
    public var spanID: String

    /// Makes a context from ids already known (for example read off the wire).
    /// Returns nil when either id is not well-formed hex of the right length or is all zeros.
    public init?(traceID: String, spanID: String) {
        guard Self.isValidID(traceID, hexDigits: 32), Self.isValidID(spanID, hexDigits: 16) else { return nil }
        self.traceID = traceID
        self.spanID = spanID
    }

    /// Reads a W3C `traceparent` header (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`).
    /// Returns nil for anything the W3C Trace Context rules reject: upper-case hex, all-zero ids,
    /// version `ff`, or a version-00 header with anything after the flags. Later versions may carry
    /// more fields after a `-`, which are ignored. The flags are read and not kept (Phalanx records every trace).
    public init?(traceparent header: String) {
        let bytes = Array(header.utf8)
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-") else { return nil }
        let version = String(decoding: bytes[0..<2], as: UTF8.self)
        guard Self.isHex(version), version != "ff", Self.isHex(String(decoding: bytes[53..<55], as: UTF8.self)) else { return nil }
        if version == "00" ? bytes.count != 55 : (bytes.count > 55 && bytes[55] != UInt8(ascii: "-")) { return nil }
        self.init(traceID: String(decoding: bytes[3..<35], as: UTF8.self), spanID: String(decoding: bytes[36..<52], as: UTF8.self))
    }

    /// Starts a new trace with a fresh root span.
    public static func newTrace<R: RandomNumberGenerator>(using generator: inout R) -> TraceContext {
        TraceContext(
            unchecked: hex(generator.next(), generator.next()),
            spanID: hex(generator.next()))
    }

    /// Starts a new trace with the system's random generator.
    public static func newTrace() -> TraceContext {
        var generator = SystemRandomNumberGenerator()
        return newTrace(using: &generator)
    }

    /// A child span in the same trace.
    public func childSpan<R: RandomNumberGenerator>(using generator: inout R) -> TraceContext {
        TraceContext(unchecked: traceID, spanID: Self.hex(generator.next()))
    }

    /// A child span in the same trace, drawn from the system's random generator.
    public func childSpan() -> TraceContext {
        var generator = SystemRandomNumberGenerator()
        return childSpan(using: &generator)
    }

    /// The `traceparent` header form: `00-<trace>-<span>-01`.
    public var traceparent: String { "00-\(traceID)-\(spanID)-01" }

    public var description: String { traceparent }

    /// The trace of the work running now, if any.
    @TaskLocal public static var current: TraceContext?

    private init(unchecked traceID: String, spanID: String) {
        self.traceID = traceID
        self.spanID = spanID
    }

    /// `first` (and `second`) as 16 lower-case hex digits each (``LowerHex``); a zero word is
    /// written as 1, since an all-zero id is invalid in W3C trace context.
    static func hex(_ first: UInt64, _ second: UInt64? = nil) -> String {
        LowerHex.string(max(first, 1), second.map { max($0, 1) })
    }

    private static func isHex(_ text: String) -> Bool {
        text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    private static func isValidID(_ id: String, hexDigits: Int) -> Bool {
        guard id.utf8.count == hexDigits else { return false }
        // Over the contiguous UTF-8 of a native string (every id read off the wire) in one pass.
        return id.utf8.withContiguousStorageIfAvailable { isValidID($0) } ?? isValidID(id.utf8)
    }

    private static func isValidID(_ bytes: some Sequence<UInt8>) -> Bool {
        var sawNonZero = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0"): continue
            case UInt8(ascii: "1")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): sawNonZero = true
            default: return false
            }
        }
        return sawNonZero
    }
}
