import ArgumentParser
import Foundation
import PhalanxClient
import PhalanxResilience

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit tasks of one kind; with --wait, wait for and print their outcomes.",
        discussion: """
            Kinds: echo (returns the payload), sleep (payload: milliseconds), sha256 (payload: byte count), \
            fail (payload: business|system[:probability]).
            Exit codes: 0 all accepted (and, with --wait, all succeeded); 1 error; 2 configuration error; 3 some tasks failed.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Option(help: "The task kind.")
    var kind: String

    @Option(help: "The payload, as text.")
    var payload: String = ""

    @Option(help: "How many tasks to submit.")
    var count: Int = 1

    @Option(help: "Each task must finish within this many milliseconds.")
    var timeoutMs: Int?

    @Flag(help: "Wait for every task's outcome and print it.")
    var wait = false

    func validate() throws {
        guard (1...10_000_000).contains(count) else { throw ValidationError("--count must be in 1...10000000, got \(count)") }
        if let timeoutMs, timeoutMs <= 0 { throw ValidationError("--timeout-ms must be positive, got \(timeoutMs)") }
    }

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config)
        let prefix = "\(Int(Date().timeIntervalSince1970 * 1000))-\(UInt32.random(in: 0...UInt32.max))"
        let requests = (0..<count).map { index in
            TaskRequest(taskID: "\(prefix)-\(index)", kind: kind, text: payload, timeout: timeoutMs.map { .milliseconds($0) })
        }
        let started = ContinuousClock.now
        try await reportingErrors { try await connection.submit(requests) }
        guard wait else {
            print(client.json ? "{\"accepted\":\(count)}" : "accepted \(count) task(s)")
            await connection.close()
            return
        }
        var failures = 0
        var lines: [[String: Any]] = []
        for request in requests {
            let outcome = await connection.outcome(of: request.taskID)
            switch outcome.result {
            case .success(let bytes):
                let text = String(decoding: bytes, as: UTF8.self)
                if client.json {
                    lines.append(["task_id": outcome.taskID, "ok": true, "output": text, "worker": outcome.worker ?? ""])
                } else if count <= 20 {
                    print("\(outcome.taskID) ok (\(outcome.worker ?? "?")): \(text)")
                }
            case .failure(let error):
                failures += 1
                if client.json {
                    lines.append([
                        "task_id": outcome.taskID, "ok": false, "code": error.code.rawValue, "class": error.failureClass.rawValue,
                        "message": error.message, "origin_node": error.originNode ?? "", "trace_id": error.traceID ?? "",
                    ])
                } else if count <= 20 || failures <= 5 {
                    print("\(outcome.taskID) FAILED \(error)")
                }
            }
        }
        let seconds = (ContinuousClock.now - started).seconds
        if client.json {
            let summary: [String: Any] = ["tasks": count, "succeeded": count - failures, "failed": failures, "seconds": seconds, "results": lines]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("\(count) task(s): \(count - failures) succeeded, \(failures) failed in \(String(format: "%.3f", seconds)) s")
        }
        await connection.close()
        if failures > 0 { throw ExitCode(3) }
    }
}
