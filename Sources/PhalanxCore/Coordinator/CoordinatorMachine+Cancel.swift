import PhalanxResilience

extension CoordinatorMachine {
    /// A client cancels tasks submitted under its certificate name. A queued task finishes
    /// `CANCELLED` at once, without running. A running task's worker is told to stop the attempt;
    /// its result (normally `CANCELLED`) is accepted as usual, and if the worker is lost first the
    /// task finishes `CANCELLED` instead of running again.
    public mutating func cancel(from connection: ConnectionID, requestID: UInt64, taskIDs: [String], now: Duration) -> [Action] {
        guard let client = clients[connection] else { return [] }
        if let refusal = refusalOfTooManyIDs(taskIDs.count, in: "cancel", from: connection) { return refusal }
        var outbox = Outbox()
        var cancelled: [String] = []
        var notRunning: [String] = []
        var stops: [ConnectionID: [(task: TaskNumber, attempt: UInt32)]] = [:]
        var seen = Set<String>()
        for taskID in taskIDs where seen.insert(taskID).inserted {
            guard let number = taskByKey[TaskKey(client: client.identity.name, taskID: taskID)], let record = tasks[number] else {
                notRunning.append(taskID)
                continue
            }
            cancelled.append(taskID)
            switch record.placement {
            case .queued, .retrying:
                let message = record.attempt == 0
                    ? "the task was cancelled by \(client.identity.name) before it ran; it was not run"
                    : "the task was cancelled by \(client.identity.name) while it waited to run again after \(record.attempt) attempt(s); it is not run again"
                finishWithFailure(number, taskError(.cancelled, message, for: record), worker: nil, now: now, into: &outbox)
            case .running(let worker, _, _):
                guard !record.cancelRequested else { continue }
                tasks[number]!.cancelRequested = true
                outbox.changes.append(.cancelRequested(record.key))
                stops[worker, default: []].append((number, record.attempt))
            }
        }
        for (worker, attempts) in stops.sorted(by: { $0.key < $1.key }) {
            outbox.actions.append(.cancelAttempts(worker, attempts))
        }
        if !cancelled.isEmpty {
            outbox.actions.append(.log(CoordinatorLogEntry(
                .info, "tasks cancelled by their client", ["client": client.identity.name, "tasks": "\(cancelled.count)", "running": "\(stops.values.map(\.count).reduce(0, +))"])))
        }
        outbox.actions.append(.cancelReply(connection, requestID: requestID, cancelled: cancelled, notRunning: notRunning))
        return finish(&outbox, now: now)
    }

    /// Closes a connection whose `kind` request names more than `TaskLimits.maximumTaskIDsPerRequest` ids; nil if it does not.
    func refusalOfTooManyIDs(_ count: Int, in kind: String, from connection: ConnectionID) -> [Action]? {
        guard count > TaskLimits.maximumTaskIDsPerRequest else { return nil }
        return [.close(connection, ErrorContext(
            code: .invalidArgument,
            message: "a \(kind) request named \(count) tasks; at most \(TaskLimits.maximumTaskIDsPerRequest) per request",
            originNode: settings.nodeName))]
    }
}
