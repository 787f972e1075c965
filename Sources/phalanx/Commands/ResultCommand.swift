import ArgumentParser
import Foundation
import PhalanxClient
import PhalanxResilience

struct ResultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "result",
        abstract: "Print the outcomes of tasks by id (submitted under this client certificate, by any process, also before a coordinator restart).",
        discussion: """
            Finished tasks are kept for coordinator.retention_ms. Without --wait, unfinished tasks are reported as pending.
            Exit codes: 0 every task succeeded (or is pending, without --wait); 1 error, or some task is unknown; 2 configuration error; \
            3 some tasks failed.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @OptionGroup var ids: TaskIDOptions

    @Flag(help: "Wait for unfinished tasks to finish (reconnecting if the coordinator restarts).")
    var wait = false

    func run() async throws {
        let config = try common.load()
        let taskIDs = try ids.load()
        let started = ContinuousClock.now
        let client = client
        var waiter = ReattachingWaiter(connection: try await client.connect(config), reconnectWindow: .seconds(60)) {
            try await client.dial(config)
        }
        let lookup = try await reportingErrors { try await waiter.connection.attach(taskIDs) }
        let pending = Set(lookup.pending)
        let unknown = Set(lookup.unknown)
        var report = OutcomeReport(json: client.json, listAllUpTo: .max)
        var seen = Set<String>()
        let ordered = taskIDs.filter { seen.insert($0).inserted }
        for (index, taskID) in ordered.enumerated() {
            if unknown.contains(taskID) {
                report.addUnknown(taskID)
            } else if pending.contains(taskID) && !wait {
                report.addPending(taskID)
            } else {
                let outcome = try await reportingErrors { try await waiter.outcome(of: taskID, outstanding: ordered[index...]) }
                report.add(outcome, total: ordered.count)
            }
        }
        await waiter.connection.close()
        try report.finish(seconds: (ContinuousClock.now - started).seconds)
        if report.unknown > 0 { throw ExitCode(1) }
        if report.failed > 0 { throw ExitCode(3) }
    }
}
