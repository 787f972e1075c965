/// `HOST[:PORT]` as configuration writes it: a bracketed IPv6 host (`[::1]:9464`) keeps its colons.
/// One reading for the metrics addresses and the Loki URL.
public enum HostPort {
    /// The host (without brackets) and the text after its `:` (nil when there is none). Nil when a
    /// bracket is unbalanced or something other than `:PORT` follows `]`.
    public static func split(_ text: Substring) -> (host: String, port: Substring?)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return (host, nil) }
            guard rest.hasPrefix(":") else { return nil }
            return (host, rest.dropFirst())
        }
        guard !text.contains("[") && !text.contains("]") else { return nil }
        guard let colon = text.lastIndex(of: ":") else { return (String(text), nil) }
        return (String(text[..<colon]), text[text.index(after: colon)...])
    }

    /// `host:port`, with an IPv6 host in brackets.
    public static func format(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
