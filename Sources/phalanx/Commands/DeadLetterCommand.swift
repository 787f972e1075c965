import ArgumentParser
import Foundation
import PhalanxClient

struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "The dead-letter queue: tasks that lost coordinator.max_attempts workers (admin certificate).",
        discussion: """
            dlq list — the oldest entries (as many as fit a frame, at most 1,000).
            dlq retry CLIENT/ID… | --all — accept them again under their own client and id; their client gets the outcome with `phalanx result ID`.
            dlq purge CLIENT/ID… | --all — forget them.
            Exit codes: 0 done; 1 error, or some named task was not in the queue; 2 configuration or usage error.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Argument(help: "list, retry or purge.")
    var action: String

    @Argument(help: "Tasks as CLIENT/TASK_ID (as `dlq list` prints them).")
    var tasks: [String] = []

    @Flag(help: "retry or purge every task in the queue.")
    var all = false

    func validate() throws {
        guard ["list", "retry", "purge"].contains(action) else { throw ValidationError("the action is list, retry or purge, got '\(action)'") }
        if action == "list" {
            guard tasks.isEmpty, !all else { throw ValidationError("dlq list lists the whole queue: it takes no tasks and no --all (those are for retry and purge)") }
        } else {
            guard all != !tasks.isEmpty else { throw ValidationError("dlq \(action) takes CLIENT/TASK_ID… or --all (one of them)") }
            for task in tasks where DeadLetterEntry.Key(task) == nil {
                throw ValidationError("'\(task)' is not CLIENT/TASK_ID (as dlq list prints it)")
            }
        }
    }

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config, defaultName: "admin")
        let keys = tasks.compactMap(DeadLetterEntry.Key.init)
        let request: DeadLetterAction
        switch (action, all) {
        case ("retry", true): request = .retryAll
        case ("retry", false): request = .retry(keys)
        case ("purge", true): request = .purgeAll
        case ("purge", false): request = .purge(keys)
        default: request = .list
        }
        let report = try await reportingErrors { try await connection.deadLetters(request) }
        let (entries, missing) = (report.entries, report.missing)
        await connection.close()
        if client.json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            struct Report: Encodable { let action: String; let entries: [DeadLetterEntry]; let omitted: Int; let missing: [String] }
            let json = Report(action: action, entries: entries, omitted: report.omitted, missing: missing.map(\.description))
            print(String(decoding: try encoder.encode(json), as: UTF8.self))
        } else {
            let verb = ["list": "", "retry": "retried ", "purge": "purged "][action]!
            for entry in entries {
                print("\(verb)\(entry.key) kind \(entry.kind), \(entry.attempts) attempt(s), \(entry.code): \(entry.reason)")
            }
            if report.omitted > 0 {
                let what = action == "list" ? "in the queue" : (action == "retry" ? "retried" : "purged")
                print("… and \(report.omitted) more \(what), not listed (a reply fits this client's limits.max_frame_bytes; a list shows at most the 1,000 oldest)")
            }
            for key in missing { print("\(key) is not in the dead-letter queue") }
            if entries.isEmpty && missing.isEmpty && report.omitted == 0 { print(action == "list" ? "the dead-letter queue is empty" : "nothing to \(action)") }
        }
        if !missing.isEmpty { throw ExitCode(1) }
    }
}
