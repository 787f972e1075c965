import PhalanxResilience

/// The per-connection protocol: handshake, identity check and authorization, as a pure value.
///
/// The TLS layer reports the identity from the peer's certificate (``connected(peer:)``); the first
/// frame each way must then be Hello, which must agree with that certificate, speak this protocol
/// version and name this cluster. After that every message is checked against the roles allowed
/// to send it. Any violation produces ``Action/reject(_:)``: send an Error frame, then close.
public struct ConnectionMachine: Sendable {
    /// Which end of the connection this machine runs on.
    public enum Side: Sendable, Hashable {
        /// The coordinator, accepting connections from workers, clients and admins.
        case coordinator
        /// A worker, client or admin that dialed the coordinator.
        case dialer
    }

    /// Where the connection is in its life.
    public enum State: Sendable, Hashable {
        case awaitingTLS
        case awaitingHello(peer: NodeIdentity)
        case established(peer: NodeIdentity)
        case closed
    }

    /// What the handler must do after an event.
    public enum Action: Sendable, Hashable {
        /// Send this node's Hello.
        case sendHello
        /// The handshake is complete: the peer is `peer`.
        case established(peer: NodeIdentity)
        /// Hand the message to the node's runtime.
        case deliver
        /// Send an Error frame with this context, then close.
        case reject(ErrorContext)
        /// The peer sent an Error frame: report it and close (nothing is sent back).
        case peerFailed(ErrorContext)
        /// Close without sending anything (TLS never completed, so a frame cannot be sent safely).
        case closeSilently(ErrorContext)
        /// Do nothing (e.g. a frame arriving after the connection was given up).
        case ignore
    }

    public let side: Side
    public let local: NodeIdentity
    public private(set) var state: State = .awaitingTLS

    public init(side: Side, local: NodeIdentity) {
        self.side = side
        self.local = local
    }

    /// TLS completed and the peer's certificate names `peer`.
    public mutating func connected(peer: NodeIdentity) -> [Action] {
        guard case .awaitingTLS = state else { return [] }
        if peer.cluster != local.cluster {
            return reject(.clusterMismatch, "the peer's certificate \(peer.uri) is for cluster '\(peer.cluster)', this is cluster '\(local.cluster)'")
        }
        switch side {
        case .coordinator where peer.role == .coordinator:
            return reject(.permissionDenied, "role coordinator may not connect to a coordinator (certificate \(peer.uri))")
        case .dialer where peer.role != .coordinator:
            return reject(.unauthenticated, "dialed a \(peer.role.rawValue), not a coordinator (certificate \(peer.uri))")
        default:
            state = .awaitingHello(peer: peer)
            // The dialer speaks first; the coordinator answers only a valid Hello.
            return side == .dialer ? [.sendHello] : []
        }
    }

    /// The peer's Hello arrived.
    public mutating func helloReceived(_ hello: HelloFields) -> [Action] {
        switch state {
        case .awaitingTLS:
            return reject(.protocolError, "Hello arrived before the TLS handshake completed")
        case .established:
            return reject(.protocolError, "a second Hello arrived; Hello is sent once per connection")
        case .closed:
            return [.ignore]
        case .awaitingHello(let peer):
            if hello.protocolVersion != ProtocolVersion.current {
                return reject(
                    .versionMismatch,
                    "the peer speaks protocol version \(hello.protocolVersion), this node speaks \(ProtocolVersion.current); upgrade the older side")
            }
            if hello.cluster != local.cluster {
                return reject(.clusterMismatch, "the peer's Hello names cluster '\(hello.cluster)', this is cluster '\(local.cluster)'")
            }
            if hello.role != peer.role || hello.node != peer.name {
                let claimed = "\(hello.role?.rawValue ?? "unspecified")/\(hello.node)"
                return reject(
                    .unauthenticated,
                    "the Hello claims \(claimed) but the certificate says \(peer.role.rawValue)/\(peer.name); identity comes from the certificate")
            }
            if hello.maximumFrameBytes != 0, !FrameLimits.accepted.contains(Int(hello.maximumFrameBytes)) {
                return reject(
                    .invalidArgument,
                    "the peer's Hello announces a frame limit of \(hello.maximumFrameBytes) bytes; a node must accept frames of \(FrameLimits.minimumBytes)...\(FrameLimits.maximumBytes) bytes (limits.max_frame_bytes)")
            }
            state = .established(peer: peer)
            return side == .coordinator ? [.sendHello, .established(peer: peer)] : [.established(peer: peer)]
        }
    }

    /// A message other than Hello arrived.
    public mutating func messageReceived(_ kind: MessageKind) -> [Action] {
        switch state {
        case .closed:
            return [.ignore]
        case .awaitingTLS, .awaitingHello:
            return reject(.protocolError, "a \(kind.rawValue) message arrived before the Hello exchange; the first frame must be Hello")
        case .established(let peer):
            let allowed = side == .coordinator
                ? Authorization.mayCoordinatorAccept(kind, from: peer.role)
                : Authorization.mayArriveFromCoordinator(kind, at: local.role)
            guard allowed else {
                let who = side == .coordinator ? "role \(peer.role.rawValue) (\(peer.name))" : "the coordinator"
                let adminOnly = side == .coordinator && Authorization.rolesAllowedToSend(kind) == [.admin]
                let hint = adminOnly ? "; only an admin certificate may (the CLI: --name admin, with certs/admin.pem)" : ""
                return reject(.permissionDenied, "\(who) may not send \(kind.rawValue) messages\(hint)")
            }
            return [.deliver]
        }
    }

    /// The peer sent an Error frame.
    public mutating func errorReceived(_ error: ErrorContext) -> [Action] {
        if case .closed = state { return [.ignore] }
        state = .closed
        return [.peerFailed(error)]
    }

    /// The handshake (TLS plus Hello) did not finish in time.
    public mutating func handshakeDeadlinePassed() -> [Action] {
        switch state {
        case .awaitingTLS:
            state = .closed
            return [.closeSilently(ErrorContext(
                code: .deadlineExceeded, message: "the TLS handshake did not complete within the handshake deadline",
                originNode: local.name))]
        case .awaitingHello:
            return reject(.deadlineExceeded, "the TLS handshake and Hello did not complete within the handshake deadline")
        case .established, .closed:
            return []
        }
    }

    /// The frame decoder refused the peer's bytes (too large, malformed, incomplete in time).
    public mutating func decodeFailed(_ error: ErrorContext) -> [Action] {
        if case .closed = state { return [.ignore] }
        state = .closed
        var error = error
        if error.originNode == nil { error.originNode = local.name }  // the node that refused the bytes
        return [.reject(error)]
    }

    /// The connection is gone.
    public mutating func closed() {
        state = .closed
    }

    private mutating func reject(_ code: ErrorCode, _ message: String) -> [Action] {
        state = .closed
        return [.reject(ErrorContext(code: code, message: message, originNode: local.name))]
    }
}
