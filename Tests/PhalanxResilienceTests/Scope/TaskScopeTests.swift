import Clocks
import Testing

@testable import PhalanxResilience

@Suite struct TaskScopeTests {
    @Test func failFastCancelsTheSiblingsAndRethrowsTheFirstFailure() async throws {
        let clock = TestClock()
        let siblingsCancelled = Locked(0)
        await #expect {
            try await withFailFastScope(of: Int.self) { scope in
                for _ in 0..<3 {
                    scope.addChild {
                        do {
                            try await clock.sleep(for: .seconds(3_600))
                        } catch {
                            siblingsCancelled.withLock { $0 += 1 }
                            throw error
                        }
                        return 0
                    }
                }
                scope.addChild { throw SystemFailure() }
            }
        } throws: { error in
            (error as? ErrorContext)?.code == .unavailable
        }
        // The scope returned only after every sibling had ended: none outlives it.
        #expect(siblingsCancelled.value == 3)
    }

    @Test func failFastReturnsResultsInOrder() async throws {
        let values = try await withFailFastScope(of: Int.self) { scope in
            for index in 0..<10 { scope.addChild { index * index } }
        }
        #expect(values == (0..<10).map { $0 * $0 })
    }

    @Test func collectAllReturnsEveryResultAndEveryFailureClassified() async throws {
        let results = await withCollectAllScope(of: String.self) { scope in
            scope.addChild { "a" }
            scope.addChild { throw BusinessFailure() }
            scope.addChild { throw PlainError() }
            scope.addChild { "d" }
        }
        #expect(results.count == 4)
        #expect(try results[0].get() == "a")
        #expect(results[1].failureCode == .businessRejected)
        #expect(results[2].failureCode == .internal)
        #expect(try results[3].get() == "d")
    }

    @Test func failuresCarryTheScopesTrace() async {
        let trace = TraceContext.newTrace()
        let results = await TraceContext.$current.withValue(trace) {
            await withCollectAllScope(of: Int.self) { scope in scope.addChild { throw PlainError() } }
        }
        guard case .failure(let context) = results[0] else { Issue.record("expected a failure"); return }
        #expect(context.traceID == trace.traceID)
    }
}

extension Result where Failure == ErrorContext {
    var failureCode: ErrorCode? {
        if case .failure(let context) = self { return context.code }
        return nil
    }
}
