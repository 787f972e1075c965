import PhalanxResilience

extension ErrorCode {
    /// The wire form of this code.
    public var wire: Phalanx_V1_ErrorCode {
        switch self {
        case .invalidArgument: .invalidArgument
        case .businessRejected: .businessRejected
        case .deadlineExceeded: .deadlineExceeded
        case .cancelled: .cancelled
        case .circuitOpen: .circuitOpen
        case .bulkheadFull: .bulkheadFull
        case .overloaded: .overloaded
        case .workerLost: .workerLost
        case .conflict: .conflict
        case .permissionDenied: .permissionDenied
        case .unavailable: .unavailable
        case .internal: .internal
        case .frameTooLarge: .frameTooLarge
        case .malformedFrame: .malformedFrame
        case .protocolError: .protocolError
        case .versionMismatch: .versionMismatch
        case .clusterMismatch: .clusterMismatch
        case .unauthenticated: .unauthenticated
        case .storageFull: .storageFull
        case .superseded: .superseded
        }
    }

    /// The code for a wire value; unknown or unspecified values are `INTERNAL` (never a crash).
    public init(wire: Phalanx_V1_ErrorCode) {
        self = ErrorCode.allCases.first { $0.wire == wire } ?? .internal
    }
}

extension FailureClass {
    public var wire: Phalanx_V1_FailureClass {
        switch self {
        case .business: .business
        case .system: .system
        case .fatal: .fatal
        }
    }

    /// The class for a wire value; unspecified falls back to `fallback`.
    public init(wire: Phalanx_V1_FailureClass, fallback: FailureClass) {
        switch wire {
        case .business: self = .business
        case .system: self = .system
        case .fatal: self = .fatal
        default: self = fallback
        }
    }
}

extension ErrorContext {
    /// The wire form, causes included (depth is bounded when decoding, not here).
    public var wire: Phalanx_V1_ErrorContext {
        var message = Phalanx_V1_ErrorContext()
        message.code = code.wire
        message.message = self.message
        message.failureClass = failureClass.wire
        message.traceID = traceID ?? ""
        message.spanID = spanID ?? ""
        message.originNode = originNode ?? ""
        message.taskID = taskID ?? ""
        message.attempt = UInt32(clamping: attempt ?? 0)
        message.retryable = retryable
        message.causes = causes.map(\.wire)
        if let retryAfter { message.retryAfterMs = UInt32(clamping: retryAfter.wholeMilliseconds) }
        return message
    }

    /// The context carried by a wire message.
    public init(wire: Phalanx_V1_ErrorContext) {
        let code = ErrorCode(wire: wire.code)
        self.init(
            code: code,
            message: wire.message,
            failureClass: FailureClass(wire: wire.failureClass, fallback: code.defaultFailureClass),
            traceID: wire.traceID.isEmpty ? nil : wire.traceID,
            spanID: wire.spanID.isEmpty ? nil : wire.spanID,
            originNode: wire.originNode.isEmpty ? nil : wire.originNode,
            taskID: wire.taskID.isEmpty ? nil : wire.taskID,
            attempt: wire.attempt == 0 ? nil : Int(wire.attempt),
            causes: wire.causes.map(ErrorContext.init(wire:)))
        if wire.retryAfterMs > 0 { retryAfter = .milliseconds(Int64(wire.retryAfterMs)) }
    }
}
