import ArgumentParser
import PhalanxClient

struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Ask a worker to drain and stop, as SIGTERM would (admin certificate).",
        discussion: """
            The worker takes no new tasks, lets running ones finish within its worker.drain_grace_ms, hands the rest back \
            to the coordinator (they run elsewhere) and exits 0. This command returns once the worker was asked.
            Exit codes: 0 asked; 1 unknown worker or coordinator unreachable; 2 usage or configuration error.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Argument(help: "The worker to drain.")
    var worker: String

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config, defaultName: "admin")
        try await reportingErrors { try await connection.drain(worker: worker) }
        await connection.close()
        print(client.json ? #"{"drain_requested":"\#(worker)"}"# : "asked \(worker) to drain")
    }
}
