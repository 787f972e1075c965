import ArgumentParser
import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import PhalanxWire

struct TransactionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tx",
        abstract: "Run a transaction over several workers' stores (two-phase commit), or show one's history.",
        subcommands: [TransactionRunCommand.self, TransactionTransferCommand.self, TransactionShowCommand.self])
}

/// Reads `NODE:KEY`, `NODE:KEY=VALUE`, `NODE:KEY+=N`, `NODE:KEY-=N`, `NODE:~KEY`, and
/// `NODE:@RESOURCE/ACTION/KEY[=ARGUMENT]` for a resource the worker registered.
enum OperationSyntax {
    static let help = "NODE:KEY (get), NODE:KEY=VALUE (put; a decimal integer, or text), NODE:KEY+=N or NODE:KEY-=N (add), NODE:~KEY (delete), NODE:@RESOURCE/ACTION/KEY=ARGUMENT (a registered resource, e.g. w1:@stock/reserve/sku-1=3)"

    static func parse(_ text: String, notBelow: Int64?) throws(ValidationError) -> (node: String, operation: StoreOperation) {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw ValidationError("'\(text.terminalSafe)' does not start with NODE: (the worker's name); expected \(help)")
        }
        let node = String(text[..<colon])
        var rest = String(text[text.index(after: colon)...])
        // A space or a control character at either end of a name or key is a quoting slip, not meant.
        let name = rest.hasPrefix("@") || rest.hasPrefix("~") ? String(rest.dropFirst()) : rest
        for (what, value) in [("worker name", node), ("key", String(name.prefix { $0 != "=" && $0 != "+" && $0 != "-" }))] {
            if let first = value.unicodeScalars.first, let last = value.unicodeScalars.last,
                [first, last].contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
                throw ValidationError("'\(text.terminalSafe)': the \(what) '\(value.terminalSafe)' starts or ends with a space or control character; remove it")
            }
        }
        if rest.hasPrefix("@") { return (node, .resource(try resource(String(rest.dropFirst()), in: text))) }
        if rest.hasPrefix("~") {
            rest.removeFirst()
            guard !rest.isEmpty else { throw ValidationError("'\(text)': name the key to delete") }
            return (node, .delete(key: rest))
        }
        for (sign, symbol) in [(Int64(1), "+="), (Int64(-1), "-=")] {
            if let range = rest.range(of: symbol) {
                let key = String(rest[..<range.lowerBound])
                guard !key.isEmpty, let amount = Int64(rest[range.upperBound...]), amount >= 0 else {
                    throw ValidationError("'\(text)': expected NODE:KEY\(symbol)N with a whole number N ≥ 0")
                }
                return (node, .add(key: key, amount: sign * amount, lowerBound: notBelow))
            }
        }
        if let equals = rest.firstIndex(of: "=") {
            let key = String(rest[..<equals])
            let value = String(rest[rest.index(after: equals)...])
            guard !key.isEmpty else { throw ValidationError("'\(text.terminalSafe)': the key before '=' is empty") }
            if value.hasPrefix("=") {
                throw ValidationError("'\(text.terminalSafe)': '==' is not an operation; a put is NODE:KEY=VALUE (e.g. \(node):\(key)=\(value.dropFirst()))")
            }
            if let integer = Int64(value) { return (node, .put(key: key, value: .integer(integer), lowerBound: notBelow)) }
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed != value, let integer = Int64(trimmed) {
                // Stored as text it could never be added to: a quoting slip, not meant.
                throw ValidationError("'\(text.terminalSafe)': the value '\(value.terminalSafe)' is a number with spaces around it, which would be stored as text; write \(node):\(key)=\(integer) for the integer")
            }
            let digits = value.hasPrefix("-") || value.hasPrefix("+") ? value.dropFirst() : Substring(value)
            if !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) {
                throw ValidationError("'\(text.terminalSafe)': \(value) does not fit a 64-bit integer (\(Int64.min) to \(Int64.max))")
            }
            if let notBelow {
                throw ValidationError(
                    "'\(text.terminalSafe)' puts text, and --not-below \(notBelow) bounds integers only; drop --not-below for it, or put a whole number")
            }
            return (node, .put(key: key, value: .bytes(Array(value.utf8))))
        }
        guard !rest.isEmpty else { throw ValidationError("'\(text)': name a key after NODE:") }
        return (node, .get(key: rest))
    }

    /// `RESOURCE/ACTION/KEY[=ARGUMENT]`.
    private static func resource(_ text: String, in whole: String) throws(ValidationError) -> ResourceOperation {
        let (path, argument) = text.firstIndex(of: "=").map { (String(text[..<$0]), String(text[text.index(after: $0)...])) } ?? (text, "")
        let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("'\(whole)': expected NODE:@RESOURCE/ACTION/KEY=ARGUMENT (e.g. w1:@stock/reserve/sku-1=3)")
        }
        let operation = ResourceOperation(resource: parts[0], action: parts[1], key: parts[2], argument: Array(argument.utf8))
        if let problem = operation.problem { throw ValidationError("'\(whole)': \(problem)") }
        return operation
    }

    /// Operations grouped by node, in the order given.
    static func group(_ parsed: [(node: String, operation: StoreOperation)]) -> [ParticipantOperations] {
        var order: [String] = []
        var byNode: [String: [StoreOperation]] = [:]
        for (node, operation) in parsed {
            if byNode[node] == nil { order.append(node) }
            byNode[node, default: []].append(operation)
        }
        return order.map { ParticipantOperations(participant: $0, operations: byNode[$0]!) }
    }
}

