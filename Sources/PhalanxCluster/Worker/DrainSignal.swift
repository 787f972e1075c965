/// A one-shot signal that a worker should drain and stop: raised by graceful shutdown (SIGTERM,
/// SIGINT) or by the coordinator's Drain message (`phalanx drain WORKER`).
actor DrainSignal {
    private var reason: String?
    private var waiters: [UInt64: CheckedContinuation<String?, Never>] = [:]
    private var cancelledWaiters: Set<UInt64> = []
    private var nextWaiter: UInt64 = 0

    var isRaised: Bool { reason != nil }

    func raise(_ reason: String) {
        guard self.reason == nil else { return }
        self.reason = reason
        for waiter in waiters.values { waiter.resume(returning: reason) }
        waiters.removeAll()
    }

    /// Returns the reason once the signal is raised, or nil if the waiting task is cancelled first.
    func wait() async -> String? {
        if let reason { return reason }
        nextWaiter += 1
        let id = nextWaiter
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if cancelledWaiters.remove(id) != nil {
                    continuation.resume(returning: nil)
                } else {
                    waiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        if let waiter = waiters.removeValue(forKey: id) {
            waiter.resume(returning: nil)
        } else {
            cancelledWaiters.insert(id)  // cancelled before it parked: it resumes at once when it does
        }
    }
}
