// Per-call overhead of the resilience guards on the success path, uncontended and with 2 threads.
import Benchmark
import PhalanxResilience

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    let clock = ContinuousClock()

    Benchmark("baseline: empty async call") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(await noop()) }
    }

    Benchmark("breaker.run") { benchmark in
        let breaker = try CircuitBreaker(name: "bench", clock: clock)
        for _ in benchmark.scaledIterations { blackHole(try await breaker.run { await noop() }) }
    }

    Benchmark("bulkhead acquire/release") { benchmark in
        let bulkhead = try Bulkhead(name: "bench", clock: clock)
        for _ in benchmark.scaledIterations { blackHole(try await bulkhead.run { await noop() }) }
    }

    Benchmark("retrier.run (no failures)") { benchmark in
        let retrier = try Retrier(clock: clock)
        for _ in benchmark.scaledIterations { blackHole(try await retrier.run { _ in await noop() }) }
    }

    Benchmark("breaker.run, 2 threads") { benchmark in
        let breaker = try CircuitBreaker(name: "bench", clock: clock)
        try await onTwoTasks(benchmark) { try await breaker.run { await noop() } }
    }

    Benchmark("bulkhead acquire/release, 2 threads") { benchmark in
        let bulkhead = try Bulkhead(name: "bench", configuration: .init(maxConcurrentCalls: 4), clock: clock)
        try await onTwoTasks(benchmark) { try await bulkhead.run { await noop() } }
    }

    Benchmark("retrier.run (no failures), 2 threads") { benchmark in
        let retrier = try Retrier(clock: clock)
        try await onTwoTasks(benchmark) { try await retrier.run { _ in await noop() } }
    }
}

@inline(never)
func noop() async -> Int { 1 }

/// Splits the benchmark's iterations over two concurrent tasks (one per core here).
func onTwoTasks(_ benchmark: Benchmark, _ call: @escaping @Sendable () async throws -> Int) async throws {
    let half = benchmark.scaledIterations.count / 2
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<2 {
            group.addTask { for _ in 0..<half { blackHole(try await call()) } }
        }
        try await group.waitForAll()
    }
}
