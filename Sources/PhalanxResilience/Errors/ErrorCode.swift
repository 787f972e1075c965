/// The closed set of failure codes that Phalanx uses everywhere, in process and on the wire.
///
/// The raw values are the wire names (`Protos/phalanx.proto` mirrors them one to one), so a code
/// read from a log line, a metric label or a peer's error frame is the same word.
public enum ErrorCode: String, Sendable, Hashable, CaseIterable, Codable {
    /// The request itself was wrong; retrying the same request cannot help.
    case invalidArgument = "INVALID_ARGUMENT"
    /// A handler refused the work for a business reason (not retried).
    case businessRejected = "BUSINESS_REJECTED"
    /// The deadline passed before the work finished.
    case deadlineExceeded = "DEADLINE_EXCEEDED"
    /// The caller cancelled the work.
    case cancelled = "CANCELLED"
    /// A circuit breaker is open and fails calls fast.
    case circuitOpen = "CIRCUIT_OPEN"
    /// A bulkhead had no free slot and no room in its wait queue (or the wait timed out).
    case bulkheadFull = "BULKHEAD_FULL"
    /// Admission control refused the work; retry later.
    case overloaded = "OVERLOADED"
    /// The worker running the work was lost (crashed, killed or declared dead).
    case workerLost = "WORKER_LOST"
    /// A conflicting operation holds what this one needs.
    case conflict = "CONFLICT"
    /// The caller's role may not do this.
    case permissionDenied = "PERMISSION_DENIED"
    /// A dependency cannot be reached right now.
    case unavailable = "UNAVAILABLE"
    /// Anything unclassified: a bug or an unexpected error, with its cause text kept.
    case `internal` = "INTERNAL"
    /// A frame declared a length above the configured maximum.
    case frameTooLarge = "FRAME_TOO_LARGE"
    /// Bytes that are not a valid frame or envelope.
    case malformedFrame = "MALFORMED_FRAME"
    /// A valid frame arrived at the wrong point of the protocol (for example before Hello).
    case protocolError = "PROTOCOL_ERROR"
    /// The peer speaks another protocol version.
    case versionMismatch = "VERSION_MISMATCH"
    /// The peer belongs to another cluster.
    case clusterMismatch = "CLUSTER_MISMATCH"
    /// The peer's identity could not be established (certificate missing, wrong, or contradicted).
    case unauthenticated = "UNAUTHENTICATED"
    /// Durable storage is full; the write was refused and not acknowledged.
    case storageFull = "STORAGE_FULL"
    /// A newer incarnation of this node (a restart of its process) took its place; the old one must stop.
    case superseded = "SUPERSEDED"

    /// The failure class a code implies when nothing more specific is known.
    public var defaultFailureClass: FailureClass {
        switch self {
        case .invalidArgument, .businessRejected, .permissionDenied, .unauthenticated,
            .versionMismatch, .clusterMismatch, .frameTooLarge, .malformedFrame, .protocolError,
            .cancelled, .deadlineExceeded, .conflict, .superseded:
            return .business
        case .workerLost:
            return .fatal
        case .circuitOpen, .bulkheadFull, .overloaded, .unavailable, .internal, .storageFull:
            return .system
        }
    }
}
