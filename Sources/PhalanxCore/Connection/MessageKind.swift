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
    case draining
    case drain
    case handBack = "hand_back"
    case breakerCommand = "breaker_command"
    case breakerReply = "breaker_reply"
    case drainRequest = "drain_request"
    case drainReply = "drain_reply"
    case resultRequest = "result_request"
    case resultReply = "result_reply"
    case cancelRequest = "cancel_request"
    case cancelReply = "cancel_reply"
    case cancelAttempts = "cancel_attempts"
    case deadLetterRequest = "dead_letter_request"
    case deadLetterReply = "dead_letter_reply"
    case spawnChildren = "spawn_children"
    case spawnReply = "spawn_reply"
    case childResults = "child_results"
    case txRequest = "tx_request"
    case txReply = "tx_reply"
    case txPrepare = "tx_prepare"
    case txVote = "tx_vote"
    case txDecision = "tx_decision"
    case txAck = "tx_ack"
    case txInquiry = "tx_inquiry"
    case txShowRequest = "tx_show_request"
    case txShowReply = "tx_show_reply"
    case auditRequest = "audit_request"
    case auditReply = "audit_reply"
    case snapshotRequest = "snapshot_request"
    case snapshotPart = "snapshot_part"
    case sagaRequest = "saga_request"
    case sagaReply = "saga_reply"
}
