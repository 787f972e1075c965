import ArgumentParser
import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience

struct BankCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bank",
        abstract: "The bank workload: accounts spread over the workers' stores, random transfers between them, checked by `phalanx audit`.",
        subcommands: [BankSeedCommand.self, BankRunCommand.self])
}

/// Where the bank's accounts live: account i on `workers[i % workers.count]`, as `bank:acct:i`.
/// Every participant keeps the layout (`bank:layout`) and the seeded total (`bank:seeded`).
struct BankLayout: Equatable {
    static let layoutKey = "bank:layout"
    var accounts: Int
    var workers: [String]

    func worker(of account: Int) -> String { workers[account % workers.count] }

    /// Two different accounts for a transfer, at random; `acrossWorkers`: on two different workers
    /// (a two-participant transaction), which needs a layout over at least 2 workers.
    func transferPair<R: RandomNumberGenerator>(acrossWorkers: Bool, using random: inout R) -> (from: Int, to: Int) {
        let from = Int.random(in: 0..<accounts, using: &random)
        while true {
            var to = Int.random(in: 0..<(accounts - 1), using: &random)
            if to >= from { to += 1 }
            // Account i is on worker i mod n: with n ≥ 2 about every other draw is on another worker.
            if !acrossWorkers || workers.count < 2 || to % workers.count != from % workers.count { return (from, to) }
        }
    }
    static func key(_ account: Int) -> String { "\(TransactionAudit.bankAccountPrefix)\(account)" }

    var encoded: [UInt8] { Array("\(accounts);\(workers.joined(separator: ","))".utf8) }

    init(accounts: Int, workers: [String]) {
        self.accounts = accounts
        self.workers = workers
    }

    init?(_ bytes: [UInt8]) {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ";", maxSplits: 1)
        guard parts.count == 2, let accounts = Int(parts[0]), accounts > 0 else { return nil }
        let workers = parts[1].split(separator: ",").map(String.init)
        guard !workers.isEmpty else { return nil }
        self.init(accounts: accounts, workers: workers)
    }

    /// Reads the layout from `worker` (any worker that took part in the seed).
    static func read(from worker: String, using connection: PhalanxClient) async throws -> BankLayout? {
        let outcome = try await connection.transact([ParticipantOperations(participant: worker, operations: [.get(key: layoutKey)])])
        guard outcome.committed else { throw outcome.reason ?? ErrorContext(code: .internal, message: "reading the bank layout aborted") }
        guard case .bytes(let bytes)?? = outcome.reads[worker]?[layoutKey] else { return nil }
        return BankLayout(bytes)
    }
}

struct BankSeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Create N accounts with the same balance, spread over the registered workers, in one transaction (a re-seed replaces them).",
        discussion: "Exit codes: 0 seeded; 1 the transaction aborted or an error; 2 usage or configuration error.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Option(parsing: .unconditional, help: "Accounts to create (2 to 20000: a transfer needs two).") var accounts: Int = 100
    @Option(parsing: .unconditional, help: "Each account's opening balance.") var balance: Int64 = 1_000

    func validate() throws {
        guard (2...20_000).contains(accounts) else { throw ValidationError("--accounts must be 2 to 20000 (a transfer moves money between two), got \(accounts)") }
        guard balance >= 0, balance <= 1_000_000_000_000 else { throw ValidationError("--balance must be 0 to 10^12, got \(balance)") }
    }

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config)
        let workers = try await reportingErrors { try await connection.status() }.workers.map(\.name).sorted()
        guard !workers.isEmpty else {
            await connection.close()
            printError("error: no worker is registered; start workers first (phalanx worker --name w1)")
            throw ExitCode(1)
        }
        let layout = BankLayout(accounts: accounts, workers: workers)
        var operations: [String: [StoreOperation]] = [:]
        for account in 0..<accounts {
            operations[layout.worker(of: account), default: []].append(.put(key: BankLayout.key(account), value: .integer(balance), lowerBound: 0))
        }
        for worker in workers {
            operations[worker, default: []] += [
                .put(key: BankLayout.layoutKey, value: .bytes(layout.encoded)),
                .put(key: TransactionAudit.bankSeededKey, value: .integer(balance * Int64(accounts))),
            ]
        }
        // A re-seed replaces the previous accounts: those the new layout does not overwrite go, in the same transaction.
        var previous: BankLayout?
        for worker in workers where previous == nil {
            previous = try await reportingErrors { try await BankLayout.read(from: worker, using: connection) }
        }
        if let previous {
            var stale: [String: [StoreOperation]] = [:]
            for account in 0..<previous.accounts where account >= accounts || previous.worker(of: account) != layout.worker(of: account) {
                stale[previous.worker(of: account), default: []].append(.delete(key: BankLayout.key(account)))
            }
            for worker in previous.workers where !workers.contains(worker) {
                stale[worker, default: []] += [.delete(key: BankLayout.layoutKey), .delete(key: TransactionAudit.bankSeededKey)]
            }
            if let missing = stale.keys.sorted().first(where: { !workers.contains($0) }) {
                await connection.close()
                printError("error: the previous seed put accounts on \(missing), which is not registered; start it, so that a re-seed can replace them")
                throw ExitCode(1)
            }
            for (worker, deletes) in stale { operations[worker, default: []] += deletes }
        }
        let outcome = try await reportingErrors {
            try await connection.transact(workers.map { ParticipantOperations(participant: $0, operations: operations[$0]!) })
        }
        await connection.close()
        guard outcome.committed else { return try report(outcome, json: client.json) }
        print("seeded \(accounts) accounts of \(balance) (total \(balance * Int64(accounts))) on \(workers.joined(separator: ", ")) in transaction \(outcome.id)")
    }
}

