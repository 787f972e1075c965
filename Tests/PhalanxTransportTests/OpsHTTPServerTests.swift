import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
@testable import PhalanxTransport
import Synchronization
import Testing

/// The operations endpoint's HTTP server, over real sockets on 127.0.0.1: one response per
/// connection, GET and HEAD only, no request bodies, bounded connections, and a request deadline.
@Suite(.timeLimit(.minutes(1))) struct OpsHTTPServerTests {
    /// Echoes what it was asked (method, path, query); `/missing` is a 404.
    static let echo: @Sendable (OpsRequest) async -> OpsResponse = { request in
        if request.path == "/missing" { return OpsResponse(status: .notFound, text: "no such page: \(request.path)\n") }
        return OpsResponse(text: "method=\(request.method) path=\(request.path) query=\(request.query)\n")
    }

    /// Short, so that the timeout tests take a second, not ten.
    static let requestTimeout: TimeAmount = .seconds(1)

    /// Runs `body` with a server on a free port of 127.0.0.1, then closes it and waits for it to stop.
    static func withServer(
        maximumConnections: Int = OpsHTTPServer.defaultMaximumConnections,
        _ respond: @escaping @Sendable (OpsRequest) async -> OpsResponse = echo, _ body: (_ port: Int) async throws -> Void
    ) async throws {
        let server = try await OpsHTTPServer.bind(host: "127.0.0.1", port: 0, requestTimeout: requestTimeout, maximumConnections: maximumConnections)
        #expect(server.port > 0)
        let serving = Task { try await server.serve(logger: Logger(label: "test.ops"), respond: respond) }
        do {
            try await body(server.port)
        } catch {
            await server.close()
            _ = await serving.result
            throw error
        }
        await server.close()
        _ = await serving.result
    }

    static func endpoint(_ port: Int, _ path: String) -> HTTPEndpoint {
        HTTPEndpoint(host: "127.0.0.1", port: port, path: path)
    }

    @Test func getReturnsTheBodyWithItsContentLength() async throws {
        try await Self.withServer { port in
            let (status, body) = try await PlainHTTPClient.request(.GET, Self.endpoint(port, "/status?refresh=5&x=1"))
            #expect(status == .ok)
            #expect(String(decoding: body, as: UTF8.self) == "method=GET path=/status query=refresh=5&x=1\n")

            let raw = try await RawHTTP.exchange("GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n", port: port)
            let expected = "method=GET path=/metrics query=\n"
            #expect(raw.statusLine == "HTTP/1.1 200 OK", "\(raw.text)")
            #expect(raw.header("content-length") == "\(expected.utf8.count)")
            #expect(raw.header("content-type") == "text/plain; charset=utf-8")
            #expect(raw.header("connection") == "close")
            #expect(raw.body == expected)
        }
    }

    @Test func headReturnsTheHeadersWithoutTheBody() async throws {
        try await Self.withServer { port in
            let raw = try await RawHTTP.exchange("HEAD /metrics HTTP/1.1\r\nHost: test\r\n\r\n", port: port)
            #expect(raw.statusLine == "HTTP/1.1 200 OK", "\(raw.text)")
            #expect(raw.header("content-length") == "\("method=HEAD path=/metrics query=\n".utf8.count)", "the length GET would have")
            #expect(raw.body.isEmpty, "no body after the headers: \(raw.text)")
        }
    }

    @Test func otherMethodsGet405() async throws {
        try await Self.withServer { port in
            let (status, body) = try await PlainHTTPClient.request(.POST, Self.endpoint(port, "/metrics"))
            #expect(status == .methodNotAllowed)
            #expect(String(decoding: body, as: UTF8.self).contains("only GET and HEAD"))
            let delete = try await RawHTTP.exchange("DELETE /metrics HTTP/1.1\r\nHost: test\r\n\r\n", port: port)
            #expect(delete.statusLine == "HTTP/1.1 405 Method Not Allowed", "\(delete.text)")
            #expect(delete.text.lowercased().contains("allow: get, head"), "a 405 says what is allowed: \(delete.text)")
        }
    }

    @Test func aRequestWithABodyGets413() async throws {
        let asked = Mutex(0)
        try await Self.withServer({ request in
            asked.withLock { $0 += 1 }
            return await Self.echo(request)
        }) { port in
            let (status, _) = try await PlainHTTPClient.request(.GET, Self.endpoint(port, "/metrics"), body: [1, 2, 3])
            #expect(status == .payloadTooLarge)
            let (posted, _) = try await PlainHTTPClient.request(.POST, Self.endpoint(port, "/metrics"), body: Array("x".utf8))
            #expect(posted == .payloadTooLarge)
            let chunked = try await RawHTTP.exchange(
                "GET / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", port: port)
            #expect(chunked.statusLine == "HTTP/1.1 413 Payload Too Large", "\(chunked.text)")
            // An announced empty body is no body.
            let empty = try await RawHTTP.exchange("GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n", port: port)
            #expect(empty.statusLine == "HTTP/1.1 200 OK", "\(empty.text)")
        }
        #expect(asked.withLock { $0 } == 1, "only the request without a body reached the pages")
    }

    @Test func anUnknownPathIsAnsweredByTheClosure() async throws {
        try await Self.withServer { port in
            let (status, body) = try await PlainHTTPClient.request(.GET, Self.endpoint(port, "/missing"))
            #expect(status == .notFound)
            #expect(String(decoding: body, as: UTF8.self) == "no such page: /missing\n")
        }
    }

    @Test func fortyConcurrentRequestsAreAllAnsweredAtOnce() async throws {
        let gate = Gate(opensAt: 40)
        try await Self.withServer({ request in
            await gate.pass()
            return await Self.echo(request)
        }) { port in
            let statuses = try await withThrowingTaskGroup(of: (Int, HTTPResponseStatus, String).self) { group in
                for index in 0..<40 {
                    group.addTask {
                        let (status, body) = try await PlainHTTPClient.request(.GET, Self.endpoint(port, "/r\(index)"), timeout: .seconds(20))
                        return (index, status, String(decoding: body, as: UTF8.self))
                    }
                }
                var answered: [Int: (HTTPResponseStatus, String)] = [:]
                for try await (index, status, body) in group { answered[index] = (status, body) }
                return answered
            }
            #expect(statuses.count == 40)
            for index in 0..<40 {
                #expect(statuses[index]?.0 == .ok && statuses[index]?.1 == "method=GET path=/r\(index) query=\n", "request \(index)")
            }
        }
        let (most, openedByTimeout) = await gate.report()
        #expect(!openedByTimeout && most == 40, "all 40 were served at once, got \(most)")
    }

    @Test func atTheBoundANewConnectionReplacesTheOldestIdleOneSoAFloodCannotKeepAProbeOut() async throws {
        try await Self.withServer(maximumConnections: 8) { port in
            // 7 idle connections (below the bound of 8): a request is still answered at once.
            var idle: [NIOAsyncChannel<ByteBuffer, ByteBuffer>] = []
            for _ in 0..<7 { idle.append(try await RawHTTP.connect(port: port)) }
            let started = ContinuousClock.now
            #expect(try await PlainHTTPClient.request(.GET, Self.endpoint(port, "/ok"), timeout: .seconds(2)).status == .ok)
            #expect(ContinuousClock.now - started < Self.requestTimeout.duration, "not delayed until an idle connection times out")
            // 30 more idle ones, far past the bound: a probe is still answered at once ...
            for _ in 0..<30 { idle.append(try await RawHTTP.connect(port: port)) }
            try await Task.sleep(for: .milliseconds(100))  // let the server take them up
            let probe = ContinuousClock.now
            #expect(try await PlainHTTPClient.request(.GET, Self.endpoint(port, "/healthz"), timeout: .seconds(2)).status == .ok)
            #expect(ContinuousClock.now - probe < Self.requestTimeout.duration, "answered at once, not after idle ones time out")
            // ... because the oldest idle connections were closed to make room.
            let oldest = idle[0]
            let closedWithin = ContinuousClock.now
            try await oldest.executeThenClose { inbound, _ in
                for try await _ in inbound {}
            }
            #expect(ContinuousClock.now - closedWithin < Self.requestTimeout.duration, "the oldest idle one was closed, not left to its timeout")
            for connection in idle.dropFirst() { try? await connection.channel.close() }
        }
    }

    @Test func stoppingWithMoreConnectionsOpenThanTheBoundClosesThemAllAndReturns() async throws {
        let server = try await OpsHTTPServer.bind(host: "127.0.0.1", port: 0, requestTimeout: .seconds(30), maximumConnections: 4)
        let serving = Task { try await server.serve(logger: Logger(label: "test.ops"), respond: Self.echo) }
        var held: [NIOAsyncChannel<ByteBuffer, ByteBuffer>] = []
        for _ in 0..<40 { held.append(try await RawHTTP.connect(port: server.port)) }
        try await Task.sleep(for: .milliseconds(100))
        let stopping = ContinuousClock.now
        serving.cancel()  // as a graceful shutdown does: the server closes, and no connection is dropped unclosed
        _ = await serving.result
        #expect(ContinuousClock.now - stopping < .seconds(5), "it stops without waiting for idle connections")
        for connection in held {
            try await connection.executeThenClose { inbound, _ in
                for try await _ in inbound {}  // each one was closed by the server
            }
        }
    }

    @Test func aStalledHalfRequestDoesNotBlockOthersAndIsClosedAtTheRequestTimeout() async throws {
        try await Self.withServer { port in
            let stalled = try await RawHTTP.connect(port: port)
            try await stalled.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET /metrics HTTP/1.1\r\nHost: te"))
                let started = ContinuousClock.now
                for _ in 0..<3 {
                    let (status, _) = try await PlainHTTPClient.request(.GET, Self.endpoint(port, "/other"), timeout: .seconds(2))
                    #expect(status == .ok)
                }
                #expect(ContinuousClock.now - started < .seconds(2), "answered while the other connection stalls")
                var received = ByteBuffer()
                do {
                    for try await var chunk in inbound { received.writeBuffer(&chunk) }
                } catch {}  // a reset counts as closed too
                let elapsed = ContinuousClock.now - started
                #expect(elapsed >= Self.requestTimeout.duration - .milliseconds(200), "closed at the timeout, not before: \(elapsed)")
                #expect(elapsed < Self.requestTimeout.duration + .seconds(2), "closed at the timeout: \(elapsed)")
                #expect(!String(buffer: received).contains("200 OK"))
            }
        }
    }

    @Test(arguments: [
        "GET /metrics HTTP/1.1\r\nHost: test\r\nX-Padding: \(String(repeating: "p", count: 40))\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: 40\r\n\r\n\(String(repeating: "b", count: 40))",
    ])
    func aRequestTrickledByteByByteIsClosedAtTheRequestTimeout(_ text: String) async throws {
        let request = Array(text.utf8)
        try await Self.withServer { port in
            let trickler = try await RawHTTP.connect(port: port)
            let started = ContinuousClock.now
            var closedAfter: Duration?
            try await trickler.executeThenClose { _, outbound in
                // One byte every 100 ms: never idle, but the request is not whole within the timeout.
                // With a body, the head goes at once and the body trickles.
                let hasBody = text.contains("Content-Length")
                if hasBody { try await outbound.write(ByteBuffer(bytes: request.dropLast(40))) }
                for byte in hasBody ? Array(request.suffix(40)) : request {
                    guard trickler.channel.isActive, (try? await outbound.write(ByteBuffer(bytes: [byte]))) != nil else { break }
                    try await Task.sleep(for: .milliseconds(100))
                    if !trickler.channel.isActive { break }
                    if ContinuousClock.now - started > Self.requestTimeout.duration + .seconds(2) { break }
                }
                if !trickler.channel.isActive { closedAfter = ContinuousClock.now - started }
            }
            let limit = Self.requestTimeout.duration
            #expect(closedAfter != nil, "a request trickled for longer than \(limit) is cut off")
            if let closedAfter { #expect(closedAfter >= limit - .milliseconds(200) && closedAfter < limit + .seconds(2), "\(closedAfter)") }
        }
    }

    @Test func bindingAPortInUseThrowsABindErrorNamingTheAddress() async throws {
        try await Self.withServer { port in
            do throws(OpsHTTPServer.BindError) {
                let second = try await OpsHTTPServer.bind(host: "127.0.0.1", port: port)
                await second.close()
                Issue.record("bound a port in use")
            } catch {
                #expect(error.message.contains("127.0.0.1:\(port)") && error.message.contains("in use"), "\(error.message)")
                #expect(error.description == error.message)
            }
        }
    }

    @Test func bindingAnAddressNotOfThisMachineThrowsABindErrorNamingIt() async throws {
        do throws(OpsHTTPServer.BindError) {
            let server = try await OpsHTTPServer.bind(host: "203.0.113.7", port: 0)  // TEST-NET-3: never local
            await server.close()
            Issue.record("bound a foreign address")
        } catch {
            #expect(error.message.contains("203.0.113.7:0") && error.message.contains("IP address of this machine"), "\(error.message)")
        }
    }
}

