import PhalanxWire

extension OutboundBatcher where Outbound == OutboundFrame {
    /// Queues `envelope` (sent at the next flush).
    public func write(_ envelope: Phalanx_V1_Envelope) {
        write(.envelope(envelope))
    }

    /// Writes `envelope` and flushes.
    public func send(_ envelope: Phalanx_V1_Envelope) {
        send(.envelope(envelope))
    }
}
