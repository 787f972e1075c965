import Foundation
import PhalanxCore
import PhalanxResilience

/// What `tx show --json` prints: a transaction's or saga's history in a shape for machines —
/// values as numbers or text (bytes that are not UTF-8 as base64), operations named by what they
/// do, errors as code, message and origin — rather than the logs' own storage encoding.
enum HistoryJSON {
    /// A transaction from the decision log.
    struct Transaction: Encodable {
        let kind = "transaction"
        let id: String
        let client: String
        let traceID: String?
        let begunUnixMs: Int64
        let participants: [Participant]
        /// nil: not decided yet.
        let committed: Bool?
        let decidedUnixMs: Int64?
        let reason: Reason?
        /// nil: not every participant has acknowledged the decision yet.
        let endedUnixMs: Int64?

        init(_ entry: TransactionLogEntry) {
            id = entry.id
            client = entry.begin.client
            traceID = entry.begin.traceID.isEmpty ? nil : entry.begin.traceID
            begunUnixMs = entry.begin.begunUnixMilliseconds
            participants = entry.begin.participants.map(Participant.init)
            committed = entry.committed
            decidedUnixMs = entry.decidedUnixMilliseconds
            reason = entry.reason.map(Reason.init)
            endedUnixMs = entry.endedUnixMilliseconds
        }
    }

    /// A saga from the compensation log: its steps, and every record in order.
    struct Saga: Encodable {
        let kind = "saga"
        let id: String
        let client: String?
        let begunUnixMs: Int64?
        let steps: [Step]
        /// nil: running; true: every step committed; false: compensated.
        let completed: Bool?
        let records: [Record]

        init(_ saga: SagaHistory) {
            id = saga.id
            client = saga.begin?.client
            begunUnixMs = saga.begin?.begunUnixMilliseconds
            steps = (saga.begin?.steps ?? []).enumerated().map { Step(number: $0.offset + 1, $0.element) }
            completed = saga.completed
            records = saga.records.map(Record.init)
        }
    }

    struct Step: Encodable {
        let step: Int
        let forward: [Participant]
        let compensation: [Participant]

        init(number: Int, _ step: SagaStep) {
            self.step = number
            forward = step.forward.map(Participant.init)
            compensation = step.compensation.map(Participant.init)
        }
    }

    /// One compensation-log record; steps and attempts are numbered from 1, as the text output numbers them.
    struct Record: Encodable {
        let unixMs: Int64
        let event: String
        let step: Int?
        let attempt: Int?
        let transaction: String?
        let reason: Reason?
        let completed: Bool?

        init(_ record: SagaLogRecord) {
            unixMs = record.unixMilliseconds
            var step: Int?, attempt: Int?, transaction: String?, reason: Reason?, completed: Bool?
            switch record.event {
            case .begun: event = "begun"
            case .stepStarted(let s, let a, let t): (event, step, attempt, transaction) = ("step_started", s + 1, a + 1, t)
            case .stepCommitted(let s, let t): (event, step, transaction) = ("step_committed", s + 1, t)
            case .failed(let s, let r): (event, step, reason) = ("failed", s + 1, Reason(r))
            case .compensationStarted(let s, let a, let t): (event, step, attempt, transaction) = ("compensation_started", s + 1, a + 1, t)
            case .attemptFailed(let s, let a, let c, let r):
                (event, step, attempt, reason) = (c ? "compensation_attempt_failed" : "step_attempt_failed", s + 1, a + 1, Reason(r))
            case .compensated(let s, let t): (event, step, transaction) = ("compensated", s + 1, t)
            case .finished(let c): (event, completed) = ("finished", c)
            }
            (self.step, self.attempt, self.transaction, self.reason, self.completed) = (step, attempt, transaction, reason, completed)
        }
    }

    struct Participant: Encodable {
        let participant: String
        let operations: [Operation]

        init(_ operations: ParticipantOperations) {
            participant = operations.participant
            self.operations = operations.operations.map(Operation.init)
        }
    }

    /// One operation: `op` is get, put, add, delete or resource; the other fields are those it has.
    struct Operation: Encodable {
        let op: String
        let key: String
        let value: Value?
        let amount: Int64?
        let lowerBound: Int64?
        let resource: String?
        let action: String?
        let argument: Value?
        let compensating: Bool?

        init(_ operation: StoreOperation) {
            var value: Value?, amount: Int64?, lowerBound: Int64?
            var resource: String?, action: String?, argument: Value?, compensating: Bool?
            switch operation {
            case .get(let key): (op, self.key) = ("get", key)
            case .put(let key, let stored, let bound): (op, self.key, value, lowerBound) = ("put", key, Value(stored), bound)
            case .add(let key, let by, let bound): (op, self.key, amount, lowerBound) = ("add", key, by, bound)
            case .delete(let key): (op, self.key) = ("delete", key)
            case .resource(let call):
                (op, self.key, resource, action) = ("resource", call.key, call.resource, call.action)
                (argument, compensating) = (Value(.bytes(call.argument)), call.compensating)
            }
            (self.value, self.amount, self.lowerBound) = (value, amount, lowerBound)
            (self.resource, self.action, self.argument, self.compensating) = (resource, action, argument, compensating)
        }
    }

    /// A store value: a JSON number for an integer, a string for UTF-8 bytes, and
    /// `{"base64": "…"}` for bytes that are not UTF-8.
    struct Value: Encodable {
        let value: StoreValue

        init(_ value: StoreValue) { self.value = value }

        func encode(to encoder: any Encoder) throws {
            switch value {
            case .integer(let integer):
                var container = encoder.singleValueContainer()
                try container.encode(integer)
            case .bytes(let bytes):
                if let text = String(validating: bytes, as: UTF8.self) {
                    var container = encoder.singleValueContainer()
                    try container.encode(text)
                } else {
                    var container = encoder.container(keyedBy: Base64Key.self)
                    try container.encode(Data(bytes).base64EncodedString(), forKey: .base64)
                }
            }
        }

        private enum Base64Key: String, CodingKey { case base64 }
    }

    /// An error as code, class, message, origin and trace (its causes too, in order).
    struct Reason: Encodable {
        let code: String
        let `class`: String
        let message: String
        let originNode: String?
        let traceID: String?
        let causes: [Reason]

        init(_ error: ErrorContext) {
            code = error.code.rawValue
            `class` = error.failureClass.rawValue
            message = error.message
            originNode = error.originNode
            traceID = error.traceID
            causes = error.causes.map(Reason.init)
        }
    }

    /// `value` as one line of JSON, keys in snake_case and sorted.
    static func line(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
