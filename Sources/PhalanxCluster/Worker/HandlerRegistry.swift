import Synchronization

/// The running handlers of one worker connection, by dispatch id, so that the coordinator can
/// cancel one. Each handler runs in its own child task of the connection's task group and
/// registers that task here while it runs; a lock, not an actor, so that starting and ending a
/// task adds no hop on the hot path.
///
/// The registry holds `UnsafeCurrentTask`s. That is sound here because a task registers itself
/// and forgets itself before it ends, and `cancel` and `forget` take the same lock: a cancel can
/// never reach a task that has finished.
final class HandlerRegistry: Sendable {
    /// A running handler's task (see the type's comment for why holding it is sound).
    private struct Handle: @unchecked Sendable {
        let task: UnsafeCurrentTask
    }

    private struct State {
        var handlers: [UInt64: Handle] = [:]
        /// Cancelled before their handler was registered.
        var cancelledEarly: Set<UInt64> = []
    }

    private let state = Mutex(State())

    /// Runs `body` as the handler of attempt `dispatchID`, cancellable through ``cancel(_:)``.
    func run<T>(_ dispatchID: UInt64, _ body: () async -> T) async -> T {
        withUnsafeCurrentTask { task in
            guard let task else { return }
            let handle = Handle(task: task)
            let cancelNow = state.withLock { state in
                if state.cancelledEarly.remove(dispatchID) != nil { return true }
                state.handlers[dispatchID] = handle
                return false
            }
            if cancelNow { handle.task.cancel() }
        }
        let result = await body()
        state.withLock { state in
            state.handlers[dispatchID] = nil
            state.cancelledEarly.remove(dispatchID)
        }
        return result
    }

    /// Cancels the handler of `dispatchID` (or, if it has not registered yet, as soon as it does).
    func cancel(_ dispatchID: UInt64) {
        state.withLock { state in
            if let handle = state.handlers[dispatchID] {
                handle.task.cancel()  // under the lock: the task cannot forget itself and end meanwhile
            } else {
                state.cancelledEarly.insert(dispatchID)
            }
        }
    }
}
