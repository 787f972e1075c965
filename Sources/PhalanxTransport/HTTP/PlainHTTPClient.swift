import NIOCore
import NIOHTTP1
import NIOPosix

/// A plain-HTTP endpoint: `http://HOST:PORT/PATH` (no TLS).
public struct HTTPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let path: String

    /// Parses `http://HOST[:PORT]/PATH`; nil (with nothing thrown) for an empty string.
    public static func parse(_ text: String) throws(HTTPEndpointError) -> HTTPEndpoint? {
        guard !text.isEmpty else { return nil }
        guard text.hasPrefix("http://") else {
            throw HTTPEndpointError(message: "'\(text)' is not an http:// URL (only plain http is supported, e.g. http://127.0.0.1:3100/loki/api/v1/push)")
        }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        guard !authority.contains("@") else {
            throw HTTPEndpointError(message: "'\(text)' has credentials in it; they are not supported (they would end up in log lines): give Loki's address without user and password")
        }
        guard let (host, portText) = HostPort.split(authority) else {
            throw HTTPEndpointError(message: "'\(text)' has a misplaced [ or ] in its host; write an IPv6 address in brackets before the port, e.g. http://[::1]:3100/...")
        }
        let path = rest.dropFirst(authority.count)
        var port = 80
        if let portText {
            guard let parsed = Int(portText), (1...65_535).contains(parsed) else {
                throw HTTPEndpointError(message: "'\(text)' has no valid port after the host")
            }
            port = parsed
        }
        guard !host.isEmpty else { throw HTTPEndpointError(message: "'\(text)' has no host") }
        return HTTPEndpoint(host: host, port: port, path: path.isEmpty ? "/" : String(path))
    }

    public var description: String { "http://\(HostPort.format(host: host, port: port))\(path)" }
}

/// A malformed ``HTTPEndpoint``.
public struct HTTPEndpointError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Sends one HTTP/1.1 request over a fresh connection and returns the response's status and body
/// (for pushing logs to Loki, one request per batch, and for tests of the metrics endpoint; no
/// pooling). The response body is read up to `maximumResponseBytes`.
public enum PlainHTTPClient {
    public static func request(
        _ method: HTTPMethod, _ endpoint: HTTPEndpoint, body: [UInt8] = [], contentType: String? = nil, timeout: TimeAmount = .seconds(5),
        maximumResponseBytes: Int = 16 * 1024 * 1024, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> (status: HTTPResponseStatus, body: [UInt8]) {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        let started = ContinuousClock.now
        let deadline = channel.channel.eventLoop.scheduleTask(in: timeout) { channel.channel.close(promise: nil) }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
            if let contentType { headers.add(name: "Content-Type", value: contentType) }
            if method == .POST || !body.isEmpty { headers.add(name: "Content-Length", value: "\(body.count)") }
            headers.add(name: "Connection", value: "close")
            // The whole request in one write: a server may answer and close as soon as it has the last
            // byte, and a separate write of `.end` after that would fail a request that succeeded.
            var request: [HTTPClientRequestPart] = [.head(HTTPRequestHead(version: .http1_1, method: method, uri: endpoint.path, headers: headers))]
            if !body.isEmpty { request.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            request.append(.end(nil))
            try await outbound.write(contentsOf: request)
            var status: HTTPResponseStatus?
            var received: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let head): status = head.status
                case .body(var chunk):
                    guard received.count + chunk.readableBytes <= maximumResponseBytes else {
                        throw HTTPEndpointError(message: "\(endpoint) answered with more than \(maximumResponseBytes) bytes")
                    }
                    received += chunk.readBytes(length: chunk.readableBytes) ?? []
                case .end: break
                }
                if case .end = part { break }
            }
            guard let status else {
                if ContinuousClock.now - started >= .nanoseconds(timeout.nanoseconds) {
                    throw HTTPEndpointError(message: "\(endpoint) did not answer within \(timeout.nanoseconds / 1_000_000) ms")
                }
                throw HTTPEndpointError(message: "\(endpoint) closed the connection without a response")
            }
            return (status, received)
        }
    }
}
