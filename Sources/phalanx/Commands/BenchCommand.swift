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

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config)
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 64)
        let prefix = "bench-\(UInt32.random(in: 0...UInt32.max))"

        // Warm-up.
        _ = try await connection.run((0..<2_000).map { TaskRequest(taskID: "\(prefix)-w\($0)", kind: "echo", payload: payload) })

        // Throughput: keep `window` tasks in flight.
        let started = ContinuousClock.now
        var failed = 0
        var submitted = 0
        var completed = 0
        while completed < tasks {
            let chunk = min(window, tasks - submitted)
            let requests = (submitted..<(submitted + chunk)).map { TaskRequest(taskID: "\(prefix)-t\($0)", kind: "echo", payload: payload) }
            submitted += chunk
            let outcomes = try await connection.run(requests)
            completed += outcomes.count
            failed += outcomes.filter { if case .failure = $0.result { true } else { false } }.count
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