/// Lets callers through once `opensAt` of them wait at once (or after 10 s), and remembers the
/// most that were inside at once.
actor Gate {
    private let opensAt: Int
    private var inside = 0
    private var most = 0
    private var open = false
    private var openedByTimeout = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var timeout: Task<Void, Never>?

    init(opensAt: Int) {
        self.opensAt = opensAt
    }

    func pass() async {
        inside += 1
        most = max(most, inside)
        if timeout == nil {
            timeout = Task { [weak self] in
                guard (try? await Task.sleep(for: .seconds(10))) != nil else { return }
                await self?.openByTimeout()
            }
        }
        if !open && inside >= opensAt { openNow() }
        if !open { await withCheckedContinuation { waiting.append($0) } }
        inside -= 1
    }

    private func openNow() {
        open = true
        timeout?.cancel()
        for continuation in waiting { continuation.resume() }
        waiting = []
    }

    private func openByTimeout() {
        guard !open else { return }
        openedByTimeout = true
        openNow()
    }

    func report() -> (most: Int, openedByTimeout: Bool) { (most, openedByTimeout) }
}

/// A raw TCP client for HTTP bytes the plain client would not send, and for reading exactly what came back.
enum RawHTTP {
    struct Response {
        let text: String
        var statusLine: String { text.components(separatedBy: "\r\n").first ?? "" }
        var headerLines: [String] {
            guard let end = text.range(of: "\r\n\r\n") else { return [] }
            return text[..<end.lowerBound].components(separatedBy: "\r\n").dropFirst().map { $0 }
        }
        func header(_ name: String) -> String? {
            for line in headerLines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].lowercased() == name.lowercased() { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
            }
            return nil
        }
        var body: String {
            guard let end = text.range(of: "\r\n\r\n") else { return "" }
            return String(text[end.upperBound...])
        }
    }

    static func connect(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
    }

    /// Sends `request` and reads until the server closes the connection (at most 5 s).
    static func exchange(_ request: String, port: Int) async throws -> Response {
        let channel = try await connect(port: port)
        let deadline = channel.channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.channel.close(promise: nil) }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var received = ByteBuffer()
            for try await var chunk in inbound { received.writeBuffer(&chunk) }
            return Response(text: String(buffer: received))
        }
    }
}

extension TimeAmount {
    var duration: Duration { .nanoseconds(nanoseconds) }
}
