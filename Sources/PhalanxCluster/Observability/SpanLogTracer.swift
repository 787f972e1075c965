import Foundation
import Logging
import PhalanxResilience
import Synchronization
import Tracing

/// The ids of the span a piece of work runs in, in a swift-distributed-tracing context: its trace
/// and span id (W3C, ``TraceContext``) and its parent's span id. Phalanx makes these ids itself
/// (they travel in every frame), so a tracer does not invent them: the span ids in spans and in
/// log lines are the same.
public enum PhalanxSpanKey: InstrumentationContextKey {
    public typealias Value = PhalanxSpan
    public static var nameOverride: String? { "phalanx-span" }
}

/// A span's own ids and its parent's span id.
public struct PhalanxSpan: Sendable, Hashable {
    public var trace: TraceContext
    public var parentSpanID: String?

    public init(trace: TraceContext, parentSpanID: String?) {
        self.trace = trace
        self.parentSpanID = parentSpanID
    }
}

extension InstrumentationContext {
    /// A context whose next span is `trace` (its trace and span id), child of `parentSpanID`.
    public static func phalanxSpan(_ trace: TraceContext, parentSpanID: String?) -> InstrumentationContext {
        var context = InstrumentationContext.topLevel
        context[PhalanxSpanKey.self] = PhalanxSpan(trace: trace, parentSpanID: parentSpanID)
        return context
    }
}

/// A swift-distributed-tracing tracer that writes each finished span as one log line (`span`):
/// operation, trace_id, span_id, parent_span_id, duration_ms, status, and its attributes. With
/// JSON logs (and Loki) that is a trace store one can query by trace id; an OpenTelemetry
/// exporter can take its place behind the same `Tracer` API. Spans get their ids from the context
/// (``PhalanxSpanKey``); without them, a new trace.
public final class SpanLogTracer: Tracer {
    public typealias Span = LoggedSpan
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind, at instant: @autoclosure () -> Instant,
        function: String, file fileID: String, line: UInt
    ) -> LoggedSpan {
        var context = context()
        let ids = context[PhalanxSpanKey.self] ?? PhalanxSpan(trace: .newTrace(), parentSpanID: nil)
        context[PhalanxSpanKey.self] = ids
        return LoggedSpan(operationName: operationName, context: context, ids: ids, kind: kind, start: instant().nanosecondsSinceEpoch, logger: logger)
    }

    public func forceFlush() {}

    /// Reads a W3C `traceparent` header from `carrier` (the span it names becomes the parent).
    public func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier), let parent = TraceContext(traceparent: header) else { return }
        context[PhalanxSpanKey.self] = PhalanxSpan(trace: parent.childSpan(), parentSpanID: parent.spanID)
    }

    /// Writes the context's span as a W3C `traceparent` header into `carrier`.
    public func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let span = context[PhalanxSpanKey.self] else { return }
        injector.inject(span.trace.traceparent, forKey: "traceparent", into: &carrier)
    }
}

/// A span of ``SpanLogTracer``: logged once, when it ends.
public final class LoggedSpan: Tracing.Span {
    private struct State {
        var operationName: String
        var attributes: SpanAttributes = [:]
        var status: SpanStatus?
        var errors: [String] = []
        var ended = false
    }

    public let context: InstrumentationContext
    let ids: PhalanxSpan
    let kind: SpanKind
    let start: UInt64
    private let logger: Logger
    private let state: Mutex<State>

    init(operationName: String, context: InstrumentationContext, ids: PhalanxSpan, kind: SpanKind, start: UInt64, logger: Logger) {
        self.context = context
        self.ids = ids
        self.kind = kind
        self.start = start
        self.logger = logger
        self.state = Mutex(State(operationName: operationName))
    }

    public var operationName: String {
        get { state.withLock { $0.operationName } }
        set { state.withLock { $0.operationName = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    public var isRecording: Bool { state.withLock { !$0.ended } }

    public func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }

    public func addEvent(_ event: SpanEvent) {}

    public func addLink(_ link: SpanLink) {}

    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        let text = (error as? ErrorContext).map { "\($0.code.rawValue): \($0.message)" } ?? "\(error)"
        state.withLock { $0.errors.append(text) }
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let end = instant().nanosecondsSinceEpoch
        guard let finished = state.withLock({ state -> State? in
            guard !state.ended else { return nil }
            state.ended = true
            return state
        }) else { return }
        var metadata: Logger.Metadata = [
            "operation": "\(finished.operationName)", "trace_id": "\(ids.trace.traceID)", "span_id": "\(ids.trace.spanID)",
            "duration_ms": "\(String(format: "%.3f", Double(end &- start) / 1_000_000))", "span_kind": "\(kind)",
        ]
        if let parent = ids.parentSpanID { metadata["parent_span_id"] = "\(parent)" }
        let failed = finished.status?.code == .error || !finished.errors.isEmpty
        metadata["status"] = "\(failed ? "error" : "ok")"
        if let error = finished.errors.first ?? finished.status?.message { metadata["error"] = "\(error)" }
        finished.attributes.forEach { name, attribute in metadata[name] = "\(Self.text(of: attribute))" }
        logger.info("span", metadata: metadata)
    }

    /// An attribute's value as plain text (`1`, not `int64(1)`).
    static func text(of attribute: SpanAttribute) -> String {
        switch attribute {
        case .int32(let value): "\(value)"
        case .int64(let value): "\(value)"
        case .double(let value): "\(value)"
        case .bool(let value): "\(value)"
        case .string(let value): value
        case .stringConvertible(let value): value.description
        case .int32Array(let values): values.map { "\($0)" }.joined(separator: ",")
        case .int64Array(let values): values.map { "\($0)" }.joined(separator: ",")
        case .doubleArray(let values): values.map { "\($0)" }.joined(separator: ",")
        case .boolArray(let values): values.map { "\($0)" }.joined(separator: ",")
        case .stringArray(let values): values.joined(separator: ",")
        default: "\(attribute)"
        }
    }
}
