/// The kinds of message a connection carries, named for authorization and logs.
public enum MessageKind: String, Sendable, Hashable, CaseIterable {
    case hello
    case error
    case submit
    case submitAck = "submit_ack"
    case results
    case register
    case registered
    case dispatch
    case heartbeat
    case statusRequest = "status_request"
    case statusReply = "status_reply"
}
