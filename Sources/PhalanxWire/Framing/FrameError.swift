import PhalanxResilience

/// Why the bytes from a peer are not a valid frame.
public enum FrameError: Error, Hashable, CustomStringConvertible {
    /// The declared length is above the maximum; refused before reading the body.
    case tooLarge(declared: UInt32, maximum: Int)
    /// A zero-length frame (an Envelope must have a body).
    case empty
    /// The connection ended in the middle of a frame.
    case truncated(missing: Int)
    /// A frame's body did not arrive within the frame-completion deadline.
    case incompleteInTime(received: Int, declared: Int)
    /// The body is not a decodable Envelope.
    case undecodable(String)

    public var description: String { errorContext.message }

    /// The error as it is reported to the peer and logged.
    public var errorContext: ErrorContext {
        switch self {
        case .tooLarge(let declared, let maximum):
            ErrorContext(code: .frameTooLarge, message: "a frame declared \(declared) bytes; the maximum is \(maximum)")
        case .empty:
            ErrorContext(code: .malformedFrame, message: "a zero-length frame; every frame carries one non-empty Envelope")
        case .truncated(let missing):
            ErrorContext(code: .malformedFrame, message: "the connection ended \(missing) bytes short of the end of a frame")
        case .incompleteInTime(let received, let declared):
            ErrorContext(
                code: .malformedFrame,
                message: "a frame of \(declared) bytes was not complete within the frame deadline (\(received) bytes arrived)")
        case .undecodable(let reason):
            ErrorContext(code: .malformedFrame, message: "a frame is not a valid Envelope: \(reason)")
        }
    }
}
