import ArgumentParser
import Foundation
import Logging
import PhalanxResilience

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

/// Sets up JSON logging once for the process (libraries never do this themselves).
func bootstrapLogging(level: String, node: String) {
    let logLevel = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label in JSONLogHandler(logLevel: logLevel, label: label, node: node) }
}

extension Duration {
    /// The duration in seconds, for reports.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
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
