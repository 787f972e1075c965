import Foundation
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
