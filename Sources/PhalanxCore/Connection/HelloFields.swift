/// What a peer says about itself in its Hello frame.
public struct HelloFields: Sendable, Hashable {
    public var protocolVersion: UInt32
    public var cluster: String
    public var role: Role?
    public var node: String
    /// The largest frame the peer accepts (0: it did not say; the default limit applies).
    public var maximumFrameBytes: UInt32

    public init(protocolVersion: UInt32, cluster: String, role: Role?, node: String, maximumFrameBytes: UInt32 = 0) {
        self.protocolVersion = protocolVersion
        self.cluster = cluster
        self.role = role
        self.node = node
        self.maximumFrameBytes = maximumFrameBytes
    }
}

/// The protocol version this build speaks (2: results are routed by dispatch id, Hello carries limits).
public enum ProtocolVersion {
    public static let current: UInt32 = 2
}
