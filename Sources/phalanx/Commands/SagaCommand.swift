import ArgumentParser
import Foundation
import PhalanxClient
import PhalanxWire
import PhalanxCore
import PhalanxResilience

struct SagaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saga",
        abstract: "Run a saga: steps that commit one by one on their workers, compensated last first if a later step fails for good.",
        discussion: """
            Each step is one argument: its operations, then '|' and the operations that undo it (none: nothing to undo).
            Operations: \(OperationSyntax.help); several in one step are separated by spaces.
            Example: phalanx saga 'w1:alice-=10 | w1:alice+=10' 'w2:bob+=10 | w2:bob-=10' 'w3:audit=1'
            For a registered resource, the undo NODE:@RESOURCE calls its compensate hook with what the step did there:
            phalanx saga 'w1:@stock/reserve/sku-1=3 | w1:@stock' 'w2:alice-=30 | w2:alice+=30'
            A step refused for business reasons (e.g. a bound) fails at once; one failing for system reasons is tried 5 times.
            Compensations are retried until they commit, also across coordinator restarts. `phalanx tx show ID` shows the history.
            A compensation refused for a reason retrying alone does not change (e.g. a bound: the money was spent), or one that failed
            3 times for system reasons (e.g. its worker is unreachable), is reported with the reason and exits 3; the coordinator goes on
            retrying it every few seconds until it commits.
            Exit codes: 0 completed; 1 compensated (the failed step and its reason are printed) or an error; 2 usage or configuration error;
            3 a compensation is blocked (the saga is not finished and its effects are not undone yet).
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Argument(help: ArgumentHelp("Steps: 'OPERATIONS | UNDO OPERATIONS'.", valueName: "step"))
    var steps: [String] = []

    @Option(help: "The saga id (default: a new UUID).") var id: String?

    @Option(help: "Every put and add of an integer may not bring the value below this.") var notBelow: Int64?

    static func parse(_ step: String, notBelow: Int64?) throws(ValidationError) -> SagaStep {
        guard step.filter({ $0 == "|" }).count <= 1 else {
            throw ValidationError("step '\(step)' has more than one '|': a step is its operations, '|', and the operations that undo it")
        }
        let sides = step.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false).map { $0.split(separator: " ").map(String.init) }
        let forward = try sides[0].map { (text) throws(ValidationError) in try OperationSyntax.parse(text, notBelow: notBelow) }
        guard !forward.isEmpty else { throw ValidationError("step '\(step)' has no operations before '|'") }
        var undo: [(node: String, operation: StoreOperation)] = []
        for text in sides.count > 1 ? sides[1] : [] {
            // NODE:@RESOURCE alone: the resource's compensate hook undoes what this step did to it.
            if let at = text.range(of: ":@"), !text[at.upperBound...].contains("/") {
                let node = String(text[..<at.lowerBound])
                let resource = String(text[at.upperBound...])
                let done = forward.compactMap { $0.node == node ? $0.operation.resourceOperation : nil }.filter { $0.resource == resource }
                guard !done.isEmpty else {
                    throw ValidationError("step '\(step)': the undo '\(text)' compensates \(resource) on \(node), but the step does nothing there")
                }
                undo += done.map { operation in
                    var compensation = operation
                    compensation.compensating = true
                    return (node, .resource(compensation))
                }
                continue
            }
            undo.append(try OperationSyntax.parse(text, notBelow: notBelow))
        }
        return SagaStep(forward: OperationSyntax.group(forward), compensation: OperationSyntax.group(undo))
    }

    func validate() throws {
        guard !steps.isEmpty else { throw ValidationError("name at least one step: 'OPERATIONS | UNDO OPERATIONS'") }
        guard steps.count <= SagaMachine.maximumSteps else { throw ValidationError("a saga has at most \(SagaMachine.maximumSteps) steps (\(steps.count) given); split it") }
        if let id, let problem = SagaMachine.idProblem(id) { throw ValidationError(problem) }
        for step in steps { _ = try Self.parse(step, notBelow: notBelow) }
    }

    func run() async throws {
        let config = try common.load()
        let parsed = try steps.map { try Self.parse($0, notBelow: notBelow) }
        let connection = try await client.connect(config)
        let sagaID = id ?? UUID().uuidString.lowercased()
        let outcome: SagaOutcome
        do {
            outcome = try await connection.runSaga(parsed, id: sagaID)
        } catch let error as ErrorContext {
            let sent = await connection.isClosed
            printError("error: \(error)")
            if sent {
                // The coordinator may have logged the saga before it went: it carries on once it is back.
                printError("the saga \(sagaID.terminalSafe) may have started: if it did, the coordinator carries it on (or compensates it) once it is back; see phalanx tx show \(sagaID.terminalSafe)")
            }
            throw ExitCode(1)
        }
        await connection.close()
        if client.json {
            struct Report: Encodable {
                let id: String; let completed: Bool; let refused: Bool; let failedStep: Int?; let code: String?; let reason: String?; let compensated: [Int]
                let blockedStep: Int?; let blockedCode: String?; let blockedReason: String?
            }
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            let report = Report(
                id: outcome.id, completed: outcome.completed, refused: outcome.wasRefused, failedStep: outcome.failedStep.map { $0 + 1 }, code: outcome.reason?.code.rawValue,
                reason: outcome.reason?.message, compensated: outcome.compensated.map { $0 + 1 }, blockedStep: outcome.blockedStep.map { $0 + 1 },
                blockedCode: outcome.blockedReason?.code.rawValue, blockedReason: outcome.blockedReason?.message)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else if outcome.completed {
            print("saga \(outcome.id) completed: \(steps.count) step(s) committed")
        } else if let blocked = outcome.blockedStep {
            let failed = outcome.reason.map { "\($0.code.rawValue) from \($0.originNode ?? "?"): \($0.message.terminalSafe)" } ?? "no reason"
            let refusal = outcome.blockedReason.map { "\($0.code.rawValue) from \($0.originNode ?? "?"): \($0.message.terminalSafe)" } ?? "no reason"
            let undone = outcome.compensated.isEmpty ? "" : "; compensated step(s) \(outcome.compensated.map { "\($0 + 1)" }.joined(separator: ", "))"
            print("saga \(outcome.id) failed at step \((outcome.failedStep ?? 0) + 1) (\(failed))\(undone)")
            print("COMPENSATION BLOCKED: the compensation of step \(blocked + 1) is refused (\(refusal)).")
            print("The saga is not finished: step \(blocked + 1) stays applied. The coordinator retries its compensation every few seconds until it commits;")
            print("put right what refuses it (e.g. restore the balance it needs), and follow it with phalanx tx show \(outcome.id.terminalSafe)")
            throw ExitCode(3)
        } else if let step = outcome.failedStep {
            let reason = outcome.reason.map { "\($0.code.rawValue) from \($0.originNode ?? "?"): \($0.message.terminalSafe)" } ?? "no reason"
            let undone = outcome.compensated.isEmpty ? "nothing to compensate" : "compensated step(s) \(outcome.compensated.map { "\($0 + 1)" }.joined(separator: ", "))"
            print("saga \(outcome.id) failed at step \(step + 1) (\(reason)); \(undone)")
        } else {
            let reason = outcome.reason.map { "\($0.code.rawValue) from \($0.originNode ?? "?"): \($0.message.terminalSafe)" } ?? "no reason"
            print("saga \(outcome.id.terminalSafe) refused, nothing was run: \(reason)")
        }
        if outcome.blockedStep != nil { throw ExitCode(3) }  // --json too
        if !outcome.completed { throw ExitCode(1) }
    }
}

/// A saga's history as text or JSON (`phalanx tx show`).
enum SagaText {
    static func print(_ saga: SagaHistory, json: Bool) throws {
        if json { return Swift.print(try HistoryJSON.line(HistoryJSON.Saga(saga))) }
        func time(_ ms: Int64) -> String { WireTime.iso8601(unixMilliseconds: ms) }
        let state = saga.completed.map { $0 ? "completed" : "compensated" } ?? "in progress"
        Swift.print("saga \(saga.id.terminalSafe) (\(state))\(saga.begin.map { " from client \($0.client.terminalSafe), \($0.steps.count) step(s)" } ?? "")")
        for record in saga.records {
            let line: String
            switch record.event {
            case .begun(let begin):
                line = "BEGIN " + begin.steps.enumerated().map { index, step in
                    "\(index + 1): \(step.forward.flatMap { participant in participant.operations.map { "\(participant.participant):\($0)" } }.joined(separator: ", "))"
                }.joined(separator: "; ")
            case .stepStarted(let step, let attempt, let transaction): line = "step \(step + 1) attempt \(attempt + 1) runs as \(transaction)"
            case .stepCommitted(let step, _): line = "step \(step + 1) committed (its compensation is owed)"
            case .failed(let step, let reason): line = "step \(step + 1) FAILED: \(reason.code.rawValue) from \(reason.originNode ?? "?"): \(reason.message)"
            case .compensationStarted(let step, let attempt, let transaction): line = "compensation of step \(step + 1) attempt \(attempt + 1) runs as \(transaction)"
            case .attemptFailed(let step, let attempt, let compensation, let reason):
                let what = compensation ? "compensation of step \(step + 1)" : "step \(step + 1)"
                let then = compensation ? "retried until it commits" : "retried"
                line = "\(what) attempt \(attempt + 1) aborted: \(reason.code.rawValue) from \(reason.originNode ?? "?"): \(reason.message) (\(then))"
            case .compensated(let step, _): line = "step \(step + 1) compensated"
            case .finished(let completed): line = completed ? "END: completed" : "END: compensated"
            }
            Swift.print("  \(time(record.unixMilliseconds)) \(line.terminalSafe)")
        }
        Swift.print("  (steps and attempts are counted from 1 here and from 0 in the ids: saga:ID#sSTEP.ATTEMPT runs a step, #cSTEP.ATTEMPT a compensation)")
    }
}
