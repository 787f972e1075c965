import ArgumentParser
import Foundation
import Logging
import PhalanxCluster
import PhalanxResilience
import ServiceLifecycle

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: accepts workers and clients over mutual TLS and dispatches tasks.",
        discussion: """
            Uses <tls.dir>/coordinator.pem and coordinator-key.pem unless --name says otherwise. SIGTERM or SIGINT stops it \
            cleanly: it stops accepting, tells every peer it is shutting down, and exits 0.
            Exit codes: 0 stopped, 1 runtime error, 2 configuration error (bad key, value or TLS material; nothing listened).
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var log: LogOptions

    @Option(help: "The node name whose certificate to use.")
    var name: String = "coordinator"

    @Option(help: "Write the port actually bound to this file (useful with coordinator.port=0).")
    var portFile: String?

    @Option(help: "Write the metrics endpoint's port to this file (useful with metrics.coordinator_address port 0).")
    var metricsPortFile: String?

    func run() async throws {
        let config = try common.load()
        let shipper = log.bootstrap(config, node: name, role: "coordinator")
        let logger = Logger(label: "phalanx.coordinator")
        let portFile = portFile
        let metricsPortFile = metricsPortFile
        try await withLogShipping(shipper) {
            try await runService(logger: logger) {
                try CoordinatorRuntime(
                    configuration: config.coordinatorConfiguration(name: name), cluster: config.string("cluster.name"), logger: logger
                ) { port in
                    if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                } onMetricsListening: { port in
                    if let metricsPortFile { try? "\(port)\n".write(toFile: metricsPortFile, atomically: true, encoding: .utf8) }
                }
            }
        }
    }
}

/// Runs one service under a `ServiceGroup` that turns SIGTERM and SIGINT into a graceful shutdown.
/// A ``StartupError`` (configuration or TLS material) exits 2; any other error exits 1.
func runService<S: Service>(logger: Logger, _ make: () throws -> S) async throws {
    do {
        let service = try make()
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .cancelGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    } catch let error as StartupError {
        printError("configuration error: \(error.context.message)")
        throw ExitCode(2)
    } catch let error as ServiceGroupError {
        printError("error: \(error)")
        throw ExitCode(1)
    } catch let error as ErrorContext {
        printError("error: \(error)")
        throw ExitCode(1)
    }
}
