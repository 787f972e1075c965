import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A local receiver of Loki's push API on 127.0.0.1, for testing a push client (it is not Loki:
/// it stores nothing and answers no queries): records each request and answers `status`.
public final class LokiPushReceiver: Sendable {
    public struct Push: Sendable {
        public let method: HTTPMethod
        public let path: String
        public let contentType: String?
        public let body: [UInt8]
    }

    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    public let status: HTTPResponseStatus
    private let received = Mutex<[Push]>([])
    public var port: Int { channel.channel.localAddress?.port ?? 0 }
    public var pushes: [Push] { received.withLock { $0 } }

    private init(channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>, status: HTTPResponseStatus) {
        self.channel = channel
        self.status = status
    }

    /// Runs `body` with a receiver on a free port, then stops it.
    public static func with(status: HTTPResponseStatus = .noContent, _ body: (LokiPushReceiver) async throws -> Void) async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let loki = LokiPushReceiver(channel: channel, status: status)
        let serving = Task { try await loki.serve() }
        do {
            try await body(loki)
        } catch {
            try? await channel.channel.close()
            _ = await serving.result
            throw error
        }
        try? await channel.channel.close()
        _ = await serving.result
    }

    private func serve() async throws {
        try await channel.executeThenClose { inbound in
            for try await connection in inbound {
                try? await connection.executeThenClose { requests, responses in
                    var head: HTTPRequestHead?
                    var body: [UInt8] = []
                    for try await part in requests {
                        switch part {
                        case .head(let requestHead): head = requestHead
                        case .body(var chunk): body += chunk.readBytes(length: chunk.readableBytes) ?? []
                        case .end:
                            guard let head else { return }
                            received.withLock {
                                $0.append(Push(method: head.method, path: head.uri, contentType: head.headers.first(name: "Content-Type"), body: body))
                            }
                            var headers = HTTPHeaders()
                            headers.add(name: "Content-Length", value: "0")
                            headers.add(name: "Connection", value: "close")
                            try await responses.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                            try await responses.write(.end(nil))
                            return
                        }
                    }
                }
            }
        }
    }
}
