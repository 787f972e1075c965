import Logging
import PhalanxCluster
import PhalanxResilience
import Synchronization
import Testing
import Tracing

/// Collects what a logger writes.
final class CapturedLog: Sendable {
    let entries = Mutex<[(message: String, metadata: [String: String])]>([])

    var logger: Logger {
        Logger(label: "test.span") { _ in CapturingHandler(sink: self) }
    }

    struct CapturingHandler: LogHandler {
        let sink: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).mapValues { "\($0)" }
            sink.entries.withLock { $0.append(("\(event.message)", fields)) }
        }
    }
}

@Suite struct SpanLogTracerTests {
    @Test func aSpanIsLoggedOnceWhenItEndsWithTheIdsOfItsContextAndPlainAttributes() throws {
        let log = CapturedLog()
        let tracer = SpanLogTracer(logger: log.logger)
        let trace = try #require(TraceContext(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7"))
        let span = tracer.startSpan("run", context: .phalanxSpan(trace, parentSpanID: "1111111111111111"), ofKind: .consumer)
        span.attributes["task_id"] = "t1"
        span.attributes["attempt"] = 2
        #expect(log.entries.withLock { $0.isEmpty }, "nothing before the end")
        span.end()
        span.end()  // a second end is ignored
        let entries = log.entries.withLock { $0 }
        #expect(entries.count == 1)
        let fields = try #require(entries.first?.metadata)
        #expect(entries.first?.message == "span")
        #expect(fields["trace_id"] == trace.traceID && fields["span_id"] == trace.spanID && fields["parent_span_id"] == "1111111111111111")
        #expect(fields["operation"] == "run" && fields["task_id"] == "t1" && fields["attempt"] == "2" && fields["status"] == "ok")
        #expect(fields["duration_ms"].flatMap(Double.init).map { $0 >= 0 } == true)
        #expect(!span.isRecording)
    }

    @Test func anErrorMarksTheSpanFailedWithTheErrorsCode() {
        let log = CapturedLog()
        let tracer = SpanLogTracer(logger: log.logger)
        tracer.withSpan("dispatch", context: .topLevel) { span in
            span.recordError(ErrorContext(code: .workerLost, message: "gone"))
        }
        let fields = log.entries.withLock { $0.first?.metadata } ?? [:]
        #expect(fields["status"] == "error" && fields["error"] == "WORKER_LOST: gone", "\(fields)")
        #expect(fields["trace_id"]?.count == 32 && fields["parent_span_id"] == nil, "a span without ids starts a new trace")
    }

    @Test func traceparentIsInjectedAndExtracted() throws {
        struct Headers: Injector, Extractor {
            func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
            func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
        }
        let tracer = SpanLogTracer(logger: CapturedLog().logger)
        let trace = try #require(TraceContext(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7"))
        var headers: [String: String] = [:]
        tracer.inject(.phalanxSpan(trace, parentSpanID: nil), into: &headers, using: Headers())
        #expect(headers["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        var context = InstrumentationContext.topLevel
        tracer.extract(headers, into: &context, using: Headers())
        let span = try #require(context[PhalanxSpanKey.self])
        #expect(span.trace.traceID == trace.traceID && span.parentSpanID == trace.spanID && span.trace.spanID != trace.spanID)
        var untouched = InstrumentationContext.topLevel
        tracer.extract(["traceparent": "garbage"], into: &untouched, using: Headers())
        #expect(untouched[PhalanxSpanKey.self] == nil, "a malformed header is ignored")
    }
}
