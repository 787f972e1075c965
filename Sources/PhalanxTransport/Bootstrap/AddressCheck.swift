import NIOCore

/// Whether a host and port can be turned into a socket address at all (a syntax or name problem),
/// checked at start-up before anything is opened or bound.
public enum AddressCheck {
    /// Why `host:port` cannot be an address, or nil when it resolves.
    public static func problem(host: String, port: Int) -> String? {
        guard !host.isEmpty else { return "the host is empty; give an IP address or a name of this machine, e.g. 127.0.0.1" }
        do {
            _ = try SocketAddress.makeAddressResolvingHost(host, port: port)
            return nil
        } catch {
            return "'\(host)' is not an IP address or a name that resolves (\(error)); give an address of this machine, e.g. 127.0.0.1"
        }
    }
}
