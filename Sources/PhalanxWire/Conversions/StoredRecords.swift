import Foundation
import PhalanxCore
import SwiftProtobuf

/// The stored form of transaction records (participant values, write sets, prepared records, and
/// the decision log's BEGIN): protobuf (`Protos/phalanx_store.proto`), a fifth of what JSON costs
/// to make on the hot path of every transaction. Records that earlier versions wrote as JSON are
/// still read: a JSON record starts with `{` or `[`, which no protobuf record here does (those bytes
/// would open field 15 or 11 as a group, a wire type proto3 never writes).
public enum StoredRecords {
    public static func encode(_ value: StoredValue) -> Data {
        serialized(value.stored)
    }

    public static func storedValue(from data: Data) throws(StoredRecordError) -> StoredValue {
        if isJSON(data) { return try json(StoredValue.self, data) }
        return try StoredValue(stored: message(Phalanx_Store_V1_StoredValue.self, data))
    }

    public static func encode(_ writes: [KeyWrite]) -> Data {
        var message = Phalanx_Store_V1_KeyWrites()
        message.writes = writes.map(\.stored)
        return serialized(message)
    }

    public static func keyWrites(from data: Data) throws(StoredRecordError) -> [KeyWrite] {
        if isJSON(data) { return try json([KeyWrite].self, data) }
        return try message(Phalanx_Store_V1_KeyWrites.self, data).writes.map { (write) throws(StoredRecordError) in try KeyWrite(stored: write) }
    }

    public static func encode(_ record: ParticipantMachine.Prepared) -> Data {
        serialized(preparedMessage(record))
    }

    public static func prepared(from data: Data) throws(StoredRecordError) -> ParticipantMachine.Prepared {
        if isJSON(data) { return try json(ParticipantMachine.Prepared.self, data) }
        return try prepared(from: message(Phalanx_Store_V1_Prepared.self, data))
    }

    static func preparedMessage(_ record: ParticipantMachine.Prepared) -> Phalanx_Store_V1_Prepared {
        var message = Phalanx_Store_V1_Prepared()
        message.id = record.id
        message.writes = record.writes.map(\.stored)
        message.reads = StoreReads.wire(record.reads, participant: "")
        message.voteDeadlineUnixMs = record.voteDeadlineUnixMilliseconds
        message.preparedUnixMs = record.preparedUnixMilliseconds
        message.durable = record.durable
        message.resources = record.resources.map { StoreOperation.resource($0).wire }
        message.resourcesPending = !record.resourcesPrepared
        return message
    }

    static func prepared(from message: Phalanx_Store_V1_Prepared) throws(StoredRecordError) -> ParticipantMachine.Prepared {
        var resources: [ResourceOperation] = []
        for operation in message.resources {
            guard case .success(.resource(let resource)) = StoreOperation.from(wire: operation) else {
                throw StoredRecordError("prepared record \(message.id): an operation on a resource is not one (op \(operation.op.rawValue))")
            }
            resources.append(resource)
        }
        return ParticipantMachine.Prepared(
            id: message.id, writes: try message.writes.map { (write) throws(StoredRecordError) in try KeyWrite(stored: write) },
            reads: StoreReads.from(message.reads)[""] ?? [:], voteDeadlineUnixMilliseconds: message.voteDeadlineUnixMs,
            preparedUnixMilliseconds: message.preparedUnixMs, durable: message.durable, resources: resources,
            resourcesPrepared: !message.resourcesPending)
    }

    public static func encode(_ begin: TransactionBegin) -> Data {
        var message = Phalanx_Store_V1_TransactionBegin()
        message.id = begin.id
        message.client = begin.client
        message.participants = begin.participants.map(\.wire)
        message.begunUnixMs = begin.begunUnixMilliseconds
        message.traceID = begin.traceID
        return serialized(message)
    }

    public static func transactionBegin(from data: Data) throws(StoredRecordError) -> TransactionBegin {
        if isJSON(data) { return try json(TransactionBegin.self, data) }
        let message = try message(Phalanx_Store_V1_TransactionBegin.self, data)
        switch ParticipantOperations.from(wire: message.participants) {
        case .success(let participants):
            return TransactionBegin(
                id: message.id, client: message.client, participants: participants, begunUnixMilliseconds: message.begunUnixMs, traceID: message.traceID)
        case .failure(let error):
            throw StoredRecordError("BEGIN of transaction \(message.id): \(error.message)")
        }
    }

    // MARK: - Helpers

    private static func isJSON(_ data: Data) -> Bool {
        data.first == UInt8(ascii: "{") || data.first == UInt8(ascii: "[")
    }

    private static func serialized(_ message: some SwiftProtobuf.Message) -> Data {
        // Every field is a plain value or a message of them: serializing cannot fail.
        (try? message.serializedBytes()) ?? Data()
    }

    private static func message<M: SwiftProtobuf.Message>(_ type: M.Type, _ data: Data) throws(StoredRecordError) -> M {
        do {
            return try M(serializedBytes: data)
        } catch {
            throw StoredRecordError("cannot read a stored \(M.protoMessageName) (\(data.count) bytes): \(error)")
        }
    }

    private static func json<T: Decodable>(_ type: T.Type, _ data: Data) throws(StoredRecordError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw StoredRecordError("cannot read a stored \(T.self) from its JSON (\(data.count) bytes): \(error)")
        }
    }
}

/// A stored record that cannot be read (a damaged file, or one written by a newer version).
public struct StoredRecordError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension StoredValue {
    var stored: Phalanx_Store_V1_StoredValue {
        var message = Phalanx_Store_V1_StoredValue()
        message.value = value.wire
        if let lowerBound {
            message.hasLowerBound_p = true
            message.lowerBound = lowerBound
        }
        return message
    }

    init(stored message: Phalanx_Store_V1_StoredValue) throws(StoredRecordError) {
        guard let value = StoreValue(wire: message.value) else { throw StoredRecordError("a stored value has neither an integer nor bytes") }
        self.init(value, lowerBound: message.hasLowerBound_p ? message.lowerBound : nil)
    }
}

extension KeyWrite {
    var stored: Phalanx_Store_V1_KeyWrite {
        var message = Phalanx_Store_V1_KeyWrite()
        message.key = key
        if let before { message.before = before.stored }
        if let after { message.after = after.stored }
        return message
    }

    init(stored message: Phalanx_Store_V1_KeyWrite) throws(StoredRecordError) {
        self.init(
            key: message.key, before: message.hasBefore ? try StoredValue(stored: message.before) : nil,
            after: message.hasAfter ? try StoredValue(stored: message.after) : nil)
    }
}
