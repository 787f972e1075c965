import Testing

@testable import PhalanxResilience

@Suite struct FailureHandlerTests {
    let trace = TraceContext(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7")!

    @Test func unknownErrorsBecomeInternalKeepingTraceAndCauseText() {
        let context = FailureHandler(node: "w1").context(for: PlainError(), trace: trace, taskID: "t-1", attempt: 2)
        #expect(context.code == .internal)
        #expect(context.failureClass == .system)
        #expect(context.traceID == trace.traceID)
        #expect(context.spanID == trace.spanID)
        #expect(context.originNode == "w1")
        #expect(context.taskID == "t-1" && context.attempt == 2)
        #expect(context.message.contains("PlainError") && context.message.contains("disk on fire"))
        #expect(context.causes.first?.message.contains("PlainError") == true)
    }

    @Test func classifiedErrorsKeepTheirCodeAndClass() {
        let business = FailureHandler().context(for: BusinessFailure())
        #expect(business.code == .businessRejected && business.failureClass == .business && !business.retryable)
        let system = FailureHandler().context(for: SystemFailure())
        #expect(system.code == .unavailable && system.retryable)
    }

    @Test func cancellationBecomesCancelled() {
        #expect(FailureHandler().context(for: CancellationError()).code == .cancelled)
    }

    @Test func anExistingContextKeepsItsOriginAndGainsWhatItLacked() {
        let remote = ErrorContext(code: .conflict, message: "key locked", originNode: "w2")
        let context = FailureHandler(node: "coordinator").context(for: remote, trace: trace)
        #expect(context.originNode == "w2")
        #expect(context.traceID == trace.traceID)
    }

    @Test func theCurrentTraceIsUsedByDefault() {
        let context = TraceContext.$current.withValue(trace) { FailureHandler().context(for: PlainError()) }
        #expect(context.traceID == trace.traceID)
    }
}

@Suite struct ErrorContextTests {
    @Test func wrappingKeepsTheCauseChainInItsDescription() {
        let root = ErrorContext(code: .unavailable, message: "db down", originNode: "w1", taskID: "t-9")
        let outer = root.wrapped(in: .internal, "transfer failed")
        #expect(outer.causes == [root])
        #expect(outer.taskID == "t-9")
        #expect(outer.description.contains("caused by: UNAVAILABLE (system): db down"))
    }

    @Test func everyCodeHasAWireNameAndAClass() {
        for code in ErrorCode.allCases {
            #expect(code.rawValue == code.rawValue.uppercased())
            _ = code.defaultFailureClass
        }
        #expect(ErrorCode.workerLost.defaultFailureClass == .fatal)
        #expect(!FailureClass.fatal.isRetryable && FailureClass.system.isRetryable)
    }
}
