import ArgumentParser
import PhalanxClient
import PhalanxResilience

/// Options of the commands that talk to the coordinator as a client.
struct ClientOptions: ParsableArguments {
    @Option(help: "The client's name (its certificate is <tls.dir>/NAME.pem).")
    var name: String = "client"

    @Flag(help: "Print machine-readable JSON instead of text.")
    var json = false

    func connect(_ config: ClusterConfig) async throws -> PhalanxClient {
        try await reportingErrors {
            try await PhalanxClient.connect(
                host: config.string("coordinator.host"), port: config.integer("coordinator.port"),
                tls: config.tlsFiles(forNode: name), limits: config.limits)
        }
    }
}
