/// Which role may send which message to a coordinator. Everything not listed is refused.
public enum Authorization {
    /// The roles allowed to send `kind` to the coordinator.
    public static func rolesAllowedToSend(_ kind: MessageKind) -> Set<Role> {
        switch kind {
        case .submit, .statusRequest: [.client, .admin]
        case .register, .heartbeat, .results: [.worker]
        case .error: Set(Role.allCases)
        case .hello: Set(Role.allCases)
        case .submitAck, .registered, .dispatch, .statusReply: []
        }
    }

    /// Whether `role` may send `kind` to the coordinator.
    public static func mayCoordinatorAccept(_ kind: MessageKind, from role: Role) -> Bool {
        rolesAllowedToSend(kind).contains(role)
    }

    /// Whether `kind` may arrive from the coordinator at a node of `role`.
    public static func mayArriveFromCoordinator(_ kind: MessageKind, at role: Role) -> Bool {
        switch kind {
        case .hello, .error: true
        case .submitAck, .results, .statusReply: role == .client || role == .admin
        case .registered, .dispatch: role == .worker
        case .submit, .register, .heartbeat, .statusRequest: false
        }
    }
}
