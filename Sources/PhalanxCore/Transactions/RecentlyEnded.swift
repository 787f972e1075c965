/// A value that knows about how many bytes it takes in memory.
protocol EstimatedSize {
    var estimatedBytes: Int { get }
}

/// The last `capacity` ended transactions or sagas, by id, taking at most `maximumBytes`
/// together (the newest one is kept whatever its size); the oldest are forgotten first. A repeated
/// request for one forgotten is answered from the decision log or the compensation log.
struct RecentlyEnded<Value: Sendable & EstimatedSize>: Sendable {
    let capacity: Int
    let maximumBytes: Int
    private var values: [String: (value: Value, bytes: Int)] = [:]
    private var order: [String] = []
    private var head = 0
    private(set) var bytes = 0

    init(capacity: Int, maximumBytes: Int = .max) {
        self.capacity = capacity
        self.maximumBytes = maximumBytes
    }

    var count: Int { values.count }

    subscript(id: String) -> Value? {
        get { values[id]?.value }
        set {
            if let old = values.removeValue(forKey: id) {
                bytes -= old.bytes
                order.removeAll { $0 == id }  // rare: one replaced or forgotten on purpose
                head = min(head, order.count)
            }
            guard let newValue else { return }
            let size = newValue.estimatedBytes
            values[id] = (newValue, size)
            order.append(id)
            bytes += size
            while order.count - head > capacity || (bytes > maximumBytes && order.count - head > 1) {
                if let evicted = values.removeValue(forKey: order[head]) { bytes -= evicted.bytes }
                head += 1
            }
            if head >= 1_024, head * 2 >= order.count {
                order.removeFirst(head)
                head = 0
            }
        }
    }
}
