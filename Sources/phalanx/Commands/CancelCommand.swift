import ArgumentParser
import Foundation
import PhalanxClient

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel tasks by id: queued ones end CANCELLED without running, running ones have their handler cancelled on the worker.",
        discussion: "Exit codes: 0 every task was cancelled; 1 error, or some task was not queued or running (finished already, or unknown); 2 configuration error.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @OptionGroup var ids: TaskIDOptions

    func run() async throws {
        let config = try common.load()
        let taskIDs = try ids.load()
        let connection = try await client.connect(config)
        let outcome = try await reportingErrors { try await connection.cancel(taskIDs) }
        await connection.close()
        if client.json {
            try printJSON(["cancelled": outcome.cancelled, "not_running": outcome.notRunning])
        } else {
            for taskID in outcome.cancelled { print("\(taskID) cancelled") }
            for taskID in outcome.notRunning { print("\(taskID) was not queued or running (finished already, or unknown); nothing to cancel") }
        }
        if !outcome.notRunning.isEmpty { throw ExitCode(1) }
    }
}
