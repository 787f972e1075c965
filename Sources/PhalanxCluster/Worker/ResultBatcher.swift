import NIOCore
import PhalanxWire

/// Collects finished results and sends them in batches without adding latency: a batch goes out
/// when it is full, or as soon as no other task is still running (nothing more would join it),
/// and otherwise after the tasks finishing at the same moment have reported.
actor ResultBatcher {
    private let channel: any Channel
    private let batchSize: Int
    private var pending: [Phalanx_V1_TaskResult] = []
    private var running = 0
    private var flushScheduled = false

    init(channel: any Channel, batchSize: Int) {
        self.channel = channel
        self.batchSize = batchSize
    }

    /// A task started; its result will come through ``add(_:)``.
    func started(_ count: Int) {
        running += count
    }

    func add(_ result: Phalanx_V1_TaskResult) {
        running -= 1
        pending.append(result)
        if pending.count >= batchSize || running == 0 {
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
        channel.writeAndFlush(Phalanx_V1_Envelope.results(pending), promise: nil)
        pending.removeAll(keepingCapacity: true)
    }
}
