/// What the coordinator knows of one registered worker.
public struct WorkerSlot: Sendable, Hashable {
    public let name: String
    public let capacity: Int
    public let kinds: Set<String>
    public internal(set) var inFlight: Int = 0
    public internal(set) var finished: Int = 0

    public init(name: String, capacity: Int, kinds: Set<String>) {
        self.name = name
        self.capacity = capacity
        self.kinds = kinds
    }

    /// Free slots now.
    public var freeCapacity: Int { max(0, capacity - inFlight) }

    /// Load as a fraction of capacity, for least-loaded selection.
    var load: Double { Double(inFlight) / Double(max(1, capacity)) }
}
