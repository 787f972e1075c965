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

    @Test func couldNotAuditIsJSONToo() throws {
        let object = try #require(JSONSerialization.jsonObject(with: Data(AuditText.couldNotAuditJSON("worker w4: empty \"file\"").utf8)) as? [String: Any])
        #expect(object["clean"] as? Bool == false && object["could_not_audit"] as? String == "worker w4: empty \"file\"")
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

/// `bank run --across-workers` makes two-participant transfers only; without it, any two accounts.
@Suite struct BankTransferPairTests {
    /// A seeded generator (SplitMix64), so that the draws are the same on every run.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func acrossWorkersEveryPairSpansTwoWorkersAndOtherwiseSomeStayOnOne() {
        var random = Seeded(state: 7)
        for workers in [["w1", "w2"], ["w1", "w2", "w3"]] {
            let layout = BankLayout(accounts: 10, workers: workers)
            var sameWorker = 0
            for _ in 0..<2_000 {
                let across = layout.transferPair(acrossWorkers: true, using: &random)
                #expect(across.from != across.to && layout.worker(of: across.from) != layout.worker(of: across.to))
                let any = layout.transferPair(acrossWorkers: false, using: &random)
                #expect(any.from != any.to && (0..<10).contains(any.from) && (0..<10).contains(any.to))
                if layout.worker(of: any.from) == layout.worker(of: any.to) { sameWorker += 1 }
            }
            #expect(sameWorker > 200, "without the flag some transfers stay on one worker (\(sameWorker) of 2000 with \(workers.count) workers)")
        }
        let smallest = BankLayout(accounts: 2, workers: ["w1", "w2"]).transferPair(acrossWorkers: true, using: &random)
        #expect(Set([smallest.from, smallest.to]) == [0, 1])
    }
}
