import PhalanxResilience
import PhalanxWire
import Testing

@testable import PhalanxCluster

/// An earlier attempt's error is kept small in a task's history, so 100 records stay small too.
@Suite struct HistoryBoundTests {
    typealias Shell = Coordinator<ContinuousClock>

    @Test func aSmallErrorIsKeptWholeAndALargeOneIsCutSayingSo() throws {
        var small = Phalanx_V1_ErrorContext()
        small.message = "boom"
        small.causes = [small]
        #expect(Shell.bounded(small) == small)

        var large = Phalanx_V1_ErrorContext()
        large.message = String(repeating: "é", count: 3_000)  // 6,000 bytes of UTF-8
        large.causes = [small, small]
        let cut = Shell.bounded(large)
        let bytes: [UInt8] = try cut.serializedBytes()
        #expect(bytes.count <= Shell.maximumHistoryErrorBytes, "\(bytes.count) bytes")
        #expect(cut.causes.isEmpty && cut.message.contains("cut to 1024 of 6000 bytes, 2 causes left out"))
        #expect(cut.message.hasPrefix(String(repeating: "é", count: 100)))

        var atBound = Phalanx_V1_ErrorContext()
        atBound.message = "x"
        let overhead = (try atBound.serializedBytes() as [UInt8]).count - 1
        atBound.message = String(repeating: "x", count: Shell.maximumHistoryErrorBytes - overhead - 1)  // 2 length bytes
        #expect((try atBound.serializedBytes() as [UInt8]).count == Shell.maximumHistoryErrorBytes)
        #expect(Shell.bounded(atBound) == atBound, "at the bound: kept whole")
        atBound.message += "x"
        #expect(Shell.bounded(atBound) != atBound, "one byte past it: cut")
    }
}

/// Failure messages shown in status replies are bounded, so a failure that quotes a whole payload
/// cannot make every status reply larger than a client's frames.
@Suite struct RecentFailureBoundTests {
    @Test func aLongMessageIsCutAtTheBoundAndOneAtTheBoundIsKept() {
        func entry(_ message: String) -> RecentFailures.Entry {
            RecentFailures.Entry(unixMilliseconds: 1, client: "c", taskID: "t", code: "INVALID_ARGUMENT", message: message, traceID: "", worker: nil)
        }
        var failures = RecentFailures()
        let atBound = String(repeating: "a", count: RecentFailures.maximumMessageBytes)
        failures.add(entry(atBound))
        #expect(failures.entries.first?.message == atBound)
        failures.add(entry(String(repeating: "é", count: 1_000_000)))  // 2 MB of UTF-8
        let cut = failures.entries.first?.message ?? ""
        #expect(cut.utf8.count < RecentFailures.maximumMessageBytes + 32 && cut.hasSuffix("… (2000000 bytes)"), "\(cut.utf8.count) bytes")
    }

    @Test func aUTF8PrefixNeverSplitsACharacter() {
        #expect("abc".prefix(utf8Bytes: 5) == "abc")
        #expect("éé".prefix(utf8Bytes: 3) == "é")
        #expect("éé".prefix(utf8Bytes: 4) == "éé")
        #expect("".prefix(utf8Bytes: 0) == "")
    }
}
