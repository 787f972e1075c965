import Foundation
import PhalanxCluster
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxWire

/// A small bank written to real files the way the cluster writes them — a task ledger with its
/// decision log, and three participant stores — by driving the real machines step by step, so a
/// test can damage one thing behind the cluster's back and run the offline audit over it.
///
/// Accounts: w1 holds bank:acct:0 and bank:acct:2, w2 holds bank:acct:1 (100 each, seeded 300 on
/// both); w3 holds an unrelated key x. Transactions: `seed`, `t-w3`, `t-commit` (w1 -10 → w2),
/// `t-abort` (aborted on both), `t-inflight` (committed, applied on w1, still prepared on w2),
/// `t-undecided` (prepared on w1 only). A saga `sg` on w3: step 1 committed, step 2 failed, step 1
/// compensated. Tasks: c/t1 finished, c/t2 unfinished.
struct BankScenario {
    let root: URL
    let ledger: SQLiteTaskLedger
    var stores: [String: ParticipantStore] = [:]
    private var machines: [String: ParticipantMachine] = [:]
    let now = WireTime.nowUnixMilliseconds()

    var coordinatorDirectory: String { root.appendingPathComponent("coordinator").path }
    var workersDirectory: String { root.appendingPathComponent("workers").path }

    static func make() async throws -> BankScenario {
        var scenario = try BankScenario(root: FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-bank-\(UUID().uuidString)"))
        try await scenario.build()
        return scenario
    }

    private init(root: URL) throws {
        self.root = root
        ledger = try SQLiteTaskLedger(path: root.appendingPathComponent("coordinator/tasks.sqlite").path)
        for name in ["w1", "w2", "w3"] {
            stores[name] = try ParticipantStore(path: root.appendingPathComponent("workers/\(name)/participant.sqlite").path)
            machines[name] = ParticipantMachine(node: name, values: [:], prepared: [])
        }
    }

    private mutating func build() async throws {
        let bounded: (Int64) -> StoreValue = { .integer($0) }
        try await transact("seed", [
            "w1": [.put(key: "bank:acct:0", value: bounded(100), lowerBound: 0), .put(key: "bank:acct:2", value: bounded(100), lowerBound: 0), .put(key: "bank:seeded", value: .integer(300))],
            "w2": [.put(key: "bank:acct:1", value: bounded(100), lowerBound: 0), .put(key: "bank:seeded", value: .integer(300))],
        ], commit: true, applyOn: ["w1", "w2"], end: true)
        try await transact("t-w3", ["w3": [.put(key: "x", value: .integer(7))]], commit: true, applyOn: ["w3"], end: true)
        try await transact("t-commit", ["w1": [.add(key: "bank:acct:0", amount: -10)], "w2": [.add(key: "bank:acct:1", amount: 10)]], commit: true, applyOn: ["w1", "w2"], end: true)
        try await transact("t-abort", ["w1": [.add(key: "bank:acct:2", amount: -5)], "w2": [.add(key: "bank:acct:1", amount: 5)]], commit: false, applyOn: ["w1", "w2"], end: true)
        try await transact("t-inflight", ["w1": [.add(key: "bank:acct:2", amount: -7)], "w2": [.add(key: "bank:acct:1", amount: 7)]], commit: true, applyOn: ["w1"], end: false)
        try await transact("t-undecided", ["w1": [.add(key: "bank:acct:0", amount: -1)], "w2": [.add(key: "bank:acct:1", amount: 1)]], commit: nil, applyOn: [], end: false, prepareOn: ["w1"])
        // A saga on w3 whose second step failed: its first step was compensated.
        let sagaSteps = [
            SagaStep(forward: [ParticipantOperations(participant: "w3", operations: [.add(key: "x", amount: 1)])],
                     compensation: [ParticipantOperations(participant: "w3", operations: [.add(key: "x", amount: -1)])]),
            SagaStep(forward: [ParticipantOperations(participant: "w3", operations: [.add(key: "x", amount: -100, lowerBound: 0)])]),
        ]
        try await sagaRecord(.begun(SagaBegin(id: "sg", client: "client", steps: sagaSteps, begunUnixMilliseconds: now)))
        try await sagaRecord(.stepStarted(step: 0, attempt: 0, transaction: "saga:sg#s0.0"))
        try await transact("saga:sg#s0.0", ["w3": sagaSteps[0].forward[0].operations], commit: true, applyOn: ["w3"], end: true)
        try await sagaRecord(.stepCommitted(step: 0, transaction: "saga:sg#s0.0"))
        try await sagaRecord(.failed(step: 1, reason: ErrorContext(code: .businessRejected, message: "x would go below 0", originNode: "w3")))
        try await sagaRecord(.compensationStarted(step: 0, attempt: 0, transaction: "saga:sg#c0.0"))
        try await transact("saga:sg#c0.0", ["w3": sagaSteps[0].compensation[0].operations], commit: true, applyOn: ["w3"], end: true)
        try await sagaRecord(.compensated(step: 0, transaction: "saga:sg#c0.0"))
        try await sagaRecord(.finished(completed: false))
        var output = Phalanx_V1_TaskResult()
        output.taskID = "t1"
        output.output = Data("done".utf8)
        try await ledger.apply([
            .accepted(TaskKey(client: "c", taskID: "t1"), spec: [], acceptedUnixMilliseconds: now),
            .finished(TaskKey(client: "c", taskID: "t1"), result: try output.serializedBytes(), finishedUnixMilliseconds: now),
            .accepted(TaskKey(client: "c", taskID: "t2"), spec: [], acceptedUnixMilliseconds: now),
        ])
    }

    /// Runs one transaction through the machines and writes what they say to the files.
    private mutating func transact(
        _ id: String, _ operations: [String: [StoreOperation]], commit: Bool?, applyOn: Set<String>, end: Bool, prepareOn: Set<String>? = nil
    ) async throws {
        let participants = operations.keys.sorted().map { ParticipantOperations(participant: $0, operations: operations[$0]!) }
        try await ledger.apply([.transaction(.begun(TransactionBegin(id: id, client: "client", participants: participants, begunUnixMilliseconds: now)))])
        for participant in participants where prepareOn?.contains(participant.participant) ?? true {
            let name = participant.participant
            for action in machines[name]!.prepare(id: id, operations: participant.operations, voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now) {
                if case .persistPrepared(let record) = action { try await stores[name]!.apply([.prepared(record)]) }
            }
            _ = machines[name]!.prepareDurable(id, nowUnixMilliseconds: now)
        }
        guard let commit else { return }
        try await ledger.apply([.transaction(.decided(id: id, committed: commit, reason: nil, decidedUnixMilliseconds: now))])
        for name in applyOn.sorted() {
            for action in machines[name]!.decide(id, commit: commit) {
                if case .persistOutcome(let id, let committed, let writes, _) = action {
                    try await stores[name]!.apply([.outcome(id: id, committed: committed, writes: writes, unixMilliseconds: now)])
                }
            }
        }
        if end { try await ledger.apply([.transaction(.ended(id: id, endedUnixMilliseconds: now))]) }
    }

    private func sagaRecord(_ event: SagaEvent, at: Int64? = nil) async throws {
        try await ledger.apply([.saga(SagaLogRecord(saga: "sg", event: event, unixMilliseconds: at ?? now))])
    }

    /// A participant's value as earlier versions kept it in its `value_json` column (still read).
    static func json(_ value: StoredValue) -> String {
        String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
    }

    /// `data` as an SQL blob literal.
    static func blob(_ data: Data) -> String {
        "X'" + data.map { String(format: "%02X", $0) }.joined() + "'"
    }

    func audit() async throws -> AuditSummary {
        try await OfflineAudit.run(coordinatorDirectory: coordinatorDirectory, workersDirectory: workersDirectory, nowUnixMilliseconds: now + 1_000)
    }
}
