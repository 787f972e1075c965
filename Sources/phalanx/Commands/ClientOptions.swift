import ArgumentParser
import PhalanxClient
import PhalanxResilience
import PhalanxTransport

/// Options of the commands that talk to the coordinator as a client.
struct ClientOptions: ParsableArguments {
    @Option(help: "The client's name (its certificate is <tls.dir>/NAME.pem); default: client, or admin for admin commands.")
    var name: String?

    @Flag(help: "Print machine-readable JSON instead of text.")
    var json = false

    /// Connects as `name` (or `defaultName`). Unusable TLS material, or a certificate that is not a
    /// client's or an admin's of this cluster, is a configuration error (exit 2).
    /// A coordinator that cannot be reached exits `unreachableExitCode` (1; `audit` says 2: it could not audit).
    func connect(
        _ config: ClusterConfig, defaultName: String = "client", unreachableExitCode: Int32 = 1, settings: PhalanxClient.Settings = .init()
    ) async throws -> PhalanxClient {
        let tls = config.tlsFiles(forNode: name ?? defaultName)
        if let problem = config.dialProblem ?? AddressCheck.problem(host: config.string("coordinator.host"), port: config.integer("coordinator.port")).map({ "coordinator.host: \($0)" }) {
            printError("configuration error: \(problem)")
            throw ExitCode(2)
        }
        do throws(ErrorContext) {
            _ = try tls.makeClientContext()
            let identity = try tls.localIdentity()
            let cluster = config.string("cluster.name")
            guard identity.role == .client || identity.role == .admin else {
                throw ErrorContext(
                    code: .invalidArgument,
                    message: "\(tls.certificatePath) is a \(identity.role.rawValue) certificate (\(identity.uri)); this command needs a client or admin certificate (--name NAME uses <tls.dir>/NAME.pem)")
            }
            guard identity.cluster == cluster else {
                throw ErrorContext(
                    code: .invalidArgument,
                    message: "\(tls.certificatePath) is \(identity.uri), a certificate of cluster '\(identity.cluster)'; cluster.name is '\(cluster)'")
            }
        } catch {
            printError("configuration error: \(error.message)")
            throw ExitCode(2)
        }
        do {
            return try await dial(config, defaultName: defaultName, settings: settings)
        } catch let error as ErrorContext {
            printError("error: \(error)")
            throw ExitCode(unreachableExitCode)
        }
    }

    /// Connects as `name` (or `defaultName`), throwing what went wrong (for callers that retry).
    func dial(_ config: ClusterConfig, defaultName: String = "client", settings: PhalanxClient.Settings = .init()) async throws -> PhalanxClient {
        try await PhalanxClient.connect(
            host: config.string("coordinator.host"), port: config.integer("coordinator.port"), tls: config.tlsFiles(forNode: name ?? defaultName),
            limits: config.limits, settings: settings)
    }
}
