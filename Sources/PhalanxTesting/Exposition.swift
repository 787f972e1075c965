/// The samples of a Prometheus text exposition, read back for assertions.
public struct Exposition: Sendable {
    public struct Sample: Sendable {
        public let name: String
        public let labels: [String: String]
        public let value: Double
    }

    public let text: String
    public let samples: [Sample]

    public init(_ bytes: [UInt8]) {
        self.init(String(decoding: bytes, as: UTF8.self))
    }

    public init(_ text: String) {
        self.text = text
        samples = text.split(separator: "\n").compactMap { Self.parse(String($0)) }
    }

    /// The value of the one sample named `name` with exactly `labels`, nil if there is none.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The count of histogram `name`'s bucket with upper bound `le` (compared as a number).
    public func bucket(_ name: String, le: Double, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in
            guard sample.name == "\(name)_bucket", let bound = sample.labels["le"].flatMap(Double.init) else { return false }
            return (bound == le || abs(bound - le) < 1e-12) && sample.labels.filter { $0.key != "le" } == labels
        }?.value
    }

    /// Every sample named `name`.
    public func samples(_ name: String) -> [Sample] { samples.filter { $0.name == name } }

    /// The `# HELP` and `# TYPE` lines of `name`.
    public func help(_ name: String) -> String? { comment("HELP", name) }
    public func type(_ name: String) -> String? { comment("TYPE", name) }

    private func comment(_ kind: String, _ name: String) -> String? {
        let prefix = "# \(kind) \(name) "
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// `name{a="x",b="y"} value` or `name value`; nil for comments and blank lines.
    static func parse(_ line: String) -> Sample? {
        guard !line.hasPrefix("#"), !line.isEmpty else { return nil }
        var labels: [String: String] = [:]
        let name: String
        let rest: Substring
        if let brace = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") {
            name = String(line[..<brace])
            var inside = line[line.index(after: brace)..<close]
            while !inside.isEmpty {
                guard let equals = inside.firstIndex(of: "=") else { break }
                let key = String(inside[..<equals]).trimmingCharacters(in: [",", " "])
                var cursor = inside.index(after: equals)  // at the opening quote
                cursor = inside.index(after: cursor)
                var value = ""
                while cursor < inside.endIndex, inside[cursor] != "\"" {
                    if inside[cursor] == "\\" { cursor = inside.index(after: cursor) }
                    value.append(inside[cursor])
                    cursor = inside.index(after: cursor)
                }
                labels[key] = value
                inside = cursor < inside.endIndex ? inside[inside.index(after: cursor)...] : ""
            }
            rest = line[line.index(after: close)...]
        } else {
            guard let space = line.firstIndex(of: " ") else { return nil }
            name = String(line[..<space])
            rest = line[space...]
        }
        guard let value = Double(rest.trimmingCharacters(in: [" "]).split(separator: " ").first ?? "") else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }
}

extension String {
    fileprivate func trimmingCharacters(in characters: Set<Character>) -> String {
        String(drop { characters.contains($0) }.reversed().drop { characters.contains($0) }.reversed())
    }
}
