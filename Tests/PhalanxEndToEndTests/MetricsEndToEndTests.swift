import Foundation
import NIOHTTP1
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import PhalanxTransport
import Testing

extension EndToEnd {
    /// The coordinator's and a worker's operations endpoints, scraped over plain HTTP from real processes.
    @Suite(.timeLimit(.minutes(1))) struct MetricsEndToEndTests {
        static func get(_ port: Int, _ path: String) async throws -> (status: HTTPResponseStatus, text: String) {
            let endpoint = try #require(try HTTPEndpoint.parse("http://127.0.0.1:\(port)\(path)"))
            let (status, body) = try await PlainHTTPClient.request(.GET, endpoint)
            return (status, String(decoding: body, as: UTF8.self))
        }

        @Test func theCoordinatorsMetricsCountWhatRanAndItsStatusPageListsTheWorker() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let workerPortFile = cluster.directory.appendingPathComponent("w1-metrics-port").path
            try await cluster.startCoordinator()
            try cluster.startWorker("w1", ["--metrics-port-file", workerPortFile])
            let client = try await cluster.client()
            try await cluster.waitForWorkers(1, using: client)
            let port = try #require(cluster.coordinatorMetricsPort(), "the coordinator wrote its metrics port")

            let (echoes, failures) = (7, 3)
            let requests = (0..<echoes).map { TaskRequest(taskID: "echo-\($0)", kind: "echo", text: "e\($0)") }
                + (0..<failures).map { TaskRequest(taskID: "fail-\($0)", kind: "fail", text: "business:1") }
            let outcomes = try await client.run(requests)
            let traces = outcomes.compactMap { outcome -> String? in
                if case .failure(let error) = outcome.result { return error.traceID }
                return nil
            }
            #expect(traces.count == failures, "\(outcomes.map(\.result))")

            var scraped = Exposition("")
            try await eventually("the coordinator's metrics show every task") {
                scraped = Exposition(try await Self.get(port, "/metrics").text)
                return scraped.value("phalanx_task_latency_seconds_count") == Double(echoes + failures)
            }
            #expect(scraped.value("phalanx_tasks_submitted_total") == Double(echoes + failures), "\(scraped.text)")
            #expect(scraped.value("phalanx_tasks_succeeded_total") == Double(echoes))
            #expect(scraped.value("phalanx_tasks_failed_total", ["class": "business", "code": "BUSINESS_REJECTED"]) == Double(failures))
            #expect(scraped.samples("phalanx_tasks_failed_total").filter { $0.value > 0 }.count == 1, "no other failures: \(scraped.samples("phalanx_tasks_failed_total"))")
            #expect(scraped.value("phalanx_task_latency_seconds_count") == Double(echoes + failures))
            #expect(scraped.value("phalanx_task_dispatch_latency_seconds_count") == Double(echoes + failures))
            #expect(scraped.value("phalanx_tasks_retried_total") == 0, "business failures are not retried")
            #expect(scraped.value("phalanx_retries_refused_total") == 0, "exported from the start, so that rate() sees the first refusal")
            #expect(scraped.value("phalanx_workers", ["state": "active"]) == 1)
            #expect(scraped.value("phalanx_breaker_state", ["worker": "w1", "state": "closed"]) == 1)
            #expect(scraped.value("phalanx_queue_depth", ["priority": "normal"]) == 0)
            #expect(scraped.help("phalanx_tasks_submitted_total") != nil && scraped.type("phalanx_tasks_submitted_total") == "counter")

            let healthz = try await Self.get(port, "/healthz")
            #expect(healthz.status == .ok)
            let readyz = try await Self.get(port, "/readyz")
            #expect(readyz.status == .ok && readyz.text == "ready\n", "\(readyz)")

            let page = try await Self.get(port, "/")
            #expect(page.status == .ok)
            #expect(page.text.contains("<tr class=\"member\"><td>w1</td><td>worker</td><td>active</td>"), "\(page.text)")
            #expect(page.text.contains("data-count=\"accepted\"><b>\(echoes + failures)</b>"))
            #expect(page.text.contains("data-count=\"failed\"><b>\(failures)</b>"))
            for trace in traces { #expect(page.text.contains(trace), "the recent failures show trace \(trace)") }
            #expect(try await Self.get(port, "/nope").status == .notFound)

            // The worker's own endpoint counts what it ran, by kind and outcome.
            let workerPort = try #require(
                (try? String(contentsOfFile: workerPortFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
            let worker = Exposition(try await Self.get(workerPort, "/metrics").text)
            #expect(worker.value("phalanx_worker_tasks_total", ["kind": "echo", "outcome": "succeeded"]) == Double(echoes), "\(worker.text)")
            #expect(worker.value("phalanx_worker_tasks_total", ["kind": "fail", "outcome": "failed"]) == Double(failures))
            #expect(worker.value("phalanx_worker_connected") == 1)
            #expect(try await Self.get(workerPort, "/readyz").status == .ok)
            await client.close()
        }

        @Test func statusJSONShowsAKilledWorkerGoneAndTheRecentFailuresWithTheirTraceIDs() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            let outcomes = try await client.run((0..<3).map { TaskRequest(taskID: "bad-\($0)", kind: "fail", text: "business") })
            let traces = Set(outcomes.compactMap { outcome -> String? in
                if case .failure(let error) = outcome.result { return error.traceID }
                return nil
            })
            #expect(traces.count == 3)
            await client.close()
            cluster.kill("w1")
            func status() throws -> [String: Any] {
                let (code, stdout, stderr) = try ClusterProcesses.runToCompletion(["status", "--json"] + cluster.clientArguments)
                #expect(code == 0, "\(stderr)")
                return (try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]) ?? [:]
            }
            var json: [String: Any] = [:]
            try await eventually("the killed worker leaves the status") {
                json = (try? status()) ?? [:]
                let names = (json["workers"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
                return names == ["w2"]
            }
            let failures = json["failures"] as? [[String: Any]] ?? []
            #expect(failures.count == 1 && failures.first?["code"] as? String == "BUSINESS_REJECTED" && failures.first?["count"] as? Int == 3, "\(failures)")
            let recent = json["recent_failures"] as? [[String: Any]] ?? []
            #expect(Set(recent.compactMap { $0["trace_id"] as? String }) == traces, "\(recent)")
            #expect(recent.allSatisfy { $0["client"] as? String == "client" && ($0["task_id"] as? String)?.hasPrefix("bad-") == true })
        }

        @Test func sigtermWithManyIdleMetricsConnectionsOpenStillExitsZero() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let port = try #require(cluster.coordinatorMetricsPort())
            // 40 TCP connections that never send a request (more than a scrape needs, fewer than the bound).
            var sockets: [Int32] = []
            defer { for socket in sockets { close(socket) } }
            for _ in 0..<40 {
                let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                #expect(connected == 0)
                sockets.append(socket)
            }
            #expect(try await Self.get(port, "/healthz").status == .ok, "idle connections do not keep a probe out")
            cluster.signal("coordinator", SIGTERM)
            let status = try await cluster.waitForExit("coordinator", within: .seconds(10))
            #expect(status == 0, "a graceful stop, not a crash: \(cluster.log("coordinator").suffix(2000))")
            #expect(cluster.log("coordinator").contains("coordinator stopped"))
        }

        @Test func aCoordinatorWhoseMetricsPortIsInUseExitsOneNamingIt() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let taken = try #require(cluster.coordinatorMetricsPort())
            let second = try ClusterProcesses.runToCompletion(
                ["coordinator"] + cluster.commonArguments + [
                    "--set", "coordinator.port=0", "--set", "coordinator.data_dir=\(cluster.directory.path)/second",
                    "--set", "metrics.coordinator_address=127.0.0.1:\(taken)",
                ])
            #expect(second.status == 1, "a port in use is a runtime error, as for the cluster port: \(second.stderr)")
            #expect(second.stderr.contains("127.0.0.1:\(taken)") && second.stderr.contains("in use"), "\(second.stderr)")
            #expect(!second.stderr.contains("coordinator listening"), "it stops before it takes work")
            #expect(try await Self.get(taken, "/healthz").status == .ok, "the first coordinator still serves its endpoint")
        }
    }
}

