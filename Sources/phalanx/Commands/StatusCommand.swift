import ArgumentParser
import Foundation
import PhalanxClient
import PhalanxWire

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the coordinator's view of the cluster: workers, their load and breakers, queues, task counts, recent failures.",
        discussion: "Exit codes: 0 ok; 1 the coordinator could not be reached; 2 configuration error.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config)
        let status = try await reportingErrors { try await connection.status() }
        await connection.close()
        if client.json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
            return
        }
        print("coordinator \(status.coordinator)")
        print("tasks: \(status.tasksAccepted) accepted, \(status.tasksSucceeded) succeeded, \(status.tasksFailed) failed, \(status.tasksQueued) queued, \(status.tasksRunning) on workers, \(status.tasksRecovered) recovered at start")
        print("queues: \(status.queuedHigh) high, \(status.queuedNormal) normal, \(status.queuedLow) low; \(status.tasksRetrying) waiting to retry; \(status.queuedBytes) payload bytes held")
        print("retried \(status.tasksRetried) attempts, dead-lettered \(status.tasksDeadLettered) tasks, \(status.clients) client connections")
        print("workers: \(status.workers.count + Int(status.workersOmitted))")
        for worker in status.workers {
            let state = worker.draining ? ", draining" : ""
            let more = worker.kindsOmitted > 0 ? " and \(worker.kindsOmitted) more" : ""
            let load = worker.prefetch > 0
                ? "\(worker.inFlight) in flight (runs \(worker.capacity) at once, holds \(worker.prefetch) more)" : "\(worker.inFlight)/\(worker.capacity) busy"
            let payloads = worker.maximumPayloadBytes.map { ", payloads up to \($0) bytes" } ?? ""
            print("  \(worker.name.terminalSafe): \(load), \(worker.finished) finished, breaker \(worker.breaker)\(state)\(payloads), kinds \(worker.kinds.joined(separator: ",").terminalSafe)\(more)")
            if let problem = worker.participantProblem {
                print("    PARTICIPANT STORE NOT AVAILABLE (it votes NO on every transaction): \(problem.terminalSafe)")
            }
        }
        if status.workersOmitted > 0 {
            print("  (\(status.workersOmitted) more workers not shown: the status was cut to fit this client's limits.max_frame_bytes)")
        } else if status.workers.contains(where: { $0.kindsOmitted > 0 }) {
            print("  (kinds shortened: the status was cut to fit this client's limits.max_frame_bytes)")
        }
        if !status.failures.isEmpty {
            print("failures by code: " + status.failures.map { "\($0.code) (\($0.failureClass)) \($0.count)" }.joined(separator: ", "))
        }
        if !status.recentFailures.isEmpty || status.recentFailuresOmitted > 0 {
            print("recent failures (newest first):")
            for failure in status.recentFailures {
                let time = WireTime.iso8601(unixMilliseconds: failure.unixMilliseconds)
                let task = "\(failure.client)/\(failure.taskID)".terminalSafe
                print("  \(time) \(task) \(failure.code.terminalSafe) trace \(failure.traceID.terminalSafe)\(failure.worker.map { " on \($0.terminalSafe)" } ?? ""): \(String(failure.message.prefix(120)).terminalSafe)")
            }
            if status.recentFailuresOmitted > 0 {
                print("  (\(status.recentFailuresOmitted) older ones not shown: the status was cut to fit this client's limits.max_frame_bytes)")
            }
        }
    }
}
