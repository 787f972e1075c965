import Foundation
import PhalanxCore
import PhalanxResilience

extension StoreValue {
    public var wire: Phalanx_V1_StoreValue {
        var wire = Phalanx_V1_StoreValue()
        switch self {
        case .integer(let value): wire.value = .integer(value)
        case .bytes(let bytes): wire.value = .bytes(Data(bytes))
        }
        return wire
    }

    /// nil when the wire value has neither an integer nor bytes.
    public init?(wire: Phalanx_V1_StoreValue) {
        switch wire.value {
        case .integer(let value): self = .integer(value)
        case .bytes(let bytes): self = .bytes(Array(bytes))
        case nil: return nil
        }
    }
}

extension StoreOperation {
    public var wire: Phalanx_V1_StoreOperation {
        var wire = Phalanx_V1_StoreOperation()
        wire.key = key
        switch self {
        case .get: wire.op = .get
        case .put(_, let value, let bound):
            wire.op = .put
            wire.value = value.wire
            if let bound {
                wire.hasLowerBound_p = true
                wire.lowerBound = bound
            }
        case .add(_, let amount, let bound):
            wire.op = .add
            wire.amount = amount
            if let bound {
                wire.hasLowerBound_p = true
                wire.lowerBound = bound
            }
        case .delete: wire.op = .delete
        case .resource(let operation):
            wire.op = .resource
            wire.key = operation.key
            wire.resource = operation.resource
            wire.action = operation.action
            wire.argument = Data(operation.argument)
            wire.compensating = operation.compensating
        }
        return wire
    }

    /// The operation, or what is wrong with it. Keys and names are read in Unicode normalization
    /// form C: Swift compares strings by canonical equivalence and SQLite by bytes, so `café`
    /// written precomposed and decomposed must become one key before either sees it.
    public static func from(wire: Phalanx_V1_StoreOperation) -> Result<StoreOperation, ErrorContext> {
        let key = normalized(wire.key)  // not written back: a change to the message would copy its storage
        let bound = wire.hasLowerBound_p ? wire.lowerBound : nil
        switch wire.op {
        case .get: return .success(.get(key: key))
        case .put:
            guard let value = StoreValue(wire: wire.value) else {
                return .failure(ErrorContext(code: .invalidArgument, message: "put \(key): the value is missing (give an integer or bytes)"))
            }
            return .success(.put(key: key, value: value, lowerBound: bound))
        case .add: return .success(.add(key: key, amount: wire.amount, lowerBound: bound))
        case .delete: return .success(.delete(key: key))
        case .resource:
            return .success(.resource(ResourceOperation(
                resource: normalized(wire.resource), action: normalized(wire.action), key: key, argument: Array(wire.argument),
                compensating: wire.compensating)))
        default:
            return .failure(ErrorContext(code: .invalidArgument, message: "operation on \(key): unknown op \(wire.op.rawValue) (expected GET, PUT, ADD, DELETE or RESOURCE)"))
        }
    }
}

/// `text` in Unicode normalization form C (ASCII already is: the common case costs one scan).
private func normalized(_ text: String) -> String {
    text.utf8.allSatisfy { $0 < 0x80 } ? text : text.precomposedStringWithCanonicalMapping
}

extension ParticipantOperations {
    public var wire: Phalanx_V1_ParticipantOperations {
        var wire = Phalanx_V1_ParticipantOperations()
        wire.participant = participant
        wire.operations = operations.map(\.wire)
        return wire
    }

    public static func from(wire: [Phalanx_V1_ParticipantOperations]) -> Result<[ParticipantOperations], ErrorContext> {
        var result: [ParticipantOperations] = []
        for participant in wire {
            var operations: [StoreOperation] = []
            for operation in participant.operations {
                switch StoreOperation.from(wire: operation) {
                case .success(let parsed): operations.append(parsed)
                case .failure(var error):
                    error.message = "participant \(participant.participant): \(error.message)"
                    return .failure(error)
                }
            }
            result.append(ParticipantOperations(participant: participant.participant, operations: operations))
        }
        return .success(result)
    }
}

/// Reads of `get` operations ↔ their wire form.
public enum StoreReads {
    public static func wire(_ reads: [String: StoreValue?], participant: String) -> [Phalanx_V1_StoreRead] {
        reads.sorted { $0.key < $1.key }.map { key, value in
            var read = Phalanx_V1_StoreRead()
            read.participant = participant
            read.key = key
            if let value {
                read.present = true
                read.value = value.wire
            }
            return read
        }
    }

