import ArgumentParser
import Foundation
import Logging
import PhalanxResilience
import PhalanxTransport

/// Options every subcommand takes: where the configuration is and what to override.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "The cluster configuration file (TOML).")
    var config: String = "cluster.conf"

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration key, e.g. --set coordinator.port=7500 (repeatable).", valueName: "section.key=value"))
    var overrides: [String] = []

    /// Loads the configuration or exits with a clear error (exit code 2).
    func load() throws -> ClusterConfig {
        do {
            return try ClusterConfig.load(file: config, environment: ProcessInfo.processInfo.environment, overrides: overrides)
        } catch {
            printError("configuration error: \(error)")
            throw ExitCode(2)
        }
    }
}

/// How a node logs: `--log-format` over `log.format`.
struct LogOptions: ParsableArguments {
    @Option(help: "Log lines on standard error as json (one object per line) or text (for a terminal); overrides log.format.")
    var logFormat: NodeLogHandler.Format?

    /// Sets up logging once for the process (libraries never do this themselves): lines on
    /// standard error, and to Loki when `log.loki_url` is set. Returns the Loki shipper to run.
    func bootstrap(_ config: ClusterConfig, node: String, role: String) -> LokiShipper? {
        let logLevel = Logger.Level(rawValue: config.string("log.level")) ?? .info
        let format = logFormat ?? NodeLogHandler.Format(rawValue: config.string("log.format")) ?? .json
        let loki = (try? HTTPEndpoint.parse(config.string("log.loki_url"))).flatMap { $0 }.map { endpoint in
            LokiShipper(endpoint: endpoint, cluster: config.string("cluster.name"), node: node, role: role)
        }
        LoggingSystem.bootstrap { label in NodeLogHandler(logLevel: logLevel, label: label, node: node, format: format, loki: loki) }
        return loki
    }
}

extension NodeLogHandler.Format: ExpressibleByArgument {}

/// Runs `body` while `shipper` (if any) pushes log lines to Loki; afterwards the last lines are sent.
func withLogShipping(_ shipper: LokiShipper?, _ body: () async throws -> Void) async throws {
    guard let shipper else { return try await body() }
    let shipping = Task { await shipper.run() }
    do {
        try await body()
    } catch {
        shipping.cancel()
        await shipping.value
        throw error
    }
    shipping.cancel()
    await shipping.value
}

extension Duration {
    /// The duration in seconds, for reports.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Prints a JSON object on one line of standard output, keys sorted (what `--json` prints).
func printJSON(_ object: [String: Any]) throws {
    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
}

/// Runs `body`, turning a Phalanx error into a readable message and exit code 1.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ErrorContext {
        printError("error: \(error)")
        throw ExitCode(1)
    }
}
