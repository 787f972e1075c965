import Clocks
import Logging
import PhalanxResilience
import Synchronization

/// Waits (by yielding, never by sleeping) until `condition` holds; fails the wait after many tries.
func eventually(_ what: String, tries: Int = 200_000, _ condition: () -> Bool) async throws {
    for _ in 0..<tries {
        if condition() { return }
        await Task.yield()
    }
    throw WaitError(what: what)
}

/// Waits until at least one task sleeps on `clock`, so that advancing it wakes somebody.
func waitForSleeper(on clock: TestClock<Duration>) async throws {
    for _ in 0..<1_000 {
        // checkSuspension throws exactly when some task is sleeping on the clock.
        do { try await clock.checkSuspension() } catch { return }
        await Task.yield()
    }
    throw WaitError(what: "a task sleeping on the test clock")
}

struct WaitError: Error, CustomStringConvertible {
    let what: String
    var description: String { "gave up waiting for \(what)" }
}

/// A deterministic source of uniform draws in [0, 1) (SplitMix64).
final class SeededRandom: Sendable {
    private let state: Mutex<UInt64>

    init(seed: UInt64) { state = Mutex(seed) }

    func next() -> Double {
        state.withLock { state in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 11) / Double(UInt64(1) << 53)
        }
    }
}

struct SystemFailure: ClassifiedError {
    var code: ErrorCode { .unavailable }
    var failureClass: FailureClass { .system }
    var message: String { "dependency down" }
}

struct BusinessFailure: ClassifiedError {
    var code: ErrorCode { .businessRejected }
    var failureClass: FailureClass { .business }
    var message: String { "insufficient funds" }
}

struct PlainError: Error, CustomStringConvertible {
    var description: String { "disk on fire" }
}

/// A value shared between test tasks behind a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// A logger that drops everything, so tests print only their results.
let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
