import Logging
import Metrics
import NIOHTTP1
import PhalanxResilience
import Synchronization
import Testing

@testable import PhalanxCluster
import PhalanxTesting
@testable import PhalanxTransport

@Suite struct OpsAddressTests {
    @Test func hostAndPortAreParsed() throws {
        let address = try OpsAddress.parse("127.0.0.1:9464", key: "metrics.coordinator_address")
        #expect(address == OpsAddress(host: "127.0.0.1", port: 9464))
        #expect(address?.description == "127.0.0.1:9464")
        #expect(try OpsAddress.parse("  0.0.0.0:65535 ", key: "k") == OpsAddress(host: "0.0.0.0", port: 65_535), "at the largest port")
    }

    @Test func anIPv6HostIsWrittenInBracketsAndPortZeroPicksAFreeOne() throws {
        let address = try OpsAddress.parse("[::1]:0", key: "k")
        #expect(address == OpsAddress(host: "::1", port: 0))
        #expect(address?.description == "[::1]:0")
    }

    @Test func anEmptyStringIsNoEndpoint() throws {
        #expect(try OpsAddress.parse("", key: "k") == nil)
        #expect(try OpsAddress.parse("   ", key: "k") == nil)
    }

    @Test func anAddressWithoutAPortIsRefusedNamingTheKey() {
        #expect {
            try OpsAddress.parse("nohost", key: "metrics.worker_address")
        } throws: { error in
            let message = (error as? OpsAddressError)?.message ?? ""
            return message.contains("metrics.worker_address = \"nohost\" has no port") && message.contains("127.0.0.1:9464")
        }
    }

    @Test func aPortPast65535OrNotANumberOrAMissingHostIsRefused() {
        for bad in ["h:99999", "h:65536", "h:-1", "h:x", "h:", ":9464", "[]:9464"] {
            #expect("\(bad)") {
                try OpsAddress.parse(bad, key: "metrics.coordinator_address")
            } throws: { error in
                (error as? OpsAddressError)?.message.contains("metrics.coordinator_address = \"\(bad)\"") == true
            }
        }
    }
}

@Suite struct OpsEndpointTests {
    static func request(_ path: String, query: String = "") -> OpsRequest {
        OpsRequest(method: .GET, path: path, query: query)
    }

    static func text(_ response: OpsResponse) -> String { String(decoding: response.body, as: UTF8.self) }

    static func endpoint(
        ready: Bool = true, reason: String = "", pages: @escaping @Sendable (OpsRequest) async -> OpsResponse? = { _ in nil }
    ) -> OpsEndpoint {
        OpsEndpoint(metrics: NodeMetrics(), refresh: {}, readiness: { (ready, reason) }, pages: pages)
    }

    @Test func healthzIsOKWhileTheProcessServes() async {
        let response = await Self.endpoint(ready: false, reason: "starting").respond(to: Self.request("/healthz"))
        #expect(response.status == .ok && Self.text(response) == "ok\n", "alive even when not ready")
    }

    @Test func readyzIs200WhenReadyAnd503WithTheReasonWhenNot() async {
        let ready = await Self.endpoint().respond(to: Self.request("/readyz"))
        #expect(ready.status == .ok && Self.text(ready) == "ready\n")
        let notReady = await Self.endpoint(ready: false, reason: "the ledger cannot be written").respond(to: Self.request("/readyz"))
        #expect(notReady.status == .serviceUnavailable)
        #expect(Self.text(notReady) == "not ready: the ledger cannot be written\n")
    }

    @Test func metricsRefreshesFirstAndReturnsTheExposition() async {
        let metrics = NodeMetrics()
        let counter = Counter(label: MetricName.tasksSubmitted, factory: metrics.factory)
        let refreshes = Mutex(0)
        let endpoint = OpsEndpoint(
            metrics: metrics,
            refresh: {
                refreshes.withLock { $0 += 1 }
                counter.increment()
            }, readiness: { (true, "") })
        let first = await endpoint.respond(to: Self.request("/metrics"))
        #expect(first.status == .ok && first.contentType == NodeMetrics.contentType)
        #expect(Exposition(first.body).value(MetricName.tasksSubmitted) == 1, "what refresh recorded is in this very scrape")
        let second = await endpoint.respond(to: Self.request("/metrics"))
        #expect(Exposition(second.body).value(MetricName.tasksSubmitted) == 2)
        #expect(refreshes.withLock { $0 } == 2, "one refresh per scrape")
        _ = await endpoint.respond(to: Self.request("/healthz"))
        _ = await endpoint.respond(to: Self.request("/readyz"))
        #expect(refreshes.withLock { $0 } == 2, "other paths do not refresh")
    }

    @Test func pagesAnswerTheirPathsAndAnUnknownPathIs404() async {
        let endpoint = Self.endpoint(pages: { request in
            request.path == "/" ? OpsResponse(contentType: "text/html; charset=utf-8", body: Array("<p>status \(request.query)</p>".utf8)) : nil
        })
        let page = await endpoint.respond(to: Self.request("/", query: "x=1"))
        #expect(page.status == .ok && page.contentType == "text/html; charset=utf-8" && Self.text(page) == "<p>status x=1</p>")
        let missing = await endpoint.respond(to: Self.request("/nope"))
        #expect(missing.status == .notFound)
        #expect(Self.text(missing).contains("no page /nope") && Self.text(missing).contains("/metrics"))
        let withoutPages = await Self.endpoint().respond(to: Self.request("/"))
        #expect(withoutPages.status == .notFound)
    }

    @Test func pagesCannotShadowTheFixedPaths() async {
        let endpoint = Self.endpoint(pages: { _ in OpsResponse(text: "page") })
        #expect(Self.text(await endpoint.respond(to: Self.request("/healthz"))) == "ok\n")
        #expect(Self.text(await endpoint.respond(to: Self.request("/readyz"))) == "ready\n")
        #expect(Self.text(await endpoint.respond(to: Self.request("/other"))) == "page")
    }

    @Test func bindingAPortInUseIsUnavailableNamingIt() async throws {
        let logger = Logger(label: "test")
        let first = try await OpsEndpoint.bind(OpsAddress(host: "127.0.0.1", port: 0), logger: logger)
        do {
            let second = try await OpsEndpoint.bind(OpsAddress(host: "127.0.0.1", port: first.port), logger: logger)
            await second.close()
            Issue.record("bound a port in use")
        } catch let error as ErrorContext {
            #expect(error.code == .unavailable, "a runtime condition, like the cluster port in use: exit 1")
            #expect(error.message.contains("127.0.0.1:\(first.port)") && error.message.contains("in use"), "\(error)")
        }
        await first.close()
    }

    @Test func bindingAnAddressOfAnotherMachineIsAStartupError() async throws {
        do {
            let server = try await OpsEndpoint.bind(OpsAddress(host: "203.0.113.7", port: 0), logger: Logger(label: "test"))
            await server.close()
            Issue.record("bound an address that is not this machine's")
        } catch let error as StartupError {
            #expect(error.context.code == .invalidArgument && error.context.message.contains("203.0.113.7"), "\(error)")
        }
    }
}
