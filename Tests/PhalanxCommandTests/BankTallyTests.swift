import Foundation
import PhalanxCore
import Testing

@testable import phalanx

/// `bank run` says how many transfers failed and why, also past the first ones it lists.
@Suite struct BankTallyTests {
    @Test func failuresAreCountedByCodeAndTheSamplesAreBounded() async {
        let tally = BankTally()
        for index in 0..<25 { await tally.failed(code: index < 20 ? "UNAVAILABLE" : "INTERNAL", "failure \(index)") }
        await tally.committed(latency: .milliseconds(1))
        let summary = await tally.summary(elapsed: .seconds(1))
        #expect(summary.failed == 25 && summary.transfers == 26)
        #expect(summary.failures.count == BankTally.failureSamples && summary.failures.first == "failure 0")
        #expect(summary.failuresByCode == ["UNAVAILABLE": 20, "INTERNAL": 5])
    }
}

/// The JSON of `bank run --json` uses readable snake-case keys.
@Suite struct BankSummaryJSONTests {
    @Test func theUnknownIdsKeyIsSpelledPlainly() async throws {
        let summary = await BankTally().summary(elapsed: .seconds(1))
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let text = String(decoding: try encoder.encode(summary), as: UTF8.self)
        #expect(text.contains("\"unknown_ids\"") && !text.contains("unknown_i_ds") && text.contains("\"p50_milliseconds\""), "\(text)")
    }
}

/// `audit --json` spells its keys in snake case like every other `--json`, and names workers as given.
@Suite struct AuditJSONTests {
    @Test func keysAreSnakeCaseAndWorkerNamesAreKeptAsGiven() throws {
        let report = TransactionAudit.run(TransactionAudit.Input(log: [], participants: [], unreachable: ["myWorker"], nowUnixMilliseconds: 1_000))
        let text = AuditText.render(
            AuditSummary(report: report, tasksAccepted: 5, tasksFinished: 5), unreachable: ["myWorker"],
            reasons: ["myWorker": "its store is not available"], json: true)
        let object = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["clean"] as? Bool == false)
        let summary = try #require(object["summary"] as? [String: Any])
        #expect(summary["tasks_accepted"] as? Int == 5 && (summary["report"] as? [String: Any])?["in_progress"] as? Int == 0, "\(text)")
        let reasons = try #require(object["unreachable_reasons"] as? [[String: String]])
        #expect(reasons == [["worker": "myWorker", "reason": "its store is not available"]], "\(text)")
        #expect(object["unreachable"] as? [String] == ["myWorker"])
    }
}

/// Codes stay as the wire spells them in `bank run --json` (a map keyed by code).
@Suite struct BankFailureCodesJSONTests {
    @Test func failureCodesAreNotRenamedByTheKeyConversion() async throws {
        let tally = BankTally()
        await tally.failed(code: "UNAVAILABLE", "failure")
        let summary = await tally.summary(elapsed: .seconds(1))
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let text = String(decoding: try encoder.encode(summary), as: UTF8.self)
        #expect(text.contains("\"UNAVAILABLE\""), "\(text)")
    }
}