struct BankRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run random transfers between the seeded accounts and report transfers/s and latency.",
        discussion: """
            Each transfer is one two-phase-commit transaction (debit never below 0, credit). A transfer refused for lack of funds is
            counted as declined; one that meets a locked account (CONFLICT) is retried after a short random pause (growing to 50 ms), for up to 30 s.
            Exit codes: 0 done; 1 some transfers failed for another reason, the connection to the coordinator ended (transfers in flight are then counted unknown), or an error; 2 usage or configuration error.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Option(parsing: .unconditional, help: "Transfers to make.") var transfers: Int = 1_000
    @Option(parsing: .unconditional, help: "Transfers in flight at once.") var concurrency: Int = 8
    @Option(parsing: .unconditional, help: "Largest amount of one transfer (each is 1 to this, at random).") var maxAmount: Int64 = 10
    @Flag(help: "Make every transfer between accounts on two different workers (a two-participant transaction; by default any two accounts, so some transfers stay on one worker).")
    var acrossWorkers = false

    func validate() throws {
        guard (1...10_000_000).contains(transfers) else { throw ValidationError("--transfers must be 1 to 10000000, got \(transfers)") }
        guard (1...4_096).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 4096, got \(concurrency)") }
        guard maxAmount >= 1 else { throw ValidationError("--max-amount must be at least 1, got \(maxAmount)") }
    }

    func run() async throws {
        let config = try common.load()
        let connection = try await client.connect(config)
        let workers = try await reportingErrors { try await connection.status() }.workers.map(\.name).sorted()
        var found: BankLayout?
        for worker in workers {
            if let layout = try? await BankLayout.read(from: worker, using: connection) {
                found = layout
                break
            }
        }
        guard let layout = found, layout.accounts >= 2 else {
            await connection.close()
            printError("error: no bank is seeded on the registered workers (or fewer than 2 accounts); run phalanx bank seed first")
            throw ExitCode(1)
        }
        if acrossWorkers, layout.workers.count < 2 {
            await connection.close()
            printError("error: --across-workers needs accounts on at least 2 workers, and the bank is seeded on \(layout.workers.joined(separator: ", ")) only; seed it again with more workers registered")
            throw ExitCode(2)
        }
        let tally = BankTally()
        let started = ContinuousClock.now
        let perLane = (0..<concurrency).map { transfers / concurrency + ($0 < transfers % concurrency ? 1 : 0) }
        await withTaskGroup(of: Void.self) { group in
            for count in perLane where count > 0 {
                group.addTask {
                    var random = TraceIDGenerator()  // fast: the system generator costs a system call per draw
                    // A lane stops once the connection is gone: the transfers it did not start are not counted.
                    for _ in 0..<count {
                        if await connection.isClosed { break }
                        await Self.transfer(
                            layout: layout, acrossWorkers: acrossWorkers, maxAmount: maxAmount, connection: connection, tally: tally, random: &random)
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        let lostConnection = await connection.isClosed
        await connection.close()
        let result = await tally.summary(elapsed: elapsed)
        if client.json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(String(
                format: "%d transfers in %.2f s: %.0f transfers/s; committed %d, declined (funds) %d, conflicts retried %d, failed %d, unknown %d; latency p50 %.2f ms, p99 %.2f ms",
                result.transfers, result.seconds, result.transfersPerSecond, result.committed, result.declined, result.conflictsRetried, result.failed,
                result.unknown,
                result.p50Milliseconds, result.p99Milliseconds))
            if !result.failuresByCode.isEmpty {
                print("  failed by code: \(result.failuresByCode.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
            }
            for failure in result.failures { print("  failed: \(failure.terminalSafe)") }
            if result.failed > result.failures.count { print("  … and \(result.failed - result.failures.count) more failed (the first \(result.failures.count) are shown)") }
            for unknown in result.unknownSamples { print("  unknown: \(unknown.terminalSafe)") }
            if !result.unknownIDs.isEmpty { print("  unknown transactions (phalanx tx show ID): \(result.unknownIDs.joined(separator: " ").terminalSafe)") }
        }
        if lostConnection {
            printError(
                "error: the connection to the coordinator ended after \(result.transfers) of \(transfers) transfers; \(result.unknown) were in flight and their outcomes are unknown (each is all or nothing: phalanx tx show ID, and phalanx audit checks it); the rest were not started")
            throw ExitCode(1)
        }
        if result.failed > 0 { throw ExitCode(1) }
    }

    private static func transfer(
        layout: BankLayout, acrossWorkers: Bool, maxAmount: Int64, connection: PhalanxClient, tally: BankTally, random: inout TraceIDGenerator
    ) async {
        let (from, to) = layout.transferPair(acrossWorkers: acrossWorkers, using: &random)
        let amount = Int64.random(in: 1...maxAmount, using: &random)
        var operations: [(node: String, operation: StoreOperation)] = [
            (layout.worker(of: from), .add(key: BankLayout.key(from), amount: -amount, lowerBound: 0)),
            (layout.worker(of: to), .add(key: BankLayout.key(to), amount: amount, lowerBound: 0)),
        ]
        operations.sort { $0.node < $1.node }
        let participants = OperationSyntax.group(operations)
        let started = ContinuousClock.now
        for retry in 1... {
            do {
                let outcome = try await connection.transact(participants)
                if outcome.committed {
                    await tally.committed(latency: ContinuousClock.now - started)
                    return
                }
                switch outcome.reason?.code {
                case .businessRejected?:
                    await tally.declined(latency: ContinuousClock.now - started)
                    return
                case .conflict?:
                    // Aborted: not applied. Without a coordinator it is not tried again (nor counted).
                    if await connection.isClosed { return }
                    let elapsed = ContinuousClock.now - started
                    guard let pause = BankConflictRetry.delay(beforeRetry: retry, elapsed: elapsed, random: Double.random(in: 0..<1, using: &random)) else {
                        await tally.failed(code: "CONFLICT", "still CONFLICT after \(retry) tries in \(elapsed): \(outcome.reason.map { "\($0)" } ?? "aborted")")
                        return
                    }
                    await tally.conflict()
                    try? await Task.sleep(for: pause)
                default:
                    await tally.failed(code: outcome.reason?.code.rawValue ?? "ABORTED", "\(outcome.reason.map { "\($0)" } ?? "aborted")")
                    return
                }
            } catch {
                if TransactionOutcome.isUnknownOutcome(error) {
                    await tally.unknown("\(error)", id: TransactionOutcome.unknownOutcomeID(error))  // sent, and the coordinator is gone: either outcome is possible
                } else if !(await connection.isClosed) {
                    await tally.failed(code: (error as? ErrorContext)?.code.rawValue ?? "ERROR", "\(error)")
                }  // else: refused before it was sent, the connection being gone; not started
                return
            }
        }
    }
}

/// Counts and latencies of a bank run.
actor BankTally {
    struct Summary: Encodable {
        let transfers: Int
        let committed: Int
        let declined: Int
        let conflictsRetried: Int
        let failed: Int
        /// Sent when the connection to the coordinator ended: committed or aborted, nobody here knows.
        let unknown: Int
        let seconds: Double
        let transfersPerSecond: Double
        let p50Milliseconds: Double
        let p99Milliseconds: Double
        /// The first failures (at most ``BankTally/failureSamples``), and every failure counted by code.
        let failures: [String]
        let failuresByCode: [String: Int]
        let unknownSamples: [String]
        /// Every transaction whose outcome is unknown (at most one per lane: the one in flight).
        let unknownIDs: [String]

        // Spelled for the snake-case encoder: "unknownIDs" came out as "unknown_i_ds".
        enum CodingKeys: String, CodingKey {
            case transfers, committed, declined, conflictsRetried, failed, unknown, seconds, transfersPerSecond, p50Milliseconds, p99Milliseconds
            case failures, failuresByCode, unknownSamples
            case unknownIDs = "unknownIds"
        }
    }

    private var latencies: [Duration] = []
    private var committedCount = 0
    private var declinedCount = 0
    private var conflicts = 0
    static let failureSamples = 10
    private var failures: [String] = []
    private var failuresByCode: [String: Int] = [:]
    private var failedCount = 0
    private var unknownCount = 0
    private var unknownSamples: [String] = []
    private var unknownIDs: [String] = []

    func committed(latency: Duration) {
        committedCount += 1
        latencies.append(latency)
    }

    func declined(latency: Duration) {
        declinedCount += 1
        latencies.append(latency)
    }

    func conflict() { conflicts += 1 }

    func failed(code: String, _ reason: String) {
        failedCount += 1
        failuresByCode[code, default: 0] += 1
        if failures.count < Self.failureSamples { failures.append(reason) }
    }

    func unknown(_ reason: String, id: String?) {
        unknownCount += 1
        if unknownSamples.count < 3 { unknownSamples.append(reason) }
        if let id { unknownIDs.append(id) }
    }

    func summary(elapsed: Duration) -> Summary {
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))].seconds * 1_000
        }
        let total = committedCount + declinedCount + failedCount + unknownCount
        return Summary(
            transfers: total, committed: committedCount, declined: declinedCount, conflictsRetried: conflicts, failed: failedCount,
            unknown: unknownCount, seconds: elapsed.seconds, transfersPerSecond: Double(committedCount + declinedCount) / max(elapsed.seconds, 1e-9),
            p50Milliseconds: percentile(0.5), p99Milliseconds: percentile(0.99), failures: failures, failuresByCode: failuresByCode, unknownSamples: unknownSamples,
            unknownIDs: unknownIDs)
    }
}
