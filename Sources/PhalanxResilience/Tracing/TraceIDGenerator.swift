/// A fast, non-cryptographic random source for trace and span ids (SplitMix64), and for other
/// draws that need not be secret (the bank workload's accounts and amounts).
///
/// Ids need to be unique, not secret; the system generator costs a system call per draw on Linux,
/// which shows on a path that makes ids for every task. Seed one per batch or per connection.
public struct TraceIDGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator seeded from the system's random source (one draw).
    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    /// A generator with a fixed seed (for tests).
    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
