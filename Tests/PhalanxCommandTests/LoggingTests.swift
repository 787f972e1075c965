import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PhalanxTesting
import PhalanxTransport
import Synchronization
import Testing

@testable import phalanx

/// A node's log lines: JSON objects (or text for a terminal) on standard error.
@Suite struct NodeLogHandlerTests {
    static let time = Date(timeIntervalSince1970: 1_700_000_000.125)

    static func object(_ line: String) throws -> [String: String] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "\(line)")
    }

    @Test func aJSONLineHasTheFixedKeysAndEveryMetadataField() throws {
        let line = NodeLogHandler.json(
            time: Self.time, level: .warning, node: "w1", logger: "phalanx.worker", message: "task failed",
            fields: ["trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "task_id": "t/1", "code": "BUSINESS_REJECTED"])
        #expect(!line.contains("\n"), "one line")
        let object = try Self.object(line)
        #expect(object == [
            "time": "2023-11-14T22:13:20.125Z", "level": "warning", "node": "w1", "logger": "phalanx.worker", "message": "task failed",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "task_id": "t/1", "code": "BUSINESS_REJECTED",
        ])
        #expect(line.contains("\"task_id\":\"t/1\""), "slashes are not escaped: \(line)")
        #expect(line.hasPrefix("{\"code\":"), "keys sorted: \(line)")
    }

    @Test func metadataNeverReplacesTheFixedKeys() throws {
        let line = NodeLogHandler.json(
            time: Self.time, level: .info, node: "coordinator", logger: "phalanx.coordinator", message: "the real message",
            fields: ["message": "forged", "level": "critical", "node": "other", "time": "never", "logger": "x"])
        let object = try Self.object(line)
        #expect(object["message"] == "the real message" && object["level"] == "info" && object["node"] == "coordinator")
        #expect(object["time"] == "2023-11-14T22:13:20.125Z" && object["logger"] == "phalanx.coordinator")
    }

    @Test func quotesNewlinesAndControlCharactersStayInsideOneJSONLine() throws {
        let message = "line one\nline \"two\"\t\u{1}"
        let line = NodeLogHandler.json(time: Self.time, level: .error, node: "n", logger: "l", message: message, fields: ["k": "a\nb"])
        #expect(!line.contains("\n"))
        let object = try Self.object(line)
        #expect(object["message"] == message && object["k"] == "a\nb")
    }

    @Test func aTextLineIsTimeLevelNodeMessageAndSortedFieldsWithSpacesQuoted() {
        let line = NodeLogHandler.text(
            time: Self.time, level: .notice, node: "w1", message: "worker registered", fields: ["kinds": "echo,fail", "b": "two words", "a": ""])
        #expect(line == "2023-11-14T22:13:20.125Z NOTICE  w1 worker registered a=\"\" b=\"two words\" kinds=echo,fail")
    }
}

