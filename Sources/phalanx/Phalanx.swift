import ArgumentParser

/// The `phalanx` command line: one subcommand per file under Commands/.
@main
struct Phalanx: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phalanx",
        abstract: "A distributed task cluster with four layers of defense.",
        subcommands: [CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self, StatusCommand.self, BenchCommand.self])
}
