import Testing

@testable import PhalanxResilience

@Suite struct TraceContextTests {
    @Test func newTracesHaveWellFormedDistinctIDs() {
        let a = TraceContext.newTrace()
        let b = TraceContext.newTrace()
        #expect(a.traceID.count == 32 && a.spanID.count == 16)
        #expect(a.traceID != b.traceID)
        #expect(TraceContext(traceID: a.traceID, spanID: a.spanID) == a)
        #expect(a.traceparent == "00-\(a.traceID)-\(a.spanID)-01")
    }

    @Test func idsAreSixteenLowerCaseHexDigitsPerWordWithLeadingZeros() {
        #expect(TraceContext.hex(0x00f0_67aa_0ba9_02b7) == "00f067aa0ba902b7")
        #expect(TraceContext.hex(0x4bf9_2f35_77b3_4da6, 0xa3ce_929d_0e0e_4736) == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceContext.hex(.max, 0xf) == "ffffffffffffffff000000000000000f")
        #expect(TraceContext.hex(0) == "0000000000000001", "an all-zero id is invalid, so a zero word becomes 1")
        #expect(TraceContext.hex(0, 0) == "00000000000000010000000000000001")
        var generator = TraceIDGenerator(seed: 42)
        for _ in 0..<1_000 {
            let word = generator.next()
            let digits = String(word == 0 ? 1 : word, radix: 16)
            #expect(TraceContext.hex(word) == String(repeating: "0", count: 16 - digits.count) + digits)
        }
    }

    @Test func childSpansStayInTheTrace() {
        let parent = TraceContext.newTrace()
        let child = parent.childSpan()
        #expect(child.traceID == parent.traceID && child.spanID != parent.spanID)
    }

    @Test(arguments: [
        ("", "00f067aa0ba902b7"),
        ("00000000000000000000000000000000", "00f067aa0ba902b7"),
        ("4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902b7"),
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902"),
        ("4bf92f3577b34da6a3ce929d0e0e473g", "00f067aa0ba902b7"),
    ])
    func malformedIDsAreRefused(traceID: String, spanID: String) {
        #expect(TraceContext(traceID: traceID, spanID: spanID) == nil)
    }

    @Test func aTraceparentHeaderIsReadAndWrittenBack() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let context = TraceContext(traceparent: header)
        #expect(context?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && context?.spanID == "00f067aa0ba902b7")
        #expect(context?.traceparent == header)
        #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00") != nil)  // not sampled: read all the same
        // A later version may add fields after the flags.
        #expect(TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") != nil)
    }

    @Test(arguments: [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  // no flags
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", // version 00 has nothing after the flags
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff is invalid
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero parent id
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    ])
    func malformedTraceparentHeadersAreRefused(header: String) {
        #expect(TraceContext(traceparent: header) == nil)
    }
}

@Suite struct TraceIDGeneratorTests {
    @Test func aSeededGeneratorRepeatsAndIdsStayDistinct() {
        var first = TraceIDGenerator(seed: 7)
        var second = TraceIDGenerator(seed: 7)
        #expect((0..<5).map { _ in first.next() } == (0..<5).map { _ in second.next() })
        var generator = TraceIDGenerator()
        let traces = (0..<10_000).map { _ in TraceContext.newTrace(using: &generator).traceID }
        #expect(Set(traces).count == traces.count)
        #expect(traces.allSatisfy { TraceContext(traceID: $0, spanID: "00f067aa0ba902b7") != nil })
    }
}
