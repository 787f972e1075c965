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
        var seen = Set<String>()
        for taskID in taskIDs where seen.insert(taskID).inserted {
            let key = TaskKey(client: client.identity.name, taskID: taskID)
            // A resubmission's id cancels its original; a child task is its parent's to end, not a client's.
            guard let number = taskByKey[key] ?? aliasOf[key], tasks[number]?.body.parent == nil else {
                notRunning.append(taskID)
                continue
            }
            cancelled.append(taskID)
            // Its children, and theirs, are cancelled with it, wherever they run.
            cancelTask(number, "cancelled by \(client.identity.name)", now: now, into: &outbox)
        }
        if !cancelled.isEmpty {
            outbox.actions.append(.log(CoordinatorLogEntry(
                .info, "tasks cancelled by their client",
                ["client": client.identity.name, "tasks": "\(cancelled.count)", "stopping": "\(outbox.stops.values.map(\.count).reduce(0, +))"])))
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
