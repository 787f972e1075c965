import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP request to a node's operations endpoint (metrics, health, status page).
public struct OpsRequest: Sendable {
    public let method: HTTPMethod
    /// The path without its query string.
    public let path: String
    /// The query string after `?` (empty without one).
    public let query: String
}

/// The answer to an ``OpsRequest``.
public struct OpsResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: [UInt8]

    public init(status: HTTPResponseStatus = .ok, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public init(status: HTTPResponseStatus = .ok, text: String) {
        self.init(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }
}

/// A small plain-HTTP/1.1 server for a node's operations endpoint: `GET /metrics`, `/healthz`,
/// `/readyz` and the status page. It answers each request with one response and closes the
/// connection, holds at most ``maximumConnections`` at once, and reads no request bodies (a request
/// with one gets 413). It moves bytes only: what each path answers comes from `respond`.
public struct OpsHTTPServer: Sendable {
    /// Connections served at once; at the bound a new one replaces the oldest that has not sent its
    /// request yet (a flood of idle connections cannot keep a scrape or a health probe out).
    public static let defaultMaximumConnections = 256
    /// A request must arrive whole within this, by default.
    public static let defaultRequestTimeout: TimeAmount = .seconds(5)

    public let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    /// A request must arrive whole within this after its connection is accepted.
    public let requestTimeout: TimeAmount
    /// Connections served at once (``defaultMaximumConnections``).
    public let maximumConnections: Int
    private let connections = ConnectionTracker()
    /// The port actually bound (differs from the one asked for when that was 0).
    public var port: Int { channel.channel.localAddress?.port ?? 0 }

    /// Binds `host:port` (port 0 picks a free one). Throws a ``BindError`` that names the address
    /// and what to do.
    public static func bind(
        host: String, port: Int, requestTimeout: TimeAmount = defaultRequestTimeout, maximumConnections: Int = defaultMaximumConnections,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(BindError) -> OpsHTTPServer {
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                    }
                }
            return OpsHTTPServer(channel: channel, requestTimeout: requestTimeout, maximumConnections: maximumConnections)
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw BindError(
                message: "cannot serve metrics on \(host):\(port): the port is in use; pick another address (metrics.*_address, or port 0 for a free one)",
                portInUse: true)
        } catch {
            throw BindError(message: "cannot serve metrics on \(host):\(port): \(error); the address must be an IP address of this machine and a port, e.g. 127.0.0.1:9464")
        }
    }

    /// Serves until ``close()``. Every accepted connection is answered or closed, also when the
    /// server stops (cancelling the calling task closes the server too).
    public func serve(logger: Logger, respond: @escaping @Sendable (OpsRequest) async -> OpsResponse) async throws {
        // The accept loop runs in a task of its own that is never cancelled: a cancelled loop would
        // drop accepted connections unclosed (a fatal error in NIO). close() ends it instead.
        let loop = Task { [channel, connections, requestTimeout, maximumConnections] in
            try await channel.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            guard connections.admit(connection.channel, maximum: maximumConnections) else {
                                try? await connection.executeThenClose { _, _ in }  // stopping, or every slot busy with a request: closed at once
                                continue
                            }
                            group.addTask {
                                await Self.handle(connection, requestTimeout: requestTimeout, tracker: connections, logger: logger, respond: respond)
                                connections.remove(connection.channel)
                            }
                        }
                    } catch {
                        logger.debug("metrics endpoint stopped accepting", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        try await withTaskCancellationHandler {
            try await loop.value
        } onCancel: {
            Task { await self.close() }
        }
    }

    /// Stops listening and closes every connection (those being answered finish their write).
    public func close() async {
        for connection in connections.stop() { connection.close(promise: nil) }
        try? await channel.channel.close()
    }

    private static func handle(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, requestTimeout: TimeAmount, tracker: ConnectionTracker,
        logger: Logger,
        respond: @escaping @Sendable (OpsRequest) async -> OpsResponse
    ) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                // The whole request within the timeout: the idle handler alone lets a body trickled
                // byte by byte hold the connection (and one of the few slots) for ever.
                let deadline = connection.channel.eventLoop.scheduleTask(in: requestTimeout) { connection.channel.close(promise: nil) }
                defer { deadline.cancel() }
                var head: HTTPRequestHead?
                var hasBody = false
                var complete = false
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead): head = requestHead
                    case .body: hasBody = true
                    case .end: complete = true
                    }
                    if complete { break }
                }
                deadline.cancel()
                guard let head, complete else { return }
                tracker.requested(connection.channel)
                let response: OpsResponse
                if hasBody {
                    response = OpsResponse(status: .payloadTooLarge, text: "this endpoint takes no request body\n")
                } else if head.method != .GET && head.method != .HEAD {
                    response = OpsResponse(status: .methodNotAllowed, text: "only GET and HEAD are served here\n")
                } else {
                    let (path, query) = Self.split(head.uri)
                    response = await respond(OpsRequest(method: head.method, path: path, query: query))
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: response.contentType)
                headers.add(name: "Content-Length", value: "\(response.body.count)")
                headers.add(name: "Connection", value: "close")
                headers.add(name: "Cache-Control", value: "no-store")
                if response.status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }  // RFC 9110: a 405 says what is allowed
                try await outbound.write(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers)))
                if head.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body)))) }
                try await outbound.write(.end(nil))
            }
        } catch {
            logger.debug("metrics connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    static func split(_ uri: String) -> (path: String, query: String) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, "") }
        return (String(uri[..<mark]), String(uri[uri.index(after: mark)...]))
    }

    /// Why the endpoint could not listen: a configuration problem, or the port is taken.
    public struct BindError: Error, CustomStringConvertible {
        public let message: String
        /// Another process holds the port (a runtime condition, like the cluster port in use).
        public var portInUse = false
        public var description: String { message }
    }
}

/// The connections an ``OpsHTTPServer`` serves now, so that it can bound them and close them all
/// when it stops. At the bound, a new connection takes the place of the oldest one that has not
/// sent its request yet: a flood of idle connections cannot keep a scrape or a probe out.
final class ConnectionTracker: Sendable {
    private struct Entry {
        let channel: any Channel
        let order: UInt64
        var requested = false
    }

    private struct State {
        var open: [ObjectIdentifier: Entry] = [:]
        var next: UInt64 = 0
        var stopping = false
    }

    private let state = Mutex(State())

    /// Registers `channel`; false when the server stops, or serves `maximum` connections that all
    /// sent their requests. The oldest idle connection is closed to make room.
    func admit(_ channel: any Channel, maximum: Int) -> Bool {
        let (admitted, evicted) = state.withLock { state -> (Bool, (any Channel)?) in
            guard !state.stopping else { return (false, nil) }
            var evicted: (any Channel)?
            if state.open.count >= maximum {
                guard let oldest = state.open.filter({ !$0.value.requested }).min(by: { $0.value.order < $1.value.order }) else { return (false, nil) }
                evicted = state.open.removeValue(forKey: oldest.key)?.channel
            }
            state.next += 1
            state.open[ObjectIdentifier(channel)] = Entry(channel: channel, order: state.next)
            return (true, evicted)
        }
        evicted?.close(promise: nil)
        return admitted
    }

    /// `channel` sent a whole request: it is no longer idle.
    func requested(_ channel: any Channel) {
        state.withLock { $0.open[ObjectIdentifier(channel)]?.requested = true }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// No more connections are admitted; returns the open ones.
    func stop() -> [any Channel] {
        state.withLock { state in
            state.stopping = true
            return state.open.values.map(\.channel)
        }
    }
}
