import NIOCore
import PhalanxResilience
import PhalanxTransport
import PhalanxWire

/// One worker connection's state: which attempts run, which were handed back, and the results
/// waiting to be sent.
///
/// Results go out in batches without adding latency: a batch is flushed when it is full, or as
/// soon as no other task is still running (nothing more would join it), and otherwise once the
/// tasks finishing at about the same moment have reported (``flushSoon()``). Every batch is cut to the coordinator's
/// frame limit; a result too large for any frame is replaced by an error saying so.
actor WorkerSession {
    private let link: any PeerLink
    private let batchSize: Int
    private let worker: String
    private var pending: [Phalanx_V1_TaskResult] = []
    private var running: [UInt64: UInt32] = [:]  // dispatch id → attempt
    /// The running handlers, for cancellation (a lock: registering one is not an actor hop).
    nonisolated let handlers = HandlerRegistry()
    private var flushScheduled = false
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    private(set) var isDraining = false

    init(link: any PeerLink, batchSize: Int, worker: String) {
        self.link = link
        self.batchSize = batchSize
        self.worker = worker
    }

    var runningCount: Int { running.count }

    /// These attempts start (one hop for a whole dispatch batch); each result comes through ``finished(_:)``.
    func started(_ assignments: [Phalanx_V1_Assignment]) {
        for assignment in assignments { running[assignment.dispatchID] = assignment.attempt }
    }

    /// The coordinator cancelled these attempts: their handlers are cancelled (they report as usual).
    /// Returns how many were running here.
    @discardableResult
    func cancel(_ references: [Phalanx_V1_TaskRef]) -> Int {
        let found = references.filter { running[$0.dispatchID] == $0.attempt }.map(\.dispatchID)
        handlers.cancel(found)
        return found.count
    }

    /// An attempt ended. A result of an attempt that was handed back is not sent.
    /// An attempt ended: its result is sent (soon). False when the attempt is not running here any
    /// more (handed back, or cancelled by the end of the connection): nothing is sent.
    @discardableResult
    func finished(_ result: Phalanx_V1_TaskResult) -> Bool {
        guard running.removeValue(forKey: result.dispatchID) != nil else { return false }
        pending.append(result)
        if pending.count >= batchSize || running.isEmpty {
            flush()
        } else if !flushScheduled {
            flushScheduled = true
            Task { await self.flushSoon() }
        }
        if running.isEmpty { resumeIdleWaiters() }
        return true
    }

    /// Tells the coordinator this worker takes no more work; running attempts may finish within `grace`.
    func beginDraining(grace: Duration) {
        guard !isDraining else { return }
        isDraining = true
        var draining = Phalanx_V1_Draining()
        draining.graceMs = UInt32(clamping: grace.wholeMilliseconds)
        link.write(Phalanx_V1_Envelope(.draining(draining)))
        link.flush()
    }

    /// Returns attempts to the coordinator without running them (they arrived while draining).
    func handBack(_ assignments: [Phalanx_V1_Assignment]) {
        sendHandBack(assignments.map { Phalanx_V1_TaskRef(dispatchID: $0.dispatchID, attempt: $0.attempt) })
    }

    /// Sends `references` back in as many HandBack frames as the coordinator's frame limit needs
    /// (a worker holding 100,000 prefetched tasks hands back more than one small frame holds).
    private func sendHandBack(_ references: [Phalanx_V1_TaskRef]) {
        let frames = Phalanx_V1_TaskRef.frames(references, maximumFrameBytes: link.peer.maximumFrameBytes) { chunk in
            var handBack = Phalanx_V1_HandBack()
            handBack.tasks = chunk
            return Phalanx_V1_Envelope(.handBack(handBack))
        }
        for frame in frames { link.write(frame) }
        link.flush()
    }

    /// Hands back the attempts that wait for a slot (prefetched) and have not started: on a drain
    /// they run elsewhere at once rather than after the running ones. Returns how many.
    func handBackWaiting() -> Int {
        let references = handlers.takeWaiting().compactMap { dispatchID -> Phalanx_V1_TaskRef? in
            running.removeValue(forKey: dispatchID).map { Phalanx_V1_TaskRef(dispatchID: dispatchID, attempt: $0) }
        }
        if running.isEmpty { resumeIdleWaiters() }
        guard !references.isEmpty else { return 0 }
        sendHandBack(references)
        return references.count
    }

    /// Hands back every attempt still running; their results, if they come, are not sent.
    /// Returns how many were handed back.
    func handBackRunning() -> Int {
        flush()
        let references = running.map { Phalanx_V1_TaskRef(dispatchID: $0.key, attempt: $0.value) }
        running.removeAll()
        guard !references.isEmpty else { return 0 }
        sendHandBack(references)
        return references.count
    }

    /// Returns when nothing runs any more.
    func waitUntilIdle() async {
        guard !running.isEmpty else { return }
        await withCheckedContinuation { idleWaiters.append($0) }
    }

    private func resumeIdleWaiters() {
        for waiter in idleWaiters { waiter.resume() }
        idleWaiters.removeAll()
    }

    /// Flushes once a yield passes with no new result (or the batch is full, or after 16 yields):
    /// tasks of one dispatch batch finish close together, and each result that joins a batch
    /// saves the coordinator a frame to read and the worker one to write.
    private func flushSoon() async {
        var (seen, yields) = (0, 0)
        while yields < 16, !pending.isEmpty, pending.count != seen, pending.count < batchSize {
            (seen, yields) = (pending.count, yields + 1)
            await Task.yield()
        }
        flush()
    }

    private func flush() {
        flushScheduled = false
        guard !pending.isEmpty else { return }
        let maximumFrameBytes = link.peer.maximumFrameBytes
        // Serialized one by one (each sized once), and cut by those exact sizes.
        let serialized = pending.map { (result: $0, bytes: BatchFrame.serialized($0)) }
        let (chunks, oversized) = FrameBudget.chunks(serialized, maximumFrameBytes: maximumFrameBytes) {
            $0.bytes.count + BatchFrame.perElementOverheadBytes
        }
        for chunk in chunks { link.write(frame: BatchFrame.results(chunk.map(\.bytes))) }
        if !oversized.isEmpty {
            let replaced = oversized.map { (original, bytes) -> Phalanx_V1_TaskResult in
                var result = original
                result.error = ErrorContext(
                    code: .invalidArgument,
                    message: "the handler's result (\(bytes.count) bytes) is larger than the largest frame the coordinator accepts (\(maximumFrameBytes) bytes); return less, or store large outputs elsewhere and return a reference",
                    failureClass: .business, originNode: worker, taskID: original.taskID, attempt: Int(original.attempt)
                ).wire
                return result
            }
            link.write(Phalanx_V1_Envelope.results(replaced))
        }
        link.flush()
        pending.removeAll(keepingCapacity: true)
    }
}
