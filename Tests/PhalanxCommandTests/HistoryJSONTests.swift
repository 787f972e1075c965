import Foundation
import PhalanxCore
import PhalanxResilience
import Testing

@testable import phalanx

/// `tx show --json` prints values as numbers and text (not the logs' storage encoding of bytes as
/// arrays of numbers), names operations by what they do, and numbers saga steps from 1.
@Suite struct HistoryJSONTests {
    private func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func aTransactionsOperationsAndDecisionReadAsPlainJSON() throws {
        let begin = TransactionBegin(
            id: "tx-1", client: "client",
            participants: [
                ParticipantOperations(participant: "w1", operations: [.add(key: "alice", amount: -10, lowerBound: 0), .put(key: "note", value: .bytes(Array("hi".utf8)))]),
                ParticipantOperations(participant: "w2", operations: [.put(key: "blob", value: .bytes([0xFF, 0x00])), .get(key: "bob"), .delete(key: "old")]),
            ],
            begunUnixMilliseconds: 1_000, traceID: "0af7651916cd43dd8448eb211c80319c")
        let reason = ErrorContext(code: .conflict, message: "key alice is locked", originNode: "w1")
        let entry = TransactionLogEntry(begin: begin, committed: false, reason: reason, decidedUnixMilliseconds: 1_005)
        let line = try HistoryJSON.line(HistoryJSON.Transaction(entry))
        #expect(!line.contains("\n"))
        let json = try object(line)
        #expect(json["kind"] as? String == "transaction")
        #expect(json["trace_id"] as? String == "0af7651916cd43dd8448eb211c80319c")
        #expect(json["committed"] as? Bool == false)
        #expect(json["decided_unix_ms"] as? Int == 1_005)
        #expect(json["ended_unix_ms"] == nil)
        let why = try #require(json["reason"] as? [String: Any])
        #expect(why["code"] as? String == "CONFLICT" && why["origin_node"] as? String == "w1")
        let participants = try #require(json["participants"] as? [[String: Any]])
        let w1 = try #require(participants.first?["operations"] as? [[String: Any]])
        #expect(w1[0]["op"] as? String == "add" && w1[0]["amount"] as? Int == -10 && w1[0]["lower_bound"] as? Int == 0)
        #expect(w1[1]["op"] as? String == "put" && w1[1]["value"] as? String == "hi")
        let w2 = try #require(participants.last?["operations"] as? [[String: Any]])
        #expect((w2[0]["value"] as? [String: Any])?["base64"] as? String == "/wA=")
        #expect(w2[1]["op"] as? String == "get" && w2[1]["value"] == nil)
        #expect(w2[2]["op"] as? String == "delete" && w2[2]["key"] as? String == "old")
    }

    @Test func aSagasStepsAndRecordsAreNumberedFromOne() throws {
        let steps = [
            SagaStep(forward: [ParticipantOperations(participant: "w1", operations: [.add(key: "a", amount: -1)])],
                     compensation: [ParticipantOperations(participant: "w1", operations: [.add(key: "a", amount: 1)])]),
            SagaStep(forward: [ParticipantOperations(participant: "w2", operations: [.put(key: "n", value: .integer(7))])]),
        ]
        let saga = SagaHistory(records: [
            SagaLogRecord(saga: "s-1", event: .begun(SagaBegin(id: "s-1", client: "client", steps: steps, begunUnixMilliseconds: 10)), unixMilliseconds: 10),
            SagaLogRecord(saga: "s-1", event: .stepCommitted(step: 0, transaction: "s-1.0"), unixMilliseconds: 11),
            SagaLogRecord(saga: "s-1", event: .failed(step: 1, reason: ErrorContext(code: .unavailable, message: "no worker w2")), unixMilliseconds: 12),
            SagaLogRecord(saga: "s-1", event: .compensated(step: 0, transaction: "s-1.c0"), unixMilliseconds: 13),
            SagaLogRecord(saga: "s-1", event: .finished(completed: false), unixMilliseconds: 14),
        ])
        let json = try object(try HistoryJSON.line(HistoryJSON.Saga(saga)))
        #expect(json["kind"] as? String == "saga" && json["completed"] as? Bool == false)
        let stepList = try #require(json["steps"] as? [[String: Any]])
        #expect(stepList.map { $0["step"] as? Int } == [1, 2])
        let put = try #require(((stepList[1]["forward"] as? [[String: Any]])?.first?["operations"] as? [[String: Any]])?.first)
        #expect(put["value"] as? Int == 7)
        let records = try #require(json["records"] as? [[String: Any]])
        #expect(records.map { $0["event"] as? String } == ["begun", "step_committed", "failed", "compensated", "finished"])
        #expect(records[2]["step"] as? Int == 2 && (records[2]["reason"] as? [String: Any])?["code"] as? String == "UNAVAILABLE")
        #expect(records[3]["transaction"] as? String == "s-1.c0")
    }
}
