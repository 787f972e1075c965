import Synchronization

/// One instance per name, made on first use: the registry behind breakers and bulkheads.
///
/// The first caller for a name creates its instance with the registry's `make` closure; every
/// later caller gets the same one.
public final class NamedRegistry<Value: Sendable>: Sendable {
    private let instances = Mutex<[String: Value]>([:])
    private let make: @Sendable (String) -> Value

    /// A registry that makes the instance for a new name with `make`.
    public init(make: @escaping @Sendable (String) -> Value) {
        self.make = make
    }

    /// The instance for `name`, made now if this is the first time it is asked for.
    public func callAsFunction(_ name: String) -> Value {
        instances.withLock { instances in
            if let existing = instances[name] { return existing }
            let created = make(name)
            instances[name] = created
            return created
        }
    }

    /// The names made so far, sorted.
    public var names: [String] {
        instances.withLock { $0.keys.sorted() }
    }
}