extension EndToEnd {
    /// `log.loki_url`: a node pushes its JSON log lines to Loki, the last ones at shutdown included.
    @Suite(.timeLimit(.minutes(1))) struct LokiEndToEndTests {
        static func lines(_ loki: LokiPushReceiver) -> [(labels: [String: String], line: String)] {
            loki.pushes.flatMap { push -> [(labels: [String: String], line: String)] in
                guard let object = try? JSONSerialization.jsonObject(with: Data(push.body)) as? [String: Any],
                    let streams = object["streams"] as? [[String: Any]]
                else { return [] }
                return streams.flatMap { stream -> [(labels: [String: String], line: String)] in
                    let labels = stream["stream"] as? [String: String] ?? [:]
                    return (stream["values"] as? [[String]] ?? []).map { (labels, $0.last ?? "") }
                }
            }
        }

        @Test func aCoordinatorPushesItsLogLinesToLokiUpToItsLastOne() async throws {
            try await LokiPushReceiver.with { loki in
                let cluster = try ClusterProcesses()
                defer { cluster.stopAll() }
                try await cluster.startCoordinator(["--set", "log.loki_url=http://127.0.0.1:\(loki.port)/loki/api/v1/push"])
                try await eventually("the coordinator's start-up lines reach Loki") {
                    Self.lines(loki).contains { $0.line.contains("\"message\":\"coordinator listening\"") }
                }
                let first = try #require(Self.lines(loki).first { $0.line.contains("coordinator listening") })
                #expect(first.labels == ["cluster": "demo", "node": "coordinator", "role": "coordinator"], "\(first.labels)")
                let object = try #require(JSONSerialization.jsonObject(with: Data(first.line.utf8)) as? [String: String])
                #expect(object["node"] == "coordinator" && object["level"] == "notice" && object["time"] != nil, "\(object)")
                #expect(cluster.log("coordinator").contains(first.line), "the same JSON line as on standard error")

                cluster.signal("coordinator", SIGTERM)
                #expect(try await cluster.waitForExit("coordinator", within: .seconds(15)) == 0, "\(cluster.log("coordinator"))")
                #expect(Self.lines(loki).contains { $0.line.contains("\"message\":\"coordinator stopped\"") }, "the last line is pushed before exit")
            }
        }
    }
}
