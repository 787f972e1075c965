import Foundation
import PhalanxResilience
import PhalanxWire

/// What a running task uses to start child tasks (``TaskInput/children``): structured concurrency
/// across nodes. Children run on any worker of the cluster, their deadline is at most the parent's,
/// and they never outlive the parent's attempt: when it ends — finished, failed, cancelled or lost
/// with its worker — the coordinator cancels every child still running, wherever it runs.
public struct ChildTasks: Sendable {
    private let spawner: ChildSpawner?
    private let dispatchID: UInt64
    private let attempt: UInt32
    private let trace: TraceContext?
    private let deadlineUnixMilliseconds: Int64
    /// The worker slot the parent's handler holds: given up while it waits for its children.
    private let slot: HeldSlot?

    init(
        spawner: ChildSpawner?, dispatchID: UInt64, attempt: UInt32, trace: TraceContext?, deadlineUnixMilliseconds: Int64, slot: HeldSlot? = nil
    ) {
        self.slot = slot
        self.spawner = spawner
        self.dispatchID = dispatchID
        self.attempt = attempt
        self.trace = trace
        self.deadlineUnixMilliseconds = deadlineUnixMilliseconds
    }

    /// A handle for a handler called outside a cluster (tests): starting children throws.
    public static var unavailable: ChildTasks { ChildTasks(spawner: nil, dispatchID: 0, attempt: 0, trace: nil, deadlineUnixMilliseconds: 0) }

    /// Runs `children` and returns their outputs in order. Fail-fast: the first child that fails
    /// cancels its unfinished siblings wherever they run, and this throws an error with the
    /// child's code and class whose cause is the child's own error (so a tree's root error carries
    /// the chain down to the failing leaf).
    public func run(_ children: [ChildTask]) async throws -> [[UInt8]] {
        let results = try await start(children, failFast: true)
        // The failure that ended the scope, not the siblings it cancelled.
        let failures = zip(children, results).compactMap { child, result -> (ChildTask, ErrorContext)? in
            if case .failure(let error) = result { return (child, error) }
            return nil
        }
        if let (child, error) = failures.first(where: { $0.1.code != .cancelled }) ?? failures.first {
            throw Self.failure(of: child, error)
        }
        return results.map { (try? $0.get()) ?? [] }
    }

    /// Runs `children` until every one has ended, each with its own outcome, in order.
    public func runAll(_ children: [ChildTask]) async throws -> [Result<[UInt8], ErrorContext>] {
        try await start(children, failFast: false)
    }

    private func start(_ children: [ChildTask], failFast: Bool) async throws -> [Result<[UInt8], ErrorContext>] {
        guard let spawner else {
            throw PhalanxError(.invalidArgument, "this handler runs outside a cluster; it cannot start child tasks")
        }
        guard !children.isEmpty else { return [] }
        var ids = TraceIDGenerator()
        let specs = children.map { child in
            let own = WireTime.deadlineUnixMilliseconds(after: child.timeout)
            return Phalanx_V1_TaskSpec(
                taskID: child.name, kind: child.kind, payload: child.payload, trace: trace?.childSpan(using: &ids) ?? .newTrace(using: &ids),
                deadlineUnixMilliseconds: [own, deadlineUnixMilliseconds].filter { $0 > 0 }.min() ?? 0)
        }
        // While it waits, the parent holds no slot: its children may need one on this worker.
        slot?.giveUp()
        let results: [Phalanx_V1_TaskResult]
        do {
            results = try await spawner.run(specs, parent: dispatchID, attempt: attempt, failFast: failFast)
        } catch {
            try? await slot?.take()
            throw error
        }
        try await slot?.take()
        let byName = Dictionary(results.map { ($0.taskID, $0) }, uniquingKeysWith: { first, _ in first })
        return children.map { child in
            guard let result = byName[child.name] else {
                return .failure(ErrorContext(code: .cancelled, message: "child '\(child.name)' was cancelled: a sibling failed first"))
            }
            switch result.outcome {
            case .output(let data): return .success(Array(data))
            case .error(let error): return .failure(ErrorContext(wire: error))
            case nil: return .failure(ErrorContext(code: .internal, message: "child '\(child.name)' reported neither output nor error"))
            }
        }
    }

    private static func failure(of child: ChildTask, _ error: ErrorContext) -> ErrorContext {
        var wrapped = ErrorContext(
            code: error.code, message: "child task '\(child.name)' (\(child.kind)) failed: \(error.message)", failureClass: error.failureClass,
            causes: [error])
        wrapped.retryAfter = error.retryAfter
        return wrapped
    }
}
