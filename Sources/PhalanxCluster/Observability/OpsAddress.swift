import Foundation
import PhalanxTransport

/// Where a node serves its operations endpoint (`/metrics`, `/healthz`, `/readyz`): `HOST:PORT`,
/// port 0 for a free one.
public struct OpsAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (an IPv6 host in brackets: `[::1]:9464`). Nil for an empty string (no
    /// endpoint). Throws a message that says what is wrong.
    public static func parse(_ text: String, key: String) throws(OpsAddressError) -> OpsAddress? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        guard let parts = HostPort.split(Substring(text)) else {
            throw OpsAddressError(message: "\(key) = \"\(text)\" has a misplaced [ or ]; write an IPv6 host in brackets before the port, e.g. [::1]:9464")
        }
        guard let portText = parts.port else {
            throw OpsAddressError(message: "\(key) = \"\(text)\" has no port; write HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464 (port 0 picks a free one), or \"\" for no endpoint")
        }
        let host = parts.host
        guard !host.isEmpty, let port = Int(portText), (0...65_535).contains(port) else {
            throw OpsAddressError(message: "\(key) = \"\(text)\" is not HOST:PORT with a port in 0...65535, e.g. 127.0.0.1:9464")
        }
        return OpsAddress(host: host, port: port)
    }

    public var description: String { HostPort.format(host: host, port: port) }
}

/// A malformed ``OpsAddress``.
public struct OpsAddressError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
