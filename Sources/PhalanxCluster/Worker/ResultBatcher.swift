import NIOCore
import PhalanxWire

/// Collects finished results and sends them in batches: a flush goes out when the batch is full
/// or, at the latest, once the tasks finishing at the same moment have all reported.
actor ResultBatcher {
    private let channel: any Channel
    private let batchSize: Int
    private var pending: [Phalanx_V1_TaskResult] = []
    private var flushScheduled = false

    init(channel: any Channel, batchSize: Int) {
        self.channel = channel
        self.batchSize = batchSize
    }

    func add(_ result: Phalanx_V1_TaskResult) {
        pending.append(result)
        if pending.count >= batchSize {
            flush()
        } else if !flushScheduled {
            flushScheduled = true
            Task { await self.flushSoon() }
        }
    }

    private func flushSoon() async {
        await Task.yield()
        flush()
    }

    private func flush() {
        flushScheduled = false
        guard !pending.isEmpty else { return }
        var batch = Phalanx_V1_ResultBatch()
        batch.results = pending
        pending.removeAll(keepingCapacity: true)
        var envelope = Phalanx_V1_Envelope()
        envelope.body = .results(batch)
        channel.writeAndFlush(envelope, promise: nil)
    }
}