/// Runs a transaction; one the client refuses before sending it (larger than the coordinator's
/// frames, past a limit) comes back as a refused outcome, printed (and in JSON) like the
/// coordinator's refusals. Other errors are printed and exit 1.
func transactReportingRefusal(_ connection: PhalanxClient, _ participants: [ParticipantOperations], id given: String?) async throws -> TransactionOutcome {
    let id = given ?? UUID().uuidString.lowercased()  // made here, so that a refusal names it too
    return try await reportingErrors {
        do {
            return try await connection.transact(participants, id: id)
        } catch let error as ErrorContext where error.code == .invalidArgument && !TransactionOutcome.isUnknownOutcome(error) {
            return .refusal(id: id, reason: error)
        }
    }
}

/// Prints an outcome; committed exits 0, aborted 1. `read`: the operations included a get (a
/// committed outcome without its values was answered from the decision log, which keeps none).
func report(_ outcome: TransactionOutcome, json: Bool, read: Bool = false) throws {
    let readsOmitted = read && outcome.committed && outcome.reads.isEmpty
    if json {
        struct Read: Encodable { let node: String; let key: String; let value: HistoryJSON.Value? }  // a number or text; absent: no value
        struct Report: Encodable {
            let id: String; let committed: Bool; let refused: Bool; let code: String?; let reason: String?; let votedNo: String?; let reads: [Read]
            let readsOmitted: Bool
        }
        let reads = outcome.reads.sorted { $0.key < $1.key }.flatMap { node, values in
            values.sorted { $0.key < $1.key }.map { Read(node: node, key: $0.key, value: $0.value.map(HistoryJSON.Value.init)) }
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        let value = Report(
            id: outcome.id, committed: outcome.committed, refused: outcome.refused, code: outcome.reason?.code.rawValue, reason: outcome.reason?.message,
            votedNo: outcome.refused ? nil : outcome.reason?.originNode, reads: reads, readsOmitted: readsOmitted)
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    } else if outcome.committed {
        print("transaction \(outcome.id) committed")
        for (node, values) in outcome.reads.sorted(by: { $0.key < $1.key }) {
            for (key, value) in values.sorted(by: { $0.key < $1.key }) { print("  \(node):\(key) = \(value.map { "\($0)".terminalSafe } ?? "(absent)")") }
        }
        if readsOmitted {
            print("  (the values it read are not shown: this repeat of its id was answered from the decision log, which does not keep them; read them again with a new id)")
        }
    } else if outcome.refused {
        // Nothing ran: a transaction that committed earlier under this id is not undone by this.
        let reason = outcome.reason
        print("transaction \(outcome.id.terminalSafe) refused, nothing was run: \(reason?.code.rawValue ?? "UNKNOWN") from \(reason?.originNode ?? "?"): \(reason?.message.terminalSafe ?? "")")
    } else {
        let reason = outcome.reason
        print("transaction \(outcome.id) aborted: \(reason?.code.rawValue ?? "UNKNOWN") from \(reason?.originNode ?? "?"): \(reason?.message.terminalSafe ?? "")")
    }
    if !outcome.committed { throw ExitCode(1) }
}

struct TransactionRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one transaction: every operation on every named worker commits, or none does.",
        discussion: """
            Operations: \(OperationSyntax.help).
            Example: phalanx tx run w1:alice-=10 w2:bob+=10 --not-below 0
            Many operations: put them in a file, one per line, and pass --operations-file FILE (- reads standard input).
            Exit codes: 0 committed; 1 aborted (the reason and the worker that voted NO are printed), refused before it ran (a bad or reused id, too large, the coordinator full: nothing ran) or an error; 2 usage or configuration error.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Argument(help: ArgumentHelp("Operations.", valueName: "operation"))
    var operations: [String] = []

    @Option(help: ArgumentHelp("Read operations from this file, one per line (blank lines skipped), after those given as arguments; - reads standard input. Repeated, the files are read in order. At most 16 MiB each, and the transaction must fit limits.max_frame_bytes (4 MiB by default).", valueName: "file"))
    var operationsFile: [String] = []

    @Option(help: "The transaction id (default: a new UUID). Repeating the id of one in progress waits for its outcome.")
    var id: String?

    @Option(help: "Every put and add of an integer may not bring the value below this (kept with the key).")
    var notBelow: Int64?

    func validate() throws {
        guard !operations.isEmpty || !operationsFile.isEmpty else { throw ValidationError("name at least one operation: \(OperationSyntax.help)") }
        guard operationsFile.filter({ $0 == "-" }).count <= 1 else { throw ValidationError("--operations-file - (standard input) can be read only once") }
        if let id, id.hasPrefix("task:") || id.hasPrefix("saga:") {
            throw ValidationError("transaction ids starting with 'task:' or 'saga:' are reserved for the effects of tasks and the steps of sagas; choose another id")
        }
        // Standard input can be read only once: run() checks what it gives.
        if !operationsFile.contains("-") { _ = try parsedOperations() }
    }

    /// The operations of the arguments and of --operations-file, parsed and checked against the limits.
    private func parsedOperations() throws(ValidationError) -> [(node: String, operation: StoreOperation)] {
        var texts = operations
        for file in operationsFile { texts += try OperationsFile.read(file) }
        guard !texts.isEmpty else {
            throw ValidationError("\(operationsFile.isEmpty ? "the arguments" : operationsFile.joined(separator: ", ")) named no operation: \(OperationSyntax.help)")
        }
        guard texts.count <= TransactionLimits.maximumOperations else {
            throw ValidationError("a transaction has at most \(TransactionLimits.maximumOperations) operations (\(texts.count) given)")
        }
        let parsed = try texts.map { (text) throws(ValidationError) in try OperationSyntax.parse(text, notBelow: notBelow) }
        if let problem = TransactionLimits.problemAsRead(id: id ?? "new", OperationSyntax.group(parsed)) { throw ValidationError(problem) }
        return parsed
    }

    func run() async throws {
        let config = try common.load()
        let parsed: [(node: String, operation: StoreOperation)]
        do {
            parsed = try parsedOperations()  // from standard input: read only now
        } catch {
            Self.exit(withError: error)  // with this command's usage, not the root's
        }
        let connection = try await client.connect(config)
        let outcome = try await transactReportingRefusal(connection, OperationSyntax.group(parsed), id: id)
        await connection.close()
        try report(outcome, json: client.json, read: parsed.contains { if case .get = $0.operation { true } else { false } })
    }
}

struct TransactionTransferCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Move an amount from one key to another, on the same or different workers, never below 0.",
        discussion: "Example: phalanx tx transfer --from w1:alice --to w2:bob --amount 10\nExit codes: 0 committed; 1 aborted or an error; 2 usage or configuration error.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Option(help: "NODE:KEY to take the amount from.") var from: String
    @Option(help: "NODE:KEY to add it to.") var to: String
    @Option(parsing: .unconditional, help: "The amount (> 0).") var amount: Int64

    func validate() throws {
        guard amount > 0 else { throw ValidationError("--amount must be more than 0, got \(amount)") }
        for side in [from, to] {
            if case .get = try OperationSyntax.parse(side, notBelow: nil).operation {} else { throw ValidationError("'\(side)' must be NODE:KEY") }
        }
        guard from != to else { throw ValidationError("--from and --to name the same key") }
    }

    func run() async throws {
        let config = try common.load()
        let debit = try OperationSyntax.parse("\(from)-=\(amount)", notBelow: 0)
        let credit = try OperationSyntax.parse("\(to)+=\(amount)", notBelow: 0)
        let connection = try await client.connect(config)
        let outcome = try await transactReportingRefusal(connection, OperationSyntax.group([debit, credit]), id: nil)
        await connection.close()
        try report(outcome, json: client.json)
    }
}

struct TransactionShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a transaction's history (BEGIN, the decision, END) or a saga's (its steps, failure and compensations).",
        discussion: "Exit codes: 0 found; 1 unknown transaction or an error; 2 usage or configuration error.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Argument(help: "The transaction id.") var id: String

    func validate() throws {
        if id.isEmpty { throw ValidationError("give the transaction's or saga's id (phalanx tx run and bank run print them), not an empty one") }
        if let problem = TransactionLimits.idProblem(id) { throw ValidationError("'\(String(id.prefix(40)).terminalSafe)': \(problem); no transaction or saga has such an id") }
    }

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config)
        let history = try await reportingErrors { try await connection.history(id) }
        await connection.close()
        let entry: TransactionLogEntry
        switch history {
        case nil:
            if client.json { print(try HistoryJSON.line(["id": id, "kind": "unknown"])) }
            printError(
                "the coordinator's decision log and compensation log have no transaction or saga '\(id.terminalSafe)'. The log keeps ended transactions for coordinator.retention_ms; within that, one it does not hold did not commit: it was never decided (the coordinator stopped first, so it aborted: presumed abort) or was refused before it began, and it changed nothing.")
            throw ExitCode(1)
        case .saga(let saga)?:
            return try SagaText.print(saga, json: client.json)
        case .transaction(let found)?:
            entry = found
        }
        if client.json { return print(try HistoryJSON.line(HistoryJSON.Transaction(entry))) }
        func time(_ ms: Int64) -> String { WireTime.iso8601(unixMilliseconds: ms) }
        // A saga's steps and compensations run as transactions of the saga engine, not of a client.
        let origin = SagaMachine.parse(entry.id).map { "of saga \($0.saga.terminalSafe): \($0.compensation ? "the compensation of step" : "step") \($0.step + 1), attempt \($0.attempt + 1)" } ?? "from client \(entry.begin.client.terminalSafe)"
        print("transaction \(entry.id.terminalSafe) \(origin)\(entry.begin.traceID.isEmpty ? "" : ", trace \(entry.begin.traceID)")")
        print("  \(time(entry.begin.begunUnixMilliseconds)) BEGIN on \(entry.participantNames.joined(separator: ", "))")
        for participant in entry.begin.participants {
            print("      \(participant.participant): \(participant.operations.map(\.description).joined(separator: "; ").terminalSafe)")
        }
        if let decided = entry.decidedUnixMilliseconds, let committed = entry.committed {
            let reason = entry.reason.map { " — \($0.code.rawValue) from \($0.originNode ?? "?"): \($0.message.terminalSafe)" } ?? ""
            print("  \(time(decided)) \(committed ? "COMMIT" : "ABORT")\(reason)")
        } else {
            print("  (undecided: in progress)")
        }
        if let ended = entry.endedUnixMilliseconds {
            print("  \(time(ended)) END (every participant acknowledged)")
        } else if entry.committed != nil {
            print("  (not every participant has acknowledged the decision yet)")
        }
    }
}
