import ArgumentParser
import Foundation
import PhalanxClient

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure no-op (echo, 64-byte payload) throughput with batching and sequential round-trip latency against a running cluster.",
        discussion: "A benchmark, not a test: run it on an idle machine and compare runs made together.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Option(help: "Tasks for the throughput run.")
    var tasks: Int = 200_000

    @Option(help: "Tasks kept in flight during the throughput run (submitted in batches of 1000).")
    var window: Int = 20_000

    @Option(help: "Round trips for the latency run (one task at a time).")
    var roundTrips: Int = 2_000

    /// Tasks per submit during the throughput run.
    static let batch = 1_000

    func validate() throws {
        guard (1...100_000_000).contains(tasks) else { throw ValidationError("--tasks must be 1 to 100000000, got \(tasks)") }
        guard (1...1_000_000).contains(window) else { throw ValidationError("--window must be 1 to 1000000, got \(window)") }
        guard (1...10_000_000).contains(roundTrips) else { throw ValidationError("--round-trips must be 1 to 10000000, got \(roundTrips)") }
    }

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config)
        // The bench does next to nothing between calls: it runs on the connection's loop, so each
        // reply resumes it without a thread hop (as any latency-sensitive client can).
        try await withTaskExecutorPreference(connection.executor) { try await measure(connection) }
    }

    private func measure(_ connection: PhalanxClient) async throws {
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 64)
        let prefix = "bench-\(UInt32.random(in: 0...UInt32.max))"

        // Warm-up.
        _ = try await connection.run((0..<2_000).map { TaskRequest(taskID: "\(prefix)-w\($0)", kind: "echo", payload: payload) })

        // Throughput: keep `window` tasks in flight, topping up in batches of `batch` as the
        // oldest batch finishes (not submitting a window and draining it, which idles the
        // cluster at every window's tail).
        let started = ContinuousClock.now
        var failed = 0
        var submitted = 0
        var completed = 0
        var inFlight: [[String]] = []  // task ids, one entry per submitted batch, oldest first
        while completed < tasks {
            while submitted < tasks, submitted - completed < window {
                let chunk = min(Self.batch, tasks - submitted, window - (submitted - completed))
                let requests = (submitted..<(submitted + chunk)).map { TaskRequest(taskID: "\(prefix)-t\($0)", kind: "echo", payload: payload) }
                try await connection.submit(requests)
                inFlight.append(requests.map(\.taskID))
                submitted += chunk
            }
            for taskID in inFlight.removeFirst() {
                if case .failure = await connection.outcome(of: taskID).result { failed += 1 }
                completed += 1
            }
        }
        let throughputSeconds = (ContinuousClock.now - started).seconds

        // Latency: one task at a time.
        var latencies: [Double] = []
        latencies.reserveCapacity(roundTrips)
        for index in 0..<roundTrips {
            let begin = ContinuousClock.now
            let outcome = try await connection.run([TaskRequest(taskID: "\(prefix)-l\(index)", kind: "echo", payload: payload)])
            latencies.append((ContinuousClock.now - begin).seconds * 1_000)
            if case .failure = outcome[0].result { failed += 1 }
        }
        latencies.sort()
        let p50 = latencies[latencies.count / 2]
        let p99 = latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
        await connection.close()
        let rate = Double(tasks) / throughputSeconds
        if client.json {
            print(#"{"tasks":\#(tasks),"tasks_per_second":\#(Int(rate)),"latency_p50_ms":\#(p50),"latency_p99_ms":\#(p99),"failed":\#(failed)}"#)
        } else {
            print("throughput: \(tasks) echo tasks in \(String(format: "%.3f", throughputSeconds)) s = \(Int(rate)) tasks/s (window \(window))")
            print("latency (sequential, \(roundTrips) round trips): p50 \(String(format: "%.3f", p50)) ms, p99 \(String(format: "%.3f", p99)) ms")
            print("failed: \(failed)")
        }
        if failed > 0 { throw ExitCode(3) }
    }
}