/// The Loki push: one request per batch from a bounded buffer, never blocking the logger.
@Suite(.timeLimit(.minutes(1))) struct LokiShipperTests {
    static func shipper(_ loki: LokiPushReceiver) throws -> LokiShipper {
        let endpoint = try #require(try HTTPEndpoint.parse("http://127.0.0.1:\(loki.port)/loki/api/v1/push"))
        return LokiShipper(endpoint: endpoint, cluster: "demo", node: "w1", role: "worker")
    }

    /// The `values` of the one stream in a push body, and its labels.
    static func decode(_ body: [UInt8]) throws -> (labels: [String: String], values: [[String]]) {
        let object = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let streams = try #require(object["streams"] as? [[String: Any]])
        #expect(streams.count == 1)
        let labels = try #require(streams.first?["stream"] as? [String: String])
        let values = try #require(streams.first?["values"] as? [[String]])
        return (labels, values)
    }

    @Test func thePushBodyIsOneStreamWithNanosecondTimestampsAsStrings() throws {
        let body = LokiShipper.pushBody(
            [(1_700_000_000_125_000_000, "{\"message\":\"a\"}"), (1_700_000_000_126_000_000, "{\"message\":\"b\"}")],
            labels: ["cluster": "demo", "node": "w1", "role": "worker"])
        let (labels, values) = try Self.decode(body)
        #expect(labels == ["cluster": "demo", "node": "w1", "role": "worker"])
        #expect(values == [["1700000000125000000", "{\"message\":\"a\"}"], ["1700000000126000000", "{\"message\":\"b\"}"]])
    }

    @Test func aFlushSendsEverythingBufferedInOneRequestAndThenNothing() async throws {
        try await LokiPushReceiver.with { loki in
            let shipper = try Self.shipper(loki)
            shipper.enqueue("{\"message\":\"one\"}", at: Date(timeIntervalSince1970: 1))
            shipper.enqueue("{\"message\":\"two\"}", at: Date(timeIntervalSince1970: 2))
            await shipper.flush()
            let pushes = loki.pushes
            #expect(pushes.count == 1)
            #expect(pushes.first?.path == "/loki/api/v1/push" && pushes.first?.method == .POST)
            #expect(pushes.first?.contentType == "application/json")
            let (labels, values) = try Self.decode(pushes.first?.body ?? [])
            #expect(labels == ["cluster": "demo", "node": "w1", "role": "worker"], "labels: cluster, node and role only")
            #expect(values == [["1000000000", "{\"message\":\"one\"}"], ["2000000000", "{\"message\":\"two\"}"]])
            await shipper.flush()
            #expect(loki.pushes.count == 1, "an empty buffer sends nothing")
        }
    }

    @Test func aRefusedBatchIsRetriedOnceThenDropped() async throws {
        try await LokiPushReceiver.with(status: .internalServerError) { loki in
            let shipper = try Self.shipper(loki)
            shipper.enqueue("{\"message\":\"one\"}", at: Date())
            await shipper.flush()
            #expect(loki.pushes.count == 2, "one retry")
            await shipper.flush()
            #expect(loki.pushes.count == 2, "then dropped, not kept for ever")
        }
    }

    @Test func theBufferHoldsAtMostMaximumLinesAndDropsTheRest() async throws {
        try await LokiPushReceiver.with { loki in
            let shipper = try Self.shipper(loki)
            for index in 0..<(LokiShipper.maximumLines + 5) { shipper.enqueue("l\(index)", at: Date()) }
            await shipper.flush()
            let (_, values) = try Self.decode(loki.pushes.first?.body ?? [])
            #expect(values.count == LokiShipper.maximumLines, "at the bound: every line; past it: dropped")
            #expect(values.last?.last == "l\(LokiShipper.maximumLines - 1)", "the newest are the ones dropped")
        }
    }

    @Test func theBufferHoldsAtMostMaximumBytes() async throws {
        try await LokiPushReceiver.with { loki in
            let shipper = try Self.shipper(loki)
            let big = String(repeating: "x", count: LokiShipper.maximumBytes / 2)
            shipper.enqueue(big, at: Date())
            shipper.enqueue(big, at: Date())  // exactly at the bound
            shipper.enqueue("y", at: Date())  // one byte past it
            await shipper.flush()
            let (_, values) = try Self.decode(loki.pushes.first?.body ?? [])
            #expect(values.count == 2 && values.allSatisfy { $0.last == big })
        }
    }

    @Test func theLinesBufferedWhenTheShipperIsStoppedAreStillSent() async throws {
        try await LokiPushReceiver.with { loki in
            let shipper = try Self.shipper(loki)
            let running = Task { await shipper.run() }
            shipper.enqueue("{\"message\":\"last words\"}", at: Date())
            running.cancel()
            await running.value
            let sent = try loki.pushes.flatMap { try Self.decode($0.body).values.map { $0.last ?? "" } }
            #expect(sent == ["{\"message\":\"last words\"}"], "the final flush after cancellation reaches Loki")
        }
    }
}
