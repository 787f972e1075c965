import PhalanxResilience

extension CoordinatorMachine {
    /// A task failed for a system reason with attempts left: it waits out a backoff (exponential,
    /// with the policy's jitter), then goes back to the head of its queue, preferring another
    /// worker than the one that failed it. Business failures never come here.
    mutating func scheduleRetry(
        _ number: TaskNumber, after failure: FailedAttempt<Output>, from worker: ConnectionID, now: Duration, into outbox: inout Outbox
    ) {
        guard let record = tasks[number] else { return }
        let draw = Double(random.next() >> 11) / Double(1 << 53)
        // Only reported failures count: lost attempts are re-run without a backoff.
        let backoff = settings.retry.backoff(beforeRetry: Int(record.reportedFailures) + 1, previous: record.lastBackoff, random: draw)
        recordEarlierAttempt(number, failure, into: &outbox)
        tasks[number]!.avoid = worker
        tasks[number]!.lastBackoff = backoff
        tasks[number]!.placement = .retrying(at: now + backoff)
        retryingCount += 1
        counters.retried += 1
        retries.insert(number, deadline: now + backoff)
    }

    /// `count` tasks of `kind` started their first attempt: the kind's retry budget grows.
    mutating func recordFirstAttempts(_ count: Int, of kind: String, now: Duration) {
        if retryBudgets[kind] == nil { retryBudgets[kind] = newRetryBudget() }
        retryBudgets[kind]!.recordCall(at: now, count: count)
    }

    /// Takes a retry from `kind`'s budget; false when it is spent (the failure then stands). A kind
    /// with no first attempts in this process (a task restored after a restart) still has the
    /// budget's floor.
    mutating func withdrawRetry(of kind: String, now: Duration) -> Bool {
        if retryBudgets[kind] == nil { retryBudgets[kind] = newRetryBudget() }
        guard retryBudgets[kind]!.withdrawRetry(at: now) else {
            counters.retriesRefusedByBudget += 1
            return false
        }
        return true
    }

    private func newRetryBudget() -> RetryBudgetState {
        let budget = settings.retryBudget
        return RetryBudgetState(ratio: budget.ratio, minimumRetriesPerWindow: budget.minimumPerWindow, window: budget.window)
    }

    /// Retries whose backoff is over go back to the head of their queues.
    mutating func requeueDueRetries(now: Duration) {
        for number in retries.popExpired(at: now) {
            guard let record = tasks[number], case .retrying = record.placement else { continue }  // finished meanwhile
            retryingCount -= 1
            requeueAtHead(number)
        }
    }
}
