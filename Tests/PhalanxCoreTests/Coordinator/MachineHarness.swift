import PhalanxResilience

@testable import PhalanxCore

/// Drives a ``CoordinatorMachine`` with plain strings as task specs and outputs, on a virtual
/// clock that only moves when a test says so, and reads back the actions it returned.
struct MachineHarness {
    typealias Machine = CoordinatorMachine<String, String>
    typealias Action = Machine.Action

    var machine: Machine
    var now: Duration = .zero
    private var nextConnection: UInt64 = 0
    private var traces = TraceIDGenerator(seed: 42)

    init(_ configure: (inout CoordinatorSettings) -> Void = { _ in }) {
        var settings = CoordinatorSettings(nodeName: "coordinator")
        settings.heartbeatInterval = .seconds(1)
        settings.heartbeatMisses = 3
        configure(&settings)
        machine = Machine(settings: settings)
    }

    mutating func advance(by duration: Duration) { now += duration }

    mutating func connect(_ role: Role, _ name: String) -> ConnectionID {
        nextConnection += 1
        let id = ConnectionID(nextConnection)
        _ = machine.connected(id, peer: NodeIdentity(cluster: "demo", role: role, name: name), now: now)
        return id
    }

    /// Connects and registers a worker.
    @discardableResult
    mutating func worker(_ name: String, capacity: Int = 4, kinds: Set<String> = ["echo"], incarnation: UInt64 = 0) -> (ConnectionID, [Action]) {
        worker(name, WorkerRegistration(capacity: capacity, kinds: kinds, incarnation: incarnation))
    }

    /// Connects a worker and registers it as `registration` says.
    mutating func worker(_ name: String, _ registration: WorkerRegistration) -> (ConnectionID, [Action]) {
        let id = connect(.worker, name)
        return (id, machine.register(from: id, registration, now: now))
    }

    mutating func task(_ id: String, kind: String = "echo", bytes: Int = 8, timeout: Duration? = nil) -> SubmittedTask<String> {
        let trace = TraceContext.newTrace(using: &traces)
        return SubmittedTask(
            taskID: id, kind: kind, payloadBytes: bytes, deadline: timeout.map { now + $0 }, traceID: trace.traceID, spanID: trace.spanID,
            spec: id)
    }

    let batchTrace = TraceContext(traceID: "0af7651916cd43dd8448eb211c80319c", spanID: "b7ad6b7169203331")!

    mutating func submit(_ tasks: [SubmittedTask<String>], from client: ConnectionID, requestID: UInt64 = 1) -> [Action] {
        machine.submit(from: client, requestID: requestID, batchTrace: batchTrace, tasks: tasks, now: now)
    }

    mutating func submit(_ ids: [String], kind: String = "echo", from client: ConnectionID, requestID: UInt64 = 1) -> [Action] {
        let tasks = ids.map { task($0, kind: kind) }
        return submit(tasks, from: client, requestID: requestID)
    }

    mutating func succeed(_ assignments: [TaskAssignment<String>], on worker: ConnectionID) -> [Action] {
        machine.results(from: worker, assignments.map { ReportedResult(task: $0.task, attempt: $0.attempt, failure: nil, output: "out-\($0.spec)") }, now: now)
    }

    mutating func fail(_ assignments: [TaskAssignment<String>], on worker: ConnectionID, _ failureClass: FailureClass = .system) -> [Action] {
        let code: ErrorCode = failureClass == .business ? .businessRejected : .internal
        return machine.results(
            from: worker, assignments.map { ReportedResult(task: $0.task, attempt: $0.attempt, failure: (code, failureClass), output: "failed-\($0.spec)") },
            now: now)
    }

    mutating func wakeUp() -> [Action] { machine.wakeUp(now: now) }
}

extension Array where Element == MachineHarness.Action {
    /// Assignments sent to `worker`.
    func dispatched(to worker: ConnectionID) -> [TaskAssignment<String>] {
        flatMap { action -> [TaskAssignment<String>] in
            if case .dispatch(worker, let assignments) = action { return assignments }
            return []
        }
    }

    /// All assignments, to any worker.
    var dispatched: [TaskAssignment<String>] {
        flatMap { action -> [TaskAssignment<String>] in
            if case .dispatch(_, let assignments) = action { return assignments }
            return []
        }
    }

    /// Deliveries sent to `client`.
    func delivered(to client: ConnectionID) -> [TaskDelivery<String>] {
        flatMap { action -> [TaskDelivery<String>] in
            if case .deliver(client, let deliveries) = action { return deliveries }
            return []
        }
    }

    /// The accepted count if the batch was acknowledged.
    var acknowledged: Int? {
        for action in self { if case .acknowledge(_, _, let accepted, _) = action { return accepted } }
        return nil
    }

    /// How many of the acknowledged tasks were idempotent resubmissions.
    var duplicates: Int? {
        for action in self { if case .acknowledge(_, _, _, let duplicates) = action { return duplicates } }
        return nil
    }

    /// Stored results the shell is asked to send (for resubmissions of finished tasks).
    var storedDeliveries: [Duplicate] {
        flatMap { action -> [Duplicate] in
            if case .deliverStored(_, let duplicates) = action { return duplicates }
            return []
        }
    }

    /// The refusal if the batch was refused.
    var refusal: ErrorContext? {
        for action in self { if case .refuse(_, _, let error) = action { return error } }
        return nil
    }

    /// The error a connection was closed with.
    func closed(_ connection: ConnectionID) -> ErrorContext? {
        for action in self { if case .close(connection, let error) = action { return error } }
        return nil
    }

    var wakeUps: [Duration] {
        compactMap { action in
            if case .scheduleWakeUp(let at) = action { return at }
            return nil
        }
    }

    func logged(_ text: String) -> Bool {
        contains { action in
            if case .log(let entry) = action { return entry.message.contains(text) }
            return false
        }
    }
}

extension TaskDelivery {
    var error: ErrorContext? {
        if case .failure(let error) = outcome { return error }
        return nil
    }

    var output: Output? {
        if case .reported(let output) = outcome { return output }
        return nil
    }
}

extension Array where Element == MachineHarness.Action {
    /// Every change the actions ask to persist, in order.
    var persisted: [TaskChange<String, String>] {
        flatMap { action -> [TaskChange<String, String>] in
            if case .persist(let changes) = action { return changes }
            return []
        }
    }

    /// The index of the first action matching `predicate`, or nil.
    func index(where predicate: (MachineHarness.Action) -> Bool) -> Int? { firstIndex(where: predicate) }

    /// The look-up the actions ask for, if any.
    var lookUp: (connection: ConnectionID, taskIDs: [String], pending: [String])? {
        for action in self { if case .lookUp(let connection, _, let ids, let pending) = action { return (connection, ids, pending) } }
        return nil
    }
}