    public static func wire(_ reads: [String: [String: StoreValue?]]) -> [Phalanx_V1_StoreRead] {
        reads.sorted { $0.key < $1.key }.flatMap { wire($0.value, participant: $0.key) }
    }

    public static func from(_ wire: [Phalanx_V1_StoreRead]) -> [String: [String: StoreValue?]] {
        var reads: [String: [String: StoreValue?]] = [:]
        for read in wire {
            reads[read.participant, default: [:]][read.key] = .some(read.present ? StoreValue(wire: read.value) : nil)
        }
        return reads
    }
}

extension TransactionLimits {
    /// ``problem(id:_:)`` judged as the coordinator judges it: on the operations as it reads them
    /// off the wire (keys in Unicode normalization form C, so a decomposed key may be longer as
    /// given than as read, or shorter).
    public static func problemAsRead(id: String, _ participants: [ParticipantOperations]) -> String? {
        switch ParticipantOperations.from(wire: participants.map(\.wire)) {
        case .success(let read): problem(id: id, read)
        case .failure(let error): error.message
        }
    }
}

extension TransactionOutcome {
    public func wire(requestID: UInt64) -> Phalanx_V1_TxReply {
        var reply = Phalanx_V1_TxReply()
        reply.requestID = requestID
        reply.txID = id
        reply.committed = committed
        if let reason { reply.reason = reason.wire }
        reply.reads = StoreReads.wire(reads)
        reply.refused = refused
        return reply
    }

    public init(wire: Phalanx_V1_TxReply) {
        self.init(
            id: wire.txID, committed: wire.committed, reason: wire.hasReason ? ErrorContext(wire: wire.reason) : nil,
            reads: StoreReads.from(wire.reads), refused: wire.refused)
    }
}

/// The JSON form of audit and history messages (`entry_json`, `report_json`, `snapshot_json`).
public enum WireJSON {
    public static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)) ?? Data()
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(ErrorContext) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw ErrorContext(code: .malformedFrame, message: "cannot read a \(T.self) from its JSON: \(error)")
        }
    }
}

extension SagaStep {
    public var wire: Phalanx_V1_SagaStep {
        var wire = Phalanx_V1_SagaStep()
        wire.forward = forward.map(\.wire)
        wire.compensation = compensation.map(\.wire)
        return wire
    }

    public static func from(wire: [Phalanx_V1_SagaStep]) -> Result<[SagaStep], ErrorContext> {
        var steps: [SagaStep] = []
        for (index, step) in wire.enumerated() {
            let forward: [ParticipantOperations]
            let compensation: [ParticipantOperations]
            switch (ParticipantOperations.from(wire: step.forward), ParticipantOperations.from(wire: step.compensation)) {
            case (.success(let parsedForward), .success(let parsedCompensation)):
                forward = parsedForward
                compensation = parsedCompensation
            case (.failure(var error), _), (_, .failure(var error)):
                error.message = "step \(index + 1): \(error.message)"
                return .failure(error)
            }
            steps.append(SagaStep(forward: forward, compensation: compensation))
        }
        return .success(steps)
    }
}

extension SagaOutcome {
    public func wire(requestID: UInt64) -> Phalanx_V1_SagaReply {
        var reply = Phalanx_V1_SagaReply()
        reply.requestID = requestID
        reply.sagaID = id
        reply.completed = completed
        reply.failedStep = Int32(failedStep ?? -1)
        if let reason { reply.reason = reason.wire }
        reply.compensated = compensated.map { Int32($0) }
        if let blockedStep {
            reply.blocked = true
            reply.blockedStep = Int32(blockedStep)
            if let blockedReason { reply.blockedReason = blockedReason.wire }
        }
        return reply
    }

    public init(wire: Phalanx_V1_SagaReply) {
        self.init(
            id: wire.sagaID, completed: wire.completed, failedStep: wire.failedStep >= 0 ? Int(wire.failedStep) : nil,
            reason: wire.hasReason ? ErrorContext(wire: wire.reason) : nil, compensated: wire.compensated.map { Int($0) },
            blockedStep: wire.blocked ? Int(wire.blockedStep) : nil, blockedReason: wire.blocked && wire.hasBlockedReason ? ErrorContext(wire: wire.blockedReason) : nil)
    }
}
