import ArgumentParser
import Foundation

/// The `phalanx` command line: one subcommand per file under Commands/.
@main
struct Phalanx: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phalanx",
        abstract: "A distributed task cluster with four layers of defense.",
        subcommands: [
            CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self, StatusCommand.self, BenchCommand.self,
            BreakerCommand.self, DrainCommand.self, ResultCommand.self, CancelCommand.self, DeadLetterCommand.self,
            TransactionCommand.self, SagaCommand.self, BankCommand.self, AuditCommand.self,
        ])

    /// Parses and runs the command. Usage errors exit 2, as README documents (ArgumentParser's own is 64).
    static func main() async {
        if let problem = CommandLineLimit.problem(Array(CommandLine.arguments.dropFirst())) {
            FileHandle.standardError.write(Data("Error: \(problem)\n".utf8))
            Foundation.exit(2)
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
