import NIOCore

/// The bounds every connection lives within; each is a `cluster.conf` key under `[limits]`.
public struct ConnectionLimits: Sendable, Hashable {
    /// The largest frame body a peer may declare (`limits.max_frame_bytes`).
    public var maximumFrameBytes: Int = 4 * 1024 * 1024
    /// TLS handshake plus Hello exchange must finish within this (`limits.handshake_timeout_ms`).
    public var handshakeTimeout: TimeAmount = .seconds(5)
    /// A frame, once started, must be complete within this (`limits.frame_timeout_ms`).
    public var frameCompletionTimeout: TimeAmount = .seconds(10)
    /// A connection with nothing read for this long is closed (`limits.idle_timeout_ms`).
    public var idleTimeout: TimeAmount = .seconds(60)
    /// Envelopes buffered inbound before reading from the socket pauses (back-pressure). With
    /// frames of at most `maximumFrameBytes`, one connection buffers at most this many frames.
    public var inboundHighWatermark: Int = 16
    /// Bytes queued outbound before a connection counts as not writable (`limits.send_buffer_bytes`).
    public var sendBufferBytes: Int = 8 * 1024 * 1024
    /// Payload bytes of one client connection's unfinished tasks past which its submits are not read
    /// until some finish (`limits.client_inflight_bytes`): back-pressure, not an error.
    public var clientInflightBytes: Int = 64 * 1024 * 1024

    public init() {}
}
