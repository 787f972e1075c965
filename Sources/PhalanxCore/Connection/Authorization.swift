/// Which role may send which message to a coordinator. Everything not listed is refused.
public enum Authorization {
    /// The roles allowed to send `kind` to the coordinator.
    public static func rolesAllowedToSend(_ kind: MessageKind) -> Set<Role> {
        switch kind {
        case .submit, .statusRequest, .resultRequest, .cancelRequest, .txShowRequest, .sagaRequest: [.client, .admin]
        case .txRequest: [.client, .admin, .worker]  // a worker for the effects of a running task
        case .register, .results, .draining, .handBack, .spawnChildren, .txVote, .txAck, .txInquiry, .snapshotPart: [.worker]
        case .heartbeat: [.worker, .client, .admin]  // liveness for workers, keep-alive for clients
        case .breakerCommand, .drainRequest, .deadLetterRequest, .auditRequest: [.admin]
        case .error: Set(Role.allCases)
        case .hello: Set(Role.allCases)
        case .submitAck, .registered, .dispatch, .statusReply, .drain, .breakerReply, .drainReply, .resultReply, .cancelReply, .cancelAttempts,
            .deadLetterReply, .spawnReply, .childResults, .txReply, .txPrepare, .txDecision, .txShowReply, .auditReply, .snapshotRequest, .sagaReply:
            []
        }
    }

    /// Whether `role` may send `kind` to the coordinator.
    public static func mayCoordinatorAccept(_ kind: MessageKind, from role: Role) -> Bool {
        rolesAllowedToSend(kind).contains(role)
    }

    /// Whether `kind` may arrive from the coordinator at a node of `role`.
    public static func mayArriveFromCoordinator(_ kind: MessageKind, at role: Role) -> Bool {
        switch kind {
        case .hello, .error, .heartbeat: true
        case .submitAck, .results, .statusReply, .resultReply, .cancelReply, .txShowReply, .sagaReply: role == .client || role == .admin
        case .txReply: true  // clients, admins, and workers running task effects
        case .breakerReply, .drainReply, .deadLetterReply, .auditReply: role == .admin
        case .registered, .dispatch, .drain, .cancelAttempts, .spawnReply, .childResults, .txPrepare, .txDecision, .snapshotRequest: role == .worker
        case .submit, .register, .statusRequest, .draining, .handBack, .breakerCommand, .drainRequest, .resultRequest, .cancelRequest, .deadLetterRequest,
            .spawnChildren, .txRequest, .txVote, .txAck, .txInquiry, .txShowRequest, .auditRequest, .snapshotPart, .sagaRequest:
            false
        }
    }
}
