/// An error that knows its own code and failure class.
///
/// Handlers throw errors conforming to this protocol to say how the failure should be treated;
/// anything else reaching a task boundary is `INTERNAL` (see ``FailureHandler``).
public protocol ClassifiedError: Error {
    /// The closed code this error maps to.
    var code: ErrorCode { get }
    /// Whether the failure is a business, system or fatal one.
    var failureClass: FailureClass { get }
    /// A human message saying what was wrong and, where possible, what to do.
    var message: String { get }
}

extension ClassifiedError {
    public var failureClass: FailureClass { code.defaultFailureClass }
}

/// A ready-made classified error for code that has no error type of its own.
public struct PhalanxError: ClassifiedError, Hashable, CustomStringConvertible {
    public var code: ErrorCode
    public var failureClass: FailureClass
    public var message: String

    public init(_ code: ErrorCode, _ message: String, failureClass: FailureClass? = nil) {
        self.code = code
        self.message = message
        self.failureClass = failureClass ?? code.defaultFailureClass
    }

    /// A business failure: the handler refuses the work; it is not retried.
    public static func business(_ message: String, code: ErrorCode = .businessRejected) -> PhalanxError {
        PhalanxError(code, message, failureClass: .business)
    }

    /// A system failure: something around the work failed; it may be retried.
    public static func system(_ message: String, code: ErrorCode = .unavailable) -> PhalanxError {
        PhalanxError(code, message, failureClass: .system)
    }

    public var description: String { "\(code.rawValue) (\(failureClass.rawValue)): \(message)" }
}
