import PhalanxCore
import PhalanxResilience

extension Role {
    public var wire: Phalanx_V1_Role {
        switch self {
        case .coordinator: .coordinator
        case .worker: .worker
        case .client: .client
        case .admin: .admin
        }
    }

    /// The role for a wire value; nil for unspecified or unknown values.
    public init?(wire: Phalanx_V1_Role) {
        switch wire {
        case .coordinator: self = .coordinator
        case .worker: self = .worker
        case .client: self = .client
        case .admin: self = .admin
        default: return nil
        }
    }
}

extension Phalanx_V1_Envelope {
    /// An envelope carrying `body`.
    public init(_ body: OneOf_Body) {
        self.init()
        self.body = body
    }

    /// An envelope carrying a batch of results.
    public static func results(_ results: [Phalanx_V1_TaskResult]) -> Phalanx_V1_Envelope {
        var batch = Phalanx_V1_ResultBatch()
        batch.results = results
        return Phalanx_V1_Envelope(.results(batch))
    }

    /// The kind of message this envelope carries (nil when it has no body).
    public var kind: MessageKind? {
        switch body {
        case .hello: .hello
        case .error: .error
        case .submit: .submit
        case .submitAck: .submitAck
        case .results: .results
        case .register: .register
        case .registered: .registered
        case .dispatch: .dispatch
        case .heartbeat: .heartbeat
        case .statusRequest: .statusRequest
        case .statusReply: .statusReply
        case .draining: .draining
        case .drain: .drain
        case .handBack: .handBack
        case .breakerCommand: .breakerCommand
        case .breakerReply: .breakerReply
        case .drainRequest: .drainRequest
        case .drainReply: .drainReply
        case .resultRequest: .resultRequest
        case .resultReply: .resultReply
        case .cancelRequest: .cancelRequest
        case .cancelReply: .cancelReply
        case .cancelAttempts: .cancelAttempts
        case .deadLetterRequest: .deadLetterRequest
        case .deadLetterReply: .deadLetterReply
        case .spawnChildren: .spawnChildren
        case .spawnReply: .spawnReply
        case .childResults: .childResults
        case .txRequest: .txRequest
        case .txReply: .txReply
        case .txPrepare: .txPrepare
        case .txVote: .txVote
        case .txDecision: .txDecision
        case .txAck: .txAck
        case .txInquiry: .txInquiry
        case .txShowRequest: .txShowRequest
        case .txShowReply: .txShowReply
        case .auditRequest: .auditRequest
        case .auditReply: .auditReply
        case .snapshotRequest: .snapshotRequest
        case .snapshotPart: .snapshotPart
        case .sagaRequest: .sagaRequest
        case .sagaReply: .sagaReply
        case nil: nil
        }
    }

    /// An envelope carrying one Hello for `local`, announcing the limits this node holds its peer to.
    public static func hello(from local: NodeIdentity, maximumFrameBytes: Int = 0, idleTimeout: Duration? = nil) -> Phalanx_V1_Envelope {
        var hello = Phalanx_V1_Hello()
        hello.protocolVersion = ProtocolVersion.current
        hello.cluster = local.cluster
        hello.role = local.role.wire
        hello.node = local.name
        hello.maxFrameBytes = UInt32(clamping: maximumFrameBytes)
        hello.idleTimeoutMs = UInt32(clamping: idleTimeout?.wholeMilliseconds ?? 0)
        return Phalanx_V1_Envelope(.hello(hello))
    }

    /// An envelope carrying a connection-level error.
    public static func error(_ context: ErrorContext) -> Phalanx_V1_Envelope {
        var error = Phalanx_V1_Error()
        error.error = context.wire
        return Phalanx_V1_Envelope(.error(error))
    }
}

extension Phalanx_V1_Hello {
    /// The fields the connection machine checks.
    public var fields: HelloFields {
        HelloFields(protocolVersion: protocolVersion, cluster: cluster, role: Role(wire: role), node: node, maximumFrameBytes: maxFrameBytes)
    }
}
