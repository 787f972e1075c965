import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxTransport
import ServiceLifecycle

/// A runnable coordinator: checks its TLS material and identity when made, binds and serves when
/// run, and on graceful shutdown (SIGTERM, SIGINT through a `ServiceGroup`) stops accepting,
/// sends every peer an Error frame and closes cleanly.
public struct CoordinatorRuntime: Service {
    public let configuration: CoordinatorConfiguration
    public let local: NodeIdentity
    private let tlsContext: NIOSSLContext
    private let ledger: SQLiteTaskLedger
    private let dataLock: DataDirectoryLock
    private let logger: Logger
    private let onListening: @Sendable (Int) -> Void
    private let onMetricsListening: @Sendable (Int) -> Void

    /// Loads and checks the TLS material and opens the task ledger. Throws ``StartupError`` (a
    /// configuration problem) when a file is missing, unreadable, not PEM, expired, or not a
    /// coordinator certificate of `cluster`, or when the ledger cannot be opened in `coordinator.data_dir`.
    public init(
        configuration: CoordinatorConfiguration, cluster: String, logger: Logger = Logger(label: "phalanx.coordinator"),
        onListening: @escaping @Sendable (Int) -> Void = { _ in }, onMetricsListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws(StartupError) {
        do {
            self.tlsContext = try configuration.tls.makeServerContext()
            self.local = try configuration.tls.localIdentity()
        } catch {
            throw StartupError(error)
        }
        guard local.role == .coordinator, local.cluster == cluster else {
            throw StartupError(ErrorContext(
                code: .invalidArgument,
                message: "\(configuration.tls.certificatePath) is \(local.uri); the coordinator needs a certificate for phalanx://\(cluster)/coordinator/NAME"))
        }
        if let problem = Failpoints.problem() { throw StartupError(ErrorContext(code: .invalidArgument, message: problem)) }
        // A host that cannot be an address is a configuration error before the ledger is opened.
        if let problem = AddressCheck.problem(host: configuration.host, port: configuration.port) {
            throw StartupError(ErrorContext(code: .invalidArgument, message: "coordinator.host: \(problem)"))
        }
        if let metrics = configuration.metricsAddress, let problem = AddressCheck.problem(host: metrics.host, port: metrics.port) {
            throw StartupError(ErrorContext(code: .invalidArgument, message: "metrics.coordinator_address: \(problem)"))
        }
        do {
            self.dataLock = try DataDirectoryLock(directory: configuration.dataDirectory)
            self.ledger = try SQLiteTaskLedger(path: configuration.ledgerPath)
        } catch {
            throw StartupError(ErrorContext(code: .invalidArgument, message: error.message))
        }
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
        self.onMetricsListening = onMetricsListening
    }

    /// Binds and serves until graceful shutdown (or cancellation).
    public func run() async throws {
        // The ledger is read back before anything listens: an unreadable one stops the coordinator here.
        let metrics = configuration.metricsAddress.map { _ in NodeMetrics() }
        let coordinator = Coordinator(
            configuration: configuration, local: local, ledger: ledger, logger: logger, clock: ContinuousClock(), metrics: metrics)
        // One event loop carries every connection, so the coordinator actor's steps stay on its thread.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        do {
            try await coordinator.start(on: loop)
        } catch {
            logger.critical("cannot read the task ledger back", metadata: ["path": "\(configuration.ledgerPath)", "error": "\(error)"])
            throw error
        }
        var ops: (server: OpsHTTPServer, endpoint: OpsEndpoint)?
        if configuration.metricsAddress == nil { logger.notice("metrics endpoint off (metrics.coordinator_address is empty)") }
        if let address = configuration.metricsAddress, let metrics {
            let server = try await OpsEndpoint.bind(address, logger: logger)
            ops = (server, CoordinatorOpsPages.endpoint(for: coordinator, metrics: metrics))
            onMetricsListening(server.port)
        }
        let listener: NIOAsyncChannel<AcceptedConnection, Never>
        do {
            listener = try await PhalanxListener.bind(
                host: configuration.host, port: configuration.port, tlsContext: tlsContext, local: local,
                limits: configuration.limits, logger: logger, group: loop,
                handshakeFailures: metrics.map { HandshakeFailureMetrics(factory: $0.factory) })
        } catch let error as ErrorContext where error.code == .invalidArgument {
            throw StartupError(error)
        }
        let port = listener.channel.localAddress?.port ?? configuration.port
        logger.notice("coordinator listening", metadata: ["address": "\(configuration.host):\(port)", "identity": "\(local.uri)"])
        onListening(port)
        let serverChannel = listener.channel
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let ops {
                    group.addTask { await ops.endpoint.serve(on: ops.server, logger: logger) }
                    group.addTask { await CoordinatorOpsPages.sampleActivity(of: coordinator, clock: ContinuousClock()) }
                }
                defer { group.cancelAll() }
                try await coordinator.run(listener: listener)
            }
        } onGracefulShutdown: {
            Task {
                await coordinator.shutDown()
                try? await serverChannel.close()
            }
        }
        logger.notice("coordinator stopped")
    }
}

/// A problem a restart cannot fix: the configuration or the TLS material is wrong. The CLI exits 2.
public struct StartupError: Error, CustomStringConvertible {
    public let context: ErrorContext

    public init(_ context: ErrorContext) {
        self.context = context
    }

    public var description: String { context.message }
}
