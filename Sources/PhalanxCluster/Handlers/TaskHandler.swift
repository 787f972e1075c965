import PhalanxResilience

/// What a task handler is given: the task's identity, attempt, kind and payload.
/// The trace and deadline are in ``TraceContext/current`` and ``Deadline/current`` while it runs.
public struct TaskInput: Sendable {
    public let taskID: String
    public let attempt: UInt32
    public let kind: String
    public let payload: [UInt8]
    /// Starts child tasks in this task's scope (on any worker; they end with this attempt).
    public let children: ChildTasks
    /// Applies this task's effects to the workers' stores exactly once across re-runs.
    public let effects: TaskEffects

    public init(
        taskID: String, attempt: UInt32, kind: String, payload: [UInt8], children: ChildTasks = .unavailable, effects: TaskEffects = .unavailable
    ) {
        self.taskID = taskID
        self.attempt = attempt
        self.kind = kind
        self.payload = payload
        self.children = children
        self.effects = effects
    }

    /// The payload read as UTF-8 text.
    public var text: String { String(decoding: payload, as: UTF8.self) }

    /// The payload quoted for an error message: in quotes, and cut after 100 bytes with its size
    /// (a message that quoted a 4 MiB payload whole was larger than a result frame holds).
    public var quotedText: String {
        guard payload.count > 100 else { return "'\(text)'" }
        return "'\(String(decoding: payload.prefix(100), as: UTF8.self))…' (\(payload.count) bytes)"
    }
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

/// One child task a handler starts (``ChildTasks/run(_:)``).
public struct ChildTask: Sendable, Hashable {
    /// Unique among the children of one attempt, 1-64 bytes without `/`; the child's task id is
    /// `<parent id>/<attempt>/<name>`.
    public var name: String
    public var kind: String
    public var payload: [UInt8]
    /// At most the parent's remaining time (nil: the parent's deadline, if it has one).
    public var timeout: Duration?

    public init(name: String, kind: String, payload: [UInt8], timeout: Duration? = nil) {
        self.name = name
        self.kind = kind
        self.payload = payload
        self.timeout = timeout
    }

    public init(name: String, kind: String, text: String, timeout: Duration? = nil) {
        self.init(name: name, kind: kind, payload: Array(text.utf8), timeout: timeout)
    }
}
