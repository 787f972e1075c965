import Logging
import PhalanxCore
import PhalanxResilience
import PhalanxWire

/// The participant's side of registered resources (TCC): it runs their hooks when the machine
/// asks, off the actor, and reports back. Commit, abort and compensate hooks are retried with
/// backoff until they return. No hook starts while an audit reads the store and the resources.
extension Participant {
    /// The hook that applies a decision to a resource.
    private enum FinishHook: String {
        case commit, compensate, abort

        func run(on resource: any TransactionalResource, _ transaction: ResourceTransaction) async throws {
            switch self {
            case .commit: try await resource.commit(transaction)
            case .compensate: try await resource.compensate(transaction)
            case .abort: try await resource.abort(transaction)
            }
        }
    }

    /// Backoff between attempts of a commit, abort or compensate hook that threw.
    static let hookRetry = RetryPolicy(maxAttempts: .max, initialBackoff: .milliseconds(100), maxBackoff: .seconds(5), multiplier: 2, jitter: .equal)

    /// `operations` by resource (compensations apart: another hook), in the order the
    /// transaction names them.
    private func byResource(_ operations: [ResourceOperation]) -> [(name: String, resource: (any TransactionalResource)?, operations: [ResourceOperation])] {
        struct Group: Hashable {
            var resource: String
            var compensating: Bool
        }
        var order: [Group] = []
        var grouped: [Group: [ResourceOperation]] = [:]
        for operation in operations {
            let group = Group(resource: operation.resource, compensating: operation.compensating)
            if grouped[group] == nil { order.append(group) }
            grouped[group, default: []].append(operation)
        }
        return order.map { group in (group.resource, resources[group.resource], grouped[group] ?? []) }
    }

    /// Runs the prepare hooks of `id`, one resource after the other. At the vote deadline they are
    /// cancelled (a hook that honours cancellation returns, and the vote is NO); either way the
    /// result is reported only once every hook has returned, so an abort never overtakes one.
    func runPrepareHooks(_ id: String, _ operations: [ResourceOperation]) {
        let groups = byResource(operations)
        let node = node
        let hooks = Task {
            var refusal: ErrorContext?
            for (name, resource, operations) in groups {
                guard let resource else {  // checked when the PREPARE arrived; the intent may come from an earlier process
                    refusal = ErrorContext(code: .invalidArgument, message: "\(node) has no resource named \(name)", originNode: node)
                    break
                }
                guard await self.hookPermit() else { return }
                do {
                    try Task.checkCancellation()
                    try await resource.prepare(ResourceTransaction(id: id, operations: operations))
                } catch let refused as ResourceRefusal {
                    refusal = ErrorContext(code: .businessRejected, message: "resource \(resource.name) on \(node): \(refused.message)", originNode: node)
                } catch where Task.isCancelled {
                    refusal = ErrorContext(
                        code: .deadlineExceeded, message: "the prepare hook of resource \(resource.name) on \(node) did not return before the vote deadline",
                        originNode: node)
                } catch {
                    refusal = ErrorContext(
                        code: .unavailable, message: "the prepare of resource \(resource.name) on \(node) failed: \(error); retry the transaction",
                        failureClass: .system, originNode: node)
                }
                self.hookDone()
                if refusal != nil { break }
            }
            self.preparedResources(id, refusal: refusal)
        }
        if let deadline = machine.prepared[id]?.voteDeadlineUnixMilliseconds, deadline > 0 {
            let wait = max(0, deadline - WireTime.nowUnixMilliseconds())
            Task {
                try? await Task.sleep(for: .milliseconds(wait))
                hooks.cancel()
            }
        }
    }

    private func preparedResources(_ id: String, refusal: ErrorContext?) {
        guard !closed else { return }  // the next session reads the intent back and asks
        if refusal == nil { Failpoints.hit("participant.after_resource_prepared", context: id) }
        perform(machine.resourcesPrepared(id, refusal: refusal))
    }

    func runFinishHooks(_ id: String, commit: Bool, _ operations: [ResourceOperation]) {
        let groups = byResource(operations)
        let logger = logger
        Task {
            for (name, resource, operations) in groups {
                let transaction = ResourceTransaction(id: id, operations: operations)
                let hook = !commit ? FinishHook.abort : operations.first?.compensating == true ? .compensate : .commit
                var attempt = 1
                while true {
                    guard await self.hookPermit() else { return }
                    do {
                        guard let resource else {
                            throw ResourceRefusal("resource \(name) is not registered on this worker; the decision waits until a worker process registers it")
                        }
                        try await hook.run(on: resource, transaction)
                        self.hookDone()
                        break
                    } catch {
                        self.hookDone()
                        let delay = Self.hookRetry.backoff(beforeRetry: attempt, previous: .zero, random: Double.random(in: 0..<1))
                        logger.warning(
                            "a resource hook failed; it is tried again (the transaction stays prepared, its keys locked)",
                            metadata: ["transaction": "\(id)", "resource": "\(name)", "hook": "\(hook)", "attempt": "\(attempt)", "error": "\(error)"])
                        attempt += 1
                        guard (try? await Task.sleep(for: delay)) != nil else { return }
                    }
                }
            }
            self.finishedResources(id, commit: commit)
        }
    }

    private func finishedResources(_ id: String, commit: Bool) {
        guard !closed else { return }  // still prepared on disk: the next session applies the decision again
        if commit { Failpoints.hit("participant.after_resource_committed", context: id) }
        perform(machine.resourcesFinished(id))
    }

    /// Waits while an audit reads the store; false once the participant is closed.
    private func hookPermit() async -> Bool {
        while paused != nil, !closed { await withCheckedContinuation { hooksWaitingForResume.append($0) } }
        guard !closed else { return false }
        hooksInFlight += 1
        return true
    }

    private func hookDone() {
        hooksInFlight -= 1
        if hooksInFlight == 0 { Self.resumeAll(&hooksWaitingForIdle) }
    }

    static func resumeAll(_ waiters: inout [CheckedContinuation<Void, Never>]) {
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.resume() }
    }

    /// How long closing waits for hooks that are running.
    static let hookCloseGrace: Duration = .seconds(10)

    /// Closing stops waiting for hooks that did not return within ``hookCloseGrace``.
    func stopWaitingForHooks() {
        guard hooksInFlight > 0 else { return }
        logger.warning(
            "resource hooks did not return within the grace; the session closes without them (they must be idempotent: the next session may run them again)",
            metadata: ["running": "\(hooksInFlight)"])
        Self.resumeAll(&hooksWaitingForIdle)
    }

    /// Lets the hooks that waited for an audit start.
    func resumeHooks() { Self.resumeAll(&hooksWaitingForResume) }

    /// Each resource's audit report (a resource whose audit throws reports that as a problem).
    func resourceReports() async -> [ResourceAuditReport]? {
        guard !resources.isEmpty else { return nil }
        var reports: [ResourceAuditReport] = []
        for (name, resource) in resources.sorted(by: { $0.key < $1.key }) {
            do {
                var report = try await resource.audit()
                report.resource = name
                reports.append(report)
            } catch {
                reports.append(ResourceAuditReport(resource: name, reserved: [], problems: ["its audit failed: \(error)"]))
            }
        }
        return reports
    }
}
