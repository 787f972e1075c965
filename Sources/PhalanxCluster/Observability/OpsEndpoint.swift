import Logging
import NIOHTTP1
import PhalanxResilience
import PhalanxTransport

/// What a node's operations endpoint answers: `GET /metrics` (Prometheus text, refreshed from
/// the node's state first), `/healthz` (the process serves), `/readyz` (it takes work: 503 and
/// the reason while it does not), and whatever `pages` adds (the coordinator's status page).
public struct OpsEndpoint: Sendable {
    /// Whether the node takes work; the reason when it does not.
    public typealias Readiness = @Sendable () async -> (ready: Bool, reason: String)

    let metrics: NodeMetrics
    let refresh: @Sendable () async -> Void
    let readiness: Readiness
    let pages: @Sendable (OpsRequest) async -> OpsResponse?

    public init(
        metrics: NodeMetrics, refresh: @escaping @Sendable () async -> Void, readiness: @escaping Readiness,
        pages: @escaping @Sendable (OpsRequest) async -> OpsResponse? = { _ in nil }
    ) {
        self.metrics = metrics
        self.refresh = refresh
        self.readiness = readiness
        self.pages = pages
    }

    /// The answer to one request.
    public func respond(to request: OpsRequest) async -> OpsResponse {
        switch request.path {
        case "/metrics":
            await refresh()
            return OpsResponse(contentType: NodeMetrics.contentType, body: metrics.exposition())
        case "/healthz":
            return OpsResponse(text: "ok\n")
        case "/readyz":
            let (ready, reason) = await readiness()
            return ready ? OpsResponse(text: "ready\n") : OpsResponse(status: .serviceUnavailable, text: "not ready: \(reason)\n")
        default:
            if let page = await pages(request) { return page }
            return OpsResponse(status: .notFound, text: "no page \(request.path); this endpoint serves /metrics, /healthz and /readyz\n")
        }
    }

    /// Binds `address`. Throws a ``StartupError`` (exit 2) for an address that cannot be bound and
    /// an `UNAVAILABLE` ``ErrorContext`` (exit 1) when the port is in use.
    public static func bind(_ address: OpsAddress, logger: Logger) async throws -> OpsHTTPServer {
        do {
            let server = try await OpsHTTPServer.bind(host: address.host, port: address.port)
            logger.notice("metrics endpoint listening", metadata: ["address": "\(OpsAddress(host: address.host, port: server.port))"])
            return server
        } catch {
            // A port in use is a runtime condition (exit 1), as for the cluster port; a bad address is configuration (exit 2).
            guard error.portInUse else { throw StartupError(ErrorContext(code: .invalidArgument, message: error.message)) }
            throw ErrorContext(code: .unavailable, message: error.message)
        }
    }

    /// Serves on `server` until the task is cancelled or the server is closed (cancelling closes it).
    public func serve(on server: OpsHTTPServer, logger: Logger) async {
        try? await server.serve(logger: logger) { request in await self.respond(to: request) }
    }
}
