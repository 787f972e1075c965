/// The role a node plays in the cluster. It comes from the node's certificate, never from a claim.
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    case coordinator
    case worker
    case client
    case admin
}
