import ArgumentParser
import Foundation
import Logging
import PhalanxCluster

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker serving the built-in task kinds (echo, sleep, sha256, fail).",
        discussion: """
            Uses <tls.dir>/NAME.pem and NAME-key.pem; the certificate must be a worker certificate. Reconnects if the coordinator \
            goes away. SIGTERM or SIGINT (or `phalanx drain NAME`) drains it: no new tasks, running ones may finish within \
            worker.drain_grace_ms, the rest are handed back; then it exits 0.
            Exit codes: 0 stopped, 1 runtime error, 2 configuration error.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var log: LogOptions

    @Option(help: "The worker's name (its certificate is <tls.dir>/NAME.pem).")
    var name: String

    @Option(help: "Tasks run at once (overrides worker.capacity).")
    var capacity: Int?

    @Option(help: "Tasks held beyond capacity, waiting for a free slot (overrides worker.prefetch).")
    var prefetch: Int?

    @Option(help: "Write the metrics endpoint's port to this file (useful with metrics.worker_address port 0).")
    var metricsPortFile: String?

    @Flag(help: ArgumentHelp(
        "Use the participant store in the data directory even if it is not the one the coordinator knows for this worker.",
        discussion: "Without it such a store is refused (transactions get NO): it was made anew after the worker's store was deleted or replaced, so the values and in-doubt transactions of the old one are lost. Give it once to accept that loss."))
    var acceptNewStore = false

    func validate() throws {
        if let capacity, !(1...100_000).contains(capacity) { throw ValidationError("--capacity must be in 1...100000, got \(capacity)") }
        if let prefetch, !(0...100_000).contains(prefetch) { throw ValidationError("--prefetch must be in 0...100000, got \(prefetch)") }
    }

    func run() async throws {
        let config = try common.load()
        if let problem = config.dialProblem {
            printError("configuration error: \(problem)")
            throw ExitCode(2)
        }
        let shipper = log.bootstrap(config, node: name, role: "worker")
        var configuration = config.workerConfiguration(name: name)
        if let capacity { configuration.capacity = capacity }
        if let prefetch { configuration.prefetch = prefetch }
        configuration.acceptsNewStore = acceptNewStore
        let logger = Logger(label: "phalanx.worker")
        let metricsPortFile = metricsPortFile
        try await withLogShipping(shipper) {
            try await runService(logger: logger) {
                // The example TCC resource (docs/transactions-resources.md shows how to write one).
                let stock = StockResource(path: "\(configuration.participantDirectory(for: name))/stock.sqlite")
                return WorkerRuntime(configuration: configuration, resources: [stock], logger: logger) { port in
                    if let metricsPortFile { try? "\(port)\n".write(toFile: metricsPortFile, atomically: true, encoding: .utf8) }
                }
            }
        }
    }
}
