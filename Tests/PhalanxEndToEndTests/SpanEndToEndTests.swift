import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

/// With `log.spans`, the coordinator logs `submit` and `dispatch` spans and the worker a `run`
/// span per task (swift-distributed-tracing), under the task's trace; the run span's id is the one
/// on the worker's own log lines for the task.
@Suite struct SpanEndToEndTests {
    /// The JSON log lines of `log` that are spans named `operation` in `trace`.
    static func spans(_ log: String, operation: String, trace: String) -> [[String: String]] {
        log.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String] else { return nil }
            return object["message"] == "span" && object["operation"] == operation && object["trace_id"] == trace ? object : nil
        }
    }

    @Test func spansOnBothNodesShareTheTaskTraceAndTheRunSpanIsTheWorkersLogSpan() async throws {
        let cluster = try ClusterProcesses(settings: ["log.spans=true"])
        defer { cluster.stopAll() }
        let client = try await cluster.startWithWorkers(["w1"])
        let outcomes = try await client.run([TaskRequest(taskID: "traced", kind: "fail", text: "business")])
        guard case .failure(let error) = outcomes[0].result, let trace = error.traceID else {
            Issue.record("expected a failure with a trace id, got \(outcomes[0].result)")
            return
        }
        try await eventually("the worker logs its run span, the coordinator its dispatch span") {
            !Self.spans(cluster.log("w1"), operation: "run", trace: trace).isEmpty
                && !Self.spans(cluster.log("coordinator"), operation: "dispatch", trace: trace).isEmpty
        }
        let run = try #require(Self.spans(cluster.log("w1"), operation: "run", trace: trace).first)
        let dispatch = try #require(Self.spans(cluster.log("coordinator"), operation: "dispatch", trace: trace).first)
        #expect(run["task_id"] == "traced" && run["attempt"] == "1" && run["worker"] == "w1" && run["status"] == "error", "\(run)")
        #expect(run["error"]?.contains("BUSINESS_REJECTED") == true, "\(run)")
        #expect(dispatch["task_id"] == "traced" && dispatch["worker"] == "w1", "\(dispatch)")
        // Both are children of the task's accept span (whose id is the task's own span id), and each has its own id.
        let accept = try #require(Self.spans(cluster.log("coordinator"), operation: "accept", trace: trace).first)
        #expect(accept["task_id"] == "traced" && accept["parent_span_id"] == nil, "\(accept)")
        #expect(run["parent_span_id"] == accept["span_id"] && dispatch["parent_span_id"] == accept["span_id"], "\(accept) \(run) \(dispatch)")
        #expect(run["span_id"] != dispatch["span_id"] && run["span_id"]?.count == 16)
        // The worker's own line about the failure carries the run span's id.
        let failureLine = cluster.log("w1").split(separator: "\n").first { $0.contains("task failed") && $0.contains(trace) } ?? ""
        #expect(failureLine.contains("\"span_id\":\"\(run["span_id"] ?? "-")\""), "\(failureLine)")
        #expect(cluster.log("coordinator").contains("\"operation\":\"submit\""), "the submit span is logged too")
        await client.close()
    }

    @Test func withoutLogSpansNoSpanIsLogged() async throws {
        let cluster = try ClusterProcesses()
        defer { cluster.stopAll() }
        let client = try await cluster.startWithWorkers(["w1"])
        _ = try await client.run([TaskRequest(taskID: "plain", kind: "echo", text: "x")])
        #expect(!cluster.log("w1").contains("\"message\":\"span\"") && !cluster.log("coordinator").contains("\"message\":\"span\""))
        await client.close()
    }
}
