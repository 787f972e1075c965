import ArgumentParser
import Foundation
import PhalanxClient

struct BreakerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breaker",
        abstract: "List the coordinator's per-worker circuit breakers, or force one open or closed (admin certificate).",
        discussion: """
            list: every worker's breaker state (closed, open, half_open, forced_open).
            open NAME: send worker NAME no tasks until it is closed again.
            close NAME: close NAME's breaker with a fresh window (ends a forced open).
            Exit codes: 0 ok; 1 refused or unreachable; 2 usage or configuration error.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Argument(help: "list, open or close.")
    var action: String

    @Argument(help: "The worker (for open and close).")
    var worker: String?

    func validate() throws {
        switch action {
        case "list": guard worker == nil else { throw ValidationError("'breaker list' takes no worker name") }
        case "open", "close": guard worker != nil else { throw ValidationError("'breaker \(action)' needs a worker name, e.g. breaker \(action) w1") }
        default: throw ValidationError("unknown action '\(action)'; use list, open NAME or close NAME")
        }
    }

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config, defaultName: "admin")
        let command: BreakerAction =
            switch action {
            case "open": .open(worker: worker!)
            case "close": .close(worker: worker!)
            default: .list
            }
        let breakers = try await reportingErrors { try await connection.breakers(command) }
        await connection.close()
        if client.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(breakers), as: UTF8.self))
            return
        }
        if breakers.isEmpty { print("no workers") }
        for breaker in breakers { print("\(breaker.worker): \(breaker.state)") }
    }
}
