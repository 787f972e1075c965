/// Who a peer is: its cluster, role and name, as written in its certificate's URI SAN
/// `phalanx://CLUSTER/ROLE/NAME`.
public struct NodeIdentity: Sendable, Hashable, CustomStringConvertible {
    public var cluster: String
    public var role: Role
    public var name: String

    public init(cluster: String, role: Role, name: String) {
        self.cluster = cluster
        self.role = role
        self.name = name
    }

    /// The URI form, as put in a certificate.
    public var uri: String { "phalanx://\(cluster)/\(role.rawValue)/\(name)" }

    public var description: String { uri }

    /// Why a certificate's names do not give an identity.
    public enum ParseError: Error, Hashable, CustomStringConvertible {
        case noPhalanxURI
        case severalPhalanxURIs([String])
        case malformed(String, reason: String)

        public var description: String {
            switch self {
            case .noPhalanxURI:
                "the certificate has no URI SAN of the form phalanx://CLUSTER/ROLE/NAME"
            case .severalPhalanxURIs(let uris):
                "the certificate has \(uris.count) phalanx URI SANs (\(uris.joined(separator: ", "))); exactly one is allowed"
            case .malformed(let uri, let reason):
                "the certificate's URI SAN \(uri) is malformed: \(reason)"
            }
        }
    }

    /// Parses one `phalanx://CLUSTER/ROLE/NAME` URI.
    public static func parse(uri: String) throws(ParseError) -> NodeIdentity {
        let prefix = "phalanx://"
        guard uri.hasPrefix(prefix) else { throw .malformed(uri, reason: "the scheme must be phalanx://") }
        let parts = uri.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed(uri, reason: "expected exactly CLUSTER/ROLE/NAME after phalanx://") }
        guard let role = Role(rawValue: String(parts[1])) else {
            throw .malformed(uri, reason: "unknown role '\(parts[1])' (expected one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        for (label, part) in [("cluster", parts[0]), ("name", parts[2])] where !isValidSegment(part) {
            throw .malformed(uri, reason: "the \(label) must be 1-64 characters of letters, digits, '-', '_' or '.'")
        }
        return NodeIdentity(cluster: String(parts[0]), role: role, name: String(parts[2]))
    }

    /// The identity among a certificate's URI SANs: exactly one must use the phalanx scheme.
    public static func fromSubjectAlternativeNameURIs(_ uris: [String]) throws(ParseError) -> NodeIdentity {
        let candidates = uris.filter { $0.hasPrefix("phalanx:") }
        guard let only = candidates.first else { throw .noPhalanxURI }
        guard candidates.count == 1 else { throw .severalPhalanxURIs(candidates) }
        return try parse(uri: only)
    }

    /// Whether `segment` is a valid cluster or node name.
    public static func isValidSegment(_ segment: Substring) -> Bool {
        guard (1...64).contains(segment.utf8.count) else { return false }
        return segment.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                true
            default:
                false
            }
        }
    }
}
