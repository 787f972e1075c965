import PhalanxCore
import PhalanxResilience
import Testing

@testable import PhalanxClient

/// Ids for unnamed transactions and sagas: unique within a client, apart between clients.
@Suite struct RequestIDsTests {
    @Test func idsAreThePrefixAndTheNextOfTheSequenceInHex() {
        var ids = RequestIDs(prefix: 0x0123_4567_89ab_cdef, seed: 0)
        let first = ids.next()
        #expect(first.hasPrefix("0123456789abcdef-"))
        #expect(first.utf8.count == 33)
        #expect(first.dropFirst(17).allSatisfy { "0123456789abcdef".contains($0) })
        #expect(LowerHex.string(0) == "0000000000000000" && LowerHex.string(.max) == "ffffffffffffffff" && LowerHex.string(0xa) == "000000000000000a")
    }

    @Test func aClientNeverRepeatsAnIdAndTwoClientsDoNotShareOne() {
        var first = RequestIDs()
        var second = RequestIDs()
        var seen = Set<String>()
        for _ in 0..<50_000 {
            #expect(seen.insert(first.next()).inserted)
            #expect(seen.insert(second.next()).inserted)
        }
        // The same seed under another prefix gives other ids.
        var a = RequestIDs(prefix: 1, seed: 7)
        var b = RequestIDs(prefix: 2, seed: 7)
        #expect(a.next() != b.next())
    }

    @Test func everyIdIsAValidTransactionID() {
        var ids = RequestIDs()
        #expect(TransactionLimits.idProblem(ids.next()) == nil)
    }
}
