/// Acknowledgements of submit frames in flight, by request id.
///
/// A frame's slot is opened when it is written, before anyone waits, so an acknowledgement that
/// arrives before its waiter is kept instead of lost. That lets a client keep several frames in
/// flight and wait for them in order.
struct AckSlots<Ack: Sendable>: Sendable {
    private enum Slot {
        case pending
        case arrived(Ack)
        case waiting(CheckedContinuation<Ack, any Error>)
    }

    private var slots: [UInt64: Slot] = [:]

    /// Frames written and not yet waited out.
    var count: Int { slots.count }

    /// A frame with `requestID` was written.
    mutating func open(_ requestID: UInt64) {
        slots[requestID] = .pending
    }

    /// The acknowledgement of `requestID` arrived; returns false when no frame waits for it (a
    /// stray or repeated acknowledgement).
    @discardableResult
    mutating func arrived(_ requestID: UInt64, _ ack: Ack) -> Bool {
        switch slots[requestID] {
        case .pending:
            slots[requestID] = .arrived(ack)
        case .waiting(let waiter):
            slots[requestID] = nil
            waiter.resume(returning: ack)
        case .arrived, nil:
            return false
        }
        return true
    }

    /// The acknowledgement, if it already arrived (its slot is closed); otherwise `waiter` waits
    /// for it and nil is returned.
    mutating func take(_ requestID: UInt64, orWait waiter: CheckedContinuation<Ack, any Error>) -> Ack? {
        if case .arrived(let ack) = slots[requestID] {
            slots[requestID] = nil
            return ack
        }
        slots[requestID] = .waiting(waiter)
        return nil
    }

    /// The connection ended: every waiter gets `error`, every slot is closed.
    mutating func failAll(_ error: any Error) {
        for case .waiting(let waiter) in slots.values { waiter.resume(throwing: error) }
        slots.removeAll()
    }
}
