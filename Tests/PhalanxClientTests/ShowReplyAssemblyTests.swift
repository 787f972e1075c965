import Foundation
import PhalanxWire
import Testing

@testable import PhalanxClient

/// A history sent in parts is put together per request, and bounded in bytes.
@Suite struct ShowReplyAssemblyTests {
    func part(_ requestID: UInt64, _ text: String, more: Bool, saga: Bool = false) -> Phalanx_V1_TxShowReply {
        var reply = Phalanx_V1_TxShowReply()
        reply.requestID = requestID
        reply.found = true
        if saga { reply.sagaJson = Data(text.utf8) } else { reply.entryJson = Data(text.utf8) }
        reply.more = more
        return reply
    }

    @Test func partsOfTwoInterleavedRepliesArePutTogetherEachInOrder() {
        var assembly = ShowReplyAssembly()
        #expect(assembly.add(part(1, "{\"a\":", more: true)) == nil)
        #expect(assembly.add(part(2, "[1,", more: true, saga: true)) == nil)
        let first = assembly.add(part(1, "1}", more: false)) ?? Phalanx_V1_TxShowReply()
        #expect(first.entryJson == Data("{\"a\":1}".utf8) && first.found && !first.more)
        let second = assembly.add(part(2, "2]", more: false, saga: true)) ?? Phalanx_V1_TxShowReply()
        #expect(second.sagaJson == Data("[1,2]".utf8))
        #expect(assembly.add(part(3, "{}", more: false))?.entryJson == Data("{}".utf8), "a reply in one part passes as it is")
    }

    @Test func aHistoryAtTheBoundIsWholeAndOneBytePastItIsAnErrorWhoseLaterPartsAreDropped() {
        var assembly = ShowReplyAssembly(maximumBytes: 10)
        #expect(assembly.add(part(1, "12345", more: true)) == nil)
        #expect(assembly.add(part(1, "67890", more: false))?.entryJson.count == 10)

        #expect(assembly.add(part(2, "12345", more: true)) == nil)
        let refused = assembly.add(part(2, "678901", more: true)) ?? Phalanx_V1_TxShowReply()
        #expect(refused.hasError && refused.error.message.contains("larger than 10 bytes"))
        #expect(assembly.add(part(2, "more", more: true)) == nil)
        #expect(assembly.add(part(2, "end", more: false)) == nil, "the rest of a refused reply is dropped")
        #expect(assembly.add(part(4, "ok", more: false))?.entryJson == Data("ok".utf8))
    }
}
