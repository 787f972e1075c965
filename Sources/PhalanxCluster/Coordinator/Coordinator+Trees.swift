import PhalanxCore
import PhalanxResilience
import PhalanxWire

/// Task trees in the shell: a worker's request to start children, and their results on the way
/// back to the attempt that started them.
extension Coordinator {
    func spawn(_ request: Phalanx_V1_SpawnChildren, from id: ConnectionID, now: Duration) {
        let nowUnix = WireTime.nowUnixMilliseconds()
        let children = request.children.map { submittedTask(tracing($0), now: now, nowUnix: nowUnix) }
        let policy: ChildPolicy = request.policy == .all ? .all : .failFast
        perform(machine.spawn(
            from: id, requestID: request.requestID, parent: request.parentDispatchID, attempt: request.parentAttempt, children: children,
            policy: policy, now: now))
    }

    /// Sends finished children to their parent's worker, one ChildResults frame (or more, cut by
    /// bytes) per parent attempt; each result carries the child's name as its task id.
    func deliverToParent(_ results: [ChildResult<Phalanx_V1_TaskResult>], to id: ConnectionID, touched: inout Set<ConnectionID>) {
        var byParent: [(parent: TaskNumber, attempt: UInt32, results: [Phalanx_V1_TaskResult])] = []
        for child in results {
            var result = Self.clientResult(child.delivery)
            result.taskID = child.name
            if let index = byParent.firstIndex(where: { $0.parent == child.parent && $0.attempt == child.parentAttempt }) {
                byParent[index].results.append(result)
            } else {
                byParent.append((child.parent, child.parentAttempt, [result]))
            }
        }
        for group in byParent {
            send(group.results, to: id, touched: &touched) { chunk in
                var frame = Phalanx_V1_ChildResults()
                frame.parentDispatchID = group.parent
                frame.parentAttempt = group.attempt
                frame.results = chunk
                return Phalanx_V1_Envelope(.childResults(frame))
            }
        }
    }
}
