/// A set of child tasks that never outlive the call that runs them.
///
/// Add children with ``addChild(_:)`` inside the builder closure; ``withFailFastScope(of:failureHandler:_:)``
/// or ``withCollectAllScope(of:failureHandler:_:)`` runs them in a task group, so every child has
/// finished (or been cancelled and finished) before the call returns.
public struct TaskScope<Success: Sendable>: Sendable {
    fileprivate var children: [@Sendable () async throws -> Success] = []

    fileprivate init() {}

    /// Adds a child; results come back in the order children were added.
    public mutating func addChild(_ child: @escaping @Sendable () async throws -> Success) {
        children.append(child)
    }
}

/// Runs the children of `build` concurrently; the first failure cancels the rest and is thrown, classified.
///
/// Failures of siblings that were cancelled because of the first failure are not reported.
public func withFailFastScope<Success: Sendable>(
    of: Success.Type = Success.self,
    failureHandler: FailureHandler = FailureHandler(),
    _ build: (inout TaskScope<Success>) -> Void
) async throws(ErrorContext) -> [Success] {
    var scope = TaskScope<Success>()
    build(&scope)
    let children = scope.children
    let trace = TraceContext.current
    let outcome: Result<[Success], ErrorContext> = await withTaskGroup(of: (Int, Result<Success, any Error>).self) { group in
        for (index, child) in children.enumerated() {
            group.addTask {
                do { return (index, .success(try await child())) } catch { return (index, .failure(error)) }
            }
        }
        var results = [Success?](repeating: nil, count: children.count)
        var firstFailure: ErrorContext?
        for await (index, result) in group {
            switch result {
            case .success(let value):
                results[index] = value
            case .failure(let error):
                if firstFailure == nil {
                    firstFailure = failureHandler.context(for: error, trace: trace)
                    group.cancelAll()
                }
            }
        }
        if let firstFailure { return .failure(firstFailure) }
        return .success(results.map { $0! })
    }
    return try outcome.get()
}

/// Runs the children of `build` concurrently to their ends and returns every outcome, classified, in order.
public func withCollectAllScope<Success: Sendable>(
    of: Success.Type = Success.self,
    failureHandler: FailureHandler = FailureHandler(),
    _ build: (inout TaskScope<Success>) -> Void
) async -> [Result<Success, ErrorContext>] {
    var scope = TaskScope<Success>()
    build(&scope)
    let children = scope.children
    let trace = TraceContext.current
    return await withTaskGroup(of: (Int, Result<Success, ErrorContext>).self) { group in
        for (index, child) in children.enumerated() {
            group.addTask {
                do { return (index, .success(try await child())) } catch {
                    return (index, .failure(failureHandler.context(for: error, trace: trace)))
                }
            }
        }
        var results = [Result<Success, ErrorContext>?](repeating: nil, count: children.count)
        for await (index, result) in group { results[index] = result }
        return results.map { $0! }
    }
}
