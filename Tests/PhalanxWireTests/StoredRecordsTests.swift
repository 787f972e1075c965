import Foundation
import PhalanxCore
import PhalanxWire
import Testing

/// Transaction records round-trip through their stored (protobuf) form, records earlier versions
/// wrote as JSON are still read, and a damaged record is an error that says what it was.
@Suite struct StoredRecordsTests {
    let writes = [
        KeyWrite(key: "bank:acct:1", before: StoredValue(.integer(100), lowerBound: 0), after: StoredValue(.integer(90), lowerBound: 0)),
        KeyWrite(key: "new", before: nil, after: StoredValue(.bytes(Array("héllo".utf8)))),
        KeyWrite(key: "gone", before: StoredValue(.integer(-7)), after: nil),
        KeyWrite(key: "zero", before: StoredValue(.integer(0), lowerBound: -5), after: StoredValue(.bytes([]))),
    ]

    var prepared: ParticipantMachine.Prepared {
        ParticipantMachine.Prepared(
            id: "t-1", writes: writes, reads: ["a": .some(.integer(3)), "missing": StoreValue?.none, "b": .some(.bytes([0, 255]))], voteDeadlineUnixMilliseconds: 1_700_000_000_123,
            preparedUnixMilliseconds: 1_700_000_000_100, durable: true,
            resources: [
                ResourceOperation(resource: "stock", action: "reserve", key: "sku-1", argument: Array("3".utf8)),
                ResourceOperation(resource: "tickets", action: "book", key: "opera", argument: [], compensating: true),
            ], resourcesPrepared: false)
    }

    var begin: TransactionBegin {
        TransactionBegin(
            id: "t-2", client: "client",
            participants: [
                ParticipantOperations(participant: "w1", operations: [.add(key: "a", amount: -10, lowerBound: 0), .get(key: "g"), .delete(key: "d")]),
                ParticipantOperations(participant: "w2", operations: [
                    .put(key: "p", value: .bytes(Array("v".utf8)), lowerBound: nil), .put(key: "q", value: .integer(4), lowerBound: 1),
                    .add(key: "b", amount: 10), .resource(ResourceOperation(resource: "stock", action: "restock", key: "sku", argument: Array("9".utf8))),
                ]),
            ], begunUnixMilliseconds: 1_700_000_000_000, traceID: "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test func everyRecordComesBackAsItWasStored() throws {
        for value in writes.flatMap({ [$0.before, $0.after] }).compactMap({ $0 }) {
            #expect(try StoredRecords.storedValue(from: StoredRecords.encode(value)) == value)
        }
        #expect(try StoredRecords.keyWrites(from: StoredRecords.encode(writes)) == writes)
        #expect(try StoredRecords.keyWrites(from: StoredRecords.encode([KeyWrite]())) == [])
        #expect(try StoredRecords.prepared(from: StoredRecords.encode(prepared)) == prepared)
        var plain = prepared
        plain.resources = []
        plain.resourcesPrepared = true
        plain.durable = false
        #expect(try StoredRecords.prepared(from: StoredRecords.encode(plain)) == plain)
        #expect(try StoredRecords.transactionBegin(from: StoredRecords.encode(begin)) == begin)
    }

    @Test func recordsWrittenAsJSONByEarlierVersionsAreStillRead() throws {
        let encoder = JSONEncoder()
        #expect(try StoredRecords.storedValue(from: encoder.encode(writes[0].after!)) == writes[0].after!)
        #expect(try StoredRecords.keyWrites(from: encoder.encode(writes)) == writes)
        #expect(try StoredRecords.keyWrites(from: Data("[]".utf8)) == [])
        #expect(try StoredRecords.prepared(from: encoder.encode(prepared)) == prepared)
        #expect(try StoredRecords.transactionBegin(from: encoder.encode(begin)) == begin)
        // A prepared record from before resources existed: it has neither field.
        let old = Data(#"{"id":"t-old","writes":[],"reads":{},"voteDeadlineUnixMilliseconds":0,"preparedUnixMilliseconds":5,"durable":true}"#.utf8)
        let read = try StoredRecords.prepared(from: old)
        #expect(read.id == "t-old" && read.resources == [] && read.resourcesPrepared)
    }

    @Test func noStoredRecordLooksLikeJSON() {
        let encoded = [
            StoredRecords.encode(prepared), StoredRecords.encode(begin), StoredRecords.encode(writes), StoredRecords.encode(writes[0].before!),
            StoredRecords.encode(StoredValue(.bytes(Array("{".utf8)))),
        ]
        for data in encoded {
            #expect(data.first != UInt8(ascii: "{") && data.first != UInt8(ascii: "["), "\(Array(data.prefix(4)))")
        }
        #expect(StoredRecords.encode(prepared).count * 3 < (try! JSONEncoder().encode(prepared)).count, "the stored form is smaller than JSON")
    }

    @Test func aDamagedRecordIsAnErrorNamingWhatItWas() {
        let garbage = Data([0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: StoredRecordError.self) { try StoredRecords.prepared(from: garbage) }
        do {
            _ = try StoredRecords.transactionBegin(from: garbage)
            Issue.record("garbage was read as a BEGIN")
        } catch {
            #expect(error.description.contains("TransactionBegin"), "\(error)")
            #expect(error.description.contains("4 bytes"), "\(error)")
        }
        #expect(throws: StoredRecordError.self) { try StoredRecords.keyWrites(from: Data("[{\"key\":".utf8)) }
        // A value with neither an integer nor bytes (field 1 present but empty).
        #expect(throws: StoredRecordError.self) { try StoredRecords.storedValue(from: Data([0x0A, 0x00])) }
    }
}
