import ArgumentParser
import PhalanxClient
import PhalanxResilience

/// Options of the commands that talk to the coordinator as a client.
struct ClientOptions: ParsableArguments {
    @Option(help: "The client's name (its certificate is <tls.dir>/NAME.pem); default: client, or admin for admin commands.")
    var name: String?

    @Flag(help: "Print machine-readable JSON instead of text.")
    var json = false

    /// Connects as `name` (or `defaultName`). Unusable TLS material is a configuration error (exit 2).
    func connect(_ config: ClusterConfig, defaultName: String = "client") async throws -> PhalanxClient {
        let tls = config.tlsFiles(forNode: name ?? defaultName)
        do {
            _ = try tls.makeClientContext()
            _ = try tls.localIdentity()
        } catch {
            printError("configuration error: \(error.message)")
            throw ExitCode(2)
        }
        return try await reportingErrors { try await dial(config, defaultName: defaultName) }
    }

    /// Connects as `name` (or `defaultName`), throwing what went wrong (for callers that retry).
    func dial(_ config: ClusterConfig, defaultName: String = "client") async throws -> PhalanxClient {
        try await PhalanxClient.connect(
            host: config.string("coordinator.host"), port: config.integer("coordinator.port"), tls: config.tlsFiles(forNode: name ?? defaultName),
            limits: config.limits)
    }
}
