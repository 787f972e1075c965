import Synchronization

/// The running handlers of one worker connection, by dispatch id, so that the coordinator can
/// cancel one, and which of them still wait for a slot (prefetched), so that a drain can hand
/// those back at once. Each handler runs in its own child task of the connection's task group
/// and registers that task here while it runs; a lock, not an actor, so that starting and ending
/// a task adds no hop on the hot path.
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
        /// Registered, and not yet admitted to a slot (``admit(_:)``).
        var waiting: Set<UInt64> = []
        /// Taken back while waiting (``takeWaiting()``): they must not start.
        var takenBack: Set<UInt64> = []
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
                state.waiting.insert(dispatchID)
                return false
            }
            if cancelNow { handle.task.cancel() }
        }
        let result = await body()
        state.withLock { state in
            state.handlers[dispatchID] = nil
            state.cancelledEarly.remove(dispatchID)
            state.waiting.remove(dispatchID)
            state.takenBack.remove(dispatchID)
        }
        return result
    }

    /// The handler of `dispatchID` got its slot and is about to start; false if it was taken back
    /// while it waited (it must not start).
    func admit(_ dispatchID: UInt64) -> Bool {
        state.withLock { state in
            state.waiting.remove(dispatchID)
            return !state.takenBack.contains(dispatchID)
        }
    }

    /// Takes back every handler that has not been admitted to a slot yet, and cancels it: none of
    /// them will start. Returns their dispatch ids.
    func takeWaiting() -> [UInt64] {
        state.withLock { state in
            let taken = Array(state.waiting)
            state.waiting.removeAll()
            for dispatchID in taken {
                state.takenBack.insert(dispatchID)
                state.handlers[dispatchID]?.task.cancel()
            }
            return taken
        }
    }

    /// Cancels the handlers of `dispatchIDs` (one that has not registered yet, as soon as it does).
    /// Those still waiting for a slot are cancelled first: a running one cancelled first could free
    /// its slot for one of them, which would then start only to be cancelled.
    func cancel(_ dispatchIDs: [UInt64]) {
        state.withLock { state in
            let waiting = dispatchIDs.filter { state.waiting.contains($0) }
            let others = dispatchIDs.filter { !state.waiting.contains($0) }
            for dispatchID in waiting + others {
                if let handle = state.handlers[dispatchID] {
                    handle.task.cancel()  // under the lock: the task cannot forget itself and end meanwhile
                } else {
                    state.cancelledEarly.insert(dispatchID)
                }
            }
        }
    }
}
