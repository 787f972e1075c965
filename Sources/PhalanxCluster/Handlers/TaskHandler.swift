import PhalanxResilience

/// What a task handler is given: the task's identity, attempt, kind and payload.
/// The trace and deadline are in ``TraceContext/current`` and ``Deadline/current`` while it runs.
public struct TaskInput: Sendable {
    public let taskID: String
    public let attempt: UInt32
    public let kind: String
    public let payload: [UInt8]

    public init(taskID: String, attempt: UInt32, kind: String, payload: [UInt8]) {
        self.taskID = taskID
        self.attempt = attempt
        self.kind = kind
        self.payload = payload
    }

    /// The payload read as UTF-8 text.
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// A task handler: returns the task's output bytes, or throws. Throw a ``ClassifiedError``
/// (for example ``PhalanxError/business(_:code:)``) to say how the failure is treated;
/// anything else is reported as `INTERNAL`.
public typealias TaskHandler = @Sendable (TaskInput) async throws -> [UInt8]

/// The task kinds a worker serves, each with its handler.
///
/// ```swift
/// var handlers = TaskHandlerRegistry.builtIn
/// handlers.register("reverse") { input in Array(input.payload.reversed()) }
/// try await WorkerRuntime(configuration: configuration, handlers: handlers).run()
/// ```
public struct TaskHandlerRegistry: Sendable {
    private var handlers: [String: TaskHandler] = [:]

    public init() {}

    /// Adds (or replaces) the handler for `kind`.
    public mutating func register(_ kind: String, _ handler: @escaping TaskHandler) {
        precondition(!kind.isEmpty, "a task kind needs a name")
        handlers[kind] = handler
    }

    /// The handler for `kind`, if registered.
    public func handler(for kind: String) -> TaskHandler? { handlers[kind] }

    /// The kinds served, sorted.
    public var kinds: [String] { handlers.keys.sorted() }
}
