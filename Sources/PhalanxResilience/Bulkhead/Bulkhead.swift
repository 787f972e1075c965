import Synchronization

/// Layer 3: a bulkhead limits how many calls of one group run at once, with a bounded wait.
///
/// Past the limit a caller waits in a first-come-first-served queue of at most
/// `maxWaitingCalls`, for at most `maxWaitDuration`; with the queue full or the wait over it gets
/// `BULKHEAD_FULL`. A waiter whose task is cancelled leaves the queue at once (`CANCELLED`).
/// With no `maxWaitDuration` a waiter waits until it is admitted or cancelled, and no timer runs
/// (for callers whose own deadline bounds the wait).
public final class Bulkhead<C: Clock>: Sendable where C.Duration == Duration {
    /// The settings of a bulkhead.
    public struct Configuration: Sendable, Hashable {
        public var maxConcurrentCalls: Int
        public var maxWaitingCalls: Int
        /// nil: a waiter waits until admitted or cancelled.
        public var maxWaitDuration: Duration?

        public init(maxConcurrentCalls: Int = 25, maxWaitingCalls: Int = 100, maxWaitDuration: Duration? = .milliseconds(500)) {
            self.maxConcurrentCalls = maxConcurrentCalls
            self.maxWaitingCalls = maxWaitingCalls
            self.maxWaitDuration = maxWaitDuration
        }

        /// Checks every setting; the error names the setting and what is expected.
        public func validate() throws(ErrorContext) {
            guard maxConcurrentCalls >= 1 else { throw .invalidSetting("bulkhead", "maxConcurrentCalls", "at least 1, got \(maxConcurrentCalls)") }
            guard maxWaitingCalls >= 0 else { throw .invalidSetting("bulkhead", "maxWaitingCalls", "zero or more, got \(maxWaitingCalls)") }
            guard (maxWaitDuration ?? .zero) >= .zero else { throw .invalidSetting("bulkhead", "maxWaitDuration", "zero or more") }
        }
    }

    private enum WaitResult: Sendable {
        case admitted, timedOut, cancelled
    }

    private struct Shared: ~Copyable {
        var admission: BulkheadState
        var nextWaiterID: UInt64 = 0
        var continuations: [UInt64: CheckedContinuation<WaitResult, Never>] = [:]
        /// Outcomes decided before the waiter had parked its continuation.
        var early: [UInt64: WaitResult] = [:]
    }

    public let name: String
    public let configuration: Configuration
    private let clock: C
    private let shared: Mutex<Shared>

    public init(name: String, configuration: Configuration = Configuration(), clock: C) throws(ErrorContext) {
        try configuration.validate()
        self.name = name
        self.configuration = configuration
        self.clock = clock
        self.shared = Mutex(
            Shared(admission: BulkheadState(
                maxConcurrentCalls: configuration.maxConcurrentCalls, maxWaitingCalls: configuration.maxWaitingCalls)))
    }

    /// Calls running inside the bulkhead now.
    public var activeCalls: Int { shared.withLock { $0.admission.activeCalls } }
    /// Callers waiting for a slot now.
    public var waitingCalls: Int { shared.withLock { $0.admission.waitingCalls } }

    /// Runs `operation` in a slot; the slot is released on every path.
    public func run<Success>(
        isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws -> Success
    ) async throws -> Success {
        try await acquire()
        defer { release() }
        return try await operation()
    }

    /// Takes a slot, waiting if allowed; pair every successful call with ``release()``.
    public func acquire() async throws(ErrorContext) {
        let (admission, id) = shared.withLock { shared -> (BulkheadState.Admission, UInt64) in
            shared.nextWaiterID &+= 1
            return (shared.admission.requestSlot(id: shared.nextWaiterID), shared.nextWaiterID)
        }
        switch admission {
        case .admitted:
            return
        case .rejected:
            throw full("all \(configuration.maxConcurrentCalls) slots are busy and \(configuration.maxWaitingCalls) callers wait")
        case .enqueued:
            switch await wait(id) {
            case .admitted: return
            case .timedOut: throw full("no slot became free within \(configuration.maxWaitDuration ?? .zero)")
            case .cancelled: throw ErrorContext(code: .cancelled, message: "cancelled while waiting for bulkhead '\(name)'")
            }
        }
    }

    /// Frees a slot taken by ``acquire()``; the next waiter, if any, gets it.
    public func release() {
        let admitted = shared.withLock { shared -> CheckedContinuation<WaitResult, Never>? in
            guard let next = shared.admission.releaseSlot() else { return nil }
            return Self.decide(next, .admitted, in: &shared)
        }
        admitted?.resume(returning: .admitted)
    }

    private func wait(_ id: UInt64) async -> WaitResult {
        guard let maxWaitDuration = configuration.maxWaitDuration else { return await parked(id) }
        return await withTaskGroup(of: WaitResult?.self) { group in
            group.addTask { await self.parked(id) }
            group.addTask {
                // The timer; cancelled as soon as the waiter has its answer.
                guard (try? await self.clock.sleep(for: maxWaitDuration)) != nil else { return nil }
                self.abandon(id, with: .timedOut)
                return nil
            }
            var result = WaitResult.cancelled
            for await outcome in group {
                if let outcome {
                    result = outcome
                    group.cancelAll()
                }
            }
            return result
        }
    }

    /// Waits, parked, until the waiter is admitted, or abandoned (cancelled or timed out).
    private func parked(_ id: UInt64) async -> WaitResult {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let decided = self.shared.withLock { shared -> WaitResult? in
                    if let decided = shared.early.removeValue(forKey: id) { return decided }
                    shared.continuations[id] = continuation
                    return nil
                }
                if let decided { continuation.resume(returning: decided) }
            }
        } onCancel: {
            self.abandon(id, with: .cancelled)
        }
    }

    private func abandon(_ id: UInt64, with result: WaitResult) {
        let abandoned = shared.withLock { shared -> CheckedContinuation<WaitResult, Never>? in
            guard shared.admission.abandon(id: id) else { return nil }
            return Self.decide(id, result, in: &shared)
        }
        abandoned?.resume(returning: result)
    }

    /// Decides waiter `id`'s outcome: returns its parked continuation, for the caller to resume
    /// once it has left the lock, or keeps `result` for it if it has not parked yet.
    ///
    /// Never resume under the lock: resuming takes the waiting task's own lock, which a cancel of
    /// that task holds while its cancellation handler waits for this one (`abandon`), and the
    /// two would wait for each other for good (a worker froze so when a prefetched task's deadline
    /// passed just as a slot freed).
    private static func decide(_ id: UInt64, _ result: WaitResult, in shared: inout Shared) -> CheckedContinuation<WaitResult, Never>? {
        if let continuation = shared.continuations.removeValue(forKey: id) { return continuation }
        shared.early[id] = result
        return nil
    }

    private func full(_ detail: String) -> ErrorContext {
        ErrorContext(code: .bulkheadFull, message: "bulkhead '\(name)' is full: \(detail); retry later or raise its limits")
    }
}
