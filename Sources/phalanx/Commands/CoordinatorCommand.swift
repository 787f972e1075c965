import ArgumentParser
import Logging
import NIOPosix
import PhalanxCluster
import PhalanxTransport

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: accepts workers and clients over mutual TLS and dispatches tasks.",
        discussion: "Uses <tls.dir>/coordinator.pem and coordinator-key.pem unless --name says otherwise. Exit codes: 0 stopped, 1 runtime error, 2 configuration error.")

    @OptionGroup var common: CommonOptions

    @Option(help: "The node name whose certificate to use.")
    var name: String = "coordinator"

    @Option(help: "Write the port actually bound to this file (useful with coordinator.port=0).")
    var portFile: String?

    func run() async throws {
        let config = try common.load()
        bootstrapLogging(level: config.string("log.level"), node: name)
        let logger = Logger(label: "phalanx.coordinator")
        try await reportingErrors {
            let configuration = config.coordinatorConfiguration(name: name)
            let context = try configuration.tls.makeServerContext()
            let local = try configuration.tls.localIdentity()
            guard local.role == .coordinator, local.cluster == config.string("cluster.name") else {
                printError("error: \(configuration.tls.certificatePath) is \(local.uri); the coordinator needs phalanx://\(config.string("cluster.name"))/coordinator/NAME")
                throw ExitCode(2)
            }
            // One event loop carries every connection, so the coordinator actor's steps stay on its thread.
            let listener = try await PhalanxListener.bind(
                host: configuration.host, port: configuration.port, tlsContext: context, local: local, limits: configuration.limits,
                logger: logger, group: MultiThreadedEventLoopGroup.singleton.next())
            let port = listener.channel.localAddress?.port ?? configuration.port
            if let portFile { try "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            logger.notice("coordinator listening", metadata: ["address": "\(configuration.host):\(port)", "identity": "\(local.uri)"])
            try await Coordinator(configuration: configuration, local: local, logger: logger).run(listener: listener)
        }
    }
}
