import Foundation
import PhalanxCluster
import PhalanxCore
import PhalanxTransport
import TOMLKit

/// The effective configuration: defaults, then `cluster.conf`, then `PHALANX_*` environment
/// variables, then `--set section.key=value` flags. Every value is checked against ``ConfigKey``;
/// a wrong key, type or value is an error naming where it came from, the key and what is expected.
struct ClusterConfig: Sendable {
    private(set) var values: [String: ConfigValue]
    private(set) var sources: [String: String]
    /// Sections whose keys are task kinds (``PerKindSection``): section → kind → value.
    private(set) var perKind: [String: [String: Int]] = [:]

    /// `[bulkheads]`: task kind → tasks of that kind a worker runs at once.
    var bulkheads: [String: Int] { perKind[PerKindSection.bulkheads.name] ?? [:] }
    /// `[retries]`: task kind → attempts a task of that kind gets when it fails for a system reason.
    var retries: [String: Int] { perKind[PerKindSection.retries.name] ?? [:] }
    /// The folder relative paths in the file are resolved against.
    let baseDirectory: String

    /// Why a configuration cannot be used.
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static func load(file: String?, environment: [String: String], overrides: [String]) throws(Problem) -> ClusterConfig {
        var config = ClusterConfig(
            values: Dictionary(uniqueKeysWithValues: ConfigKey.all.map { ($0.path, $0.defaultValue) }),
            sources: [:],
            baseDirectory: file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath)
        if let file { try config.apply(file: file) }
        for key in ConfigKey.all {
            if let text = environment[key.environmentVariable] {
                try config.set(key, parsing: text, source: "environment variable \(key.environmentVariable)")
            }
        }
        if let problem = unknownEnvironmentVariable(in: environment) { throw Problem(description: problem) }
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else {
                throw Problem(description: "--set \(override): expected section.key=value, e.g. --set coordinator.port=7500")
            }
            let path = String(override[..<equals])
            if let section = PerKindSection.all.first(where: { path.hasPrefix("\($0.name).") }) {
                let kind = String(path.dropFirst(section.name.count + 1))
                let text = String(override[override.index(after: equals)...])
                guard let value = Int(text) else { throw Problem(description: "--set \(override): \(path) must be an integer, got '\(text)'") }
                try config.set(section, kind, value, source: "--set \(override)")
                continue
            }
            guard let key = ConfigKey.find(path) else {
                throw Problem(description: "--set \(override): unknown key '\(path)'; known keys: \(ConfigKey.all.map(\.path).joined(separator: ", "))")
            }
            try config.set(key, parsing: String(override[override.index(after: equals)...]), source: "--set \(override)")
        }
        return config
    }

    /// `PHALANX_*` variables that are not configuration keys: failpoints, and the scripts' own.
    static let otherEnvironmentVariables: Set<String> = ["PHALANX_FAILPOINTS", "PHALANX_CERT_DAYS", "PHALANX_BIN"]

    /// A `PHALANX_*` environment variable that names no key (a typo would be ignored silently),
    /// with the closest known one.
    static func unknownEnvironmentVariable(in environment: [String: String]) -> String? {
        let known = Set(ConfigKey.all.map(\.environmentVariable)).union(otherEnvironmentVariables)
        guard let unknown = environment.keys.filter({ $0.hasPrefix("PHALANX_") && !known.contains($0) }).sorted().first else { return nil }
        // Suggested only when it is a likely typo (a few edits away), and only a configuration key.
        let closest = ConfigKey.all.map(\.environmentVariable).min { distance($0, unknown) < distance($1, unknown) }.flatMap { distance($0, unknown) <= 3 ? $0 : nil }
        return "environment variable \(unknown) names no configuration key\(closest.map { " (did you mean \($0)?)" } ?? ""); unset it, or see cluster.conf for the keys (PHALANX_SECTION_KEY)"
    }

    /// Levenshtein distance, for suggestions.
    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() { current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)) }
            previous = current
        }
        return previous[b.count]
    }

    /// Why a worker or a client cannot dial the coordinator with this configuration, or nil.
    var dialProblem: String? {
        guard integer("coordinator.port") == 0 else { return nil }
        return "coordinator.port is 0 (\(sources["coordinator.port"] ?? "the default")): 0 lets the coordinator pick a free port, but a worker or client must dial the port it listens on (the coordinator's --port-file writes it)"
    }

    func string(_ path: String) -> String {
        guard case .string(let value) = values[path] else { preconditionFailure("\(path) is not a string key") }
        return value
    }

    func integer(_ path: String) -> Int {
        guard case .integer(let value) = values[path] else { preconditionFailure("\(path) is not an integer key") }
        return value
    }

    func boolean(_ path: String) -> Bool {
        guard case .boolean(let value) = values[path] else { preconditionFailure("\(path) is not a boolean key") }
        return value
    }

    /// A path from the configuration, resolved against the configuration file's folder.
    func path(_ key: String) -> String {
        let value = string(key)
        return value.hasPrefix("/") ? value : URL(fileURLWithPath: baseDirectory).appendingPathComponent(value).path
    }

    private mutating func apply(file: String) throws(Problem) {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw Problem(description: "cannot read the configuration file \(file): \(error.localizedDescription)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Problem(description: "\(file): not valid TOML at \(error.source.begin): \(error.description)")
        } catch {
            throw Problem(description: "\(file): not valid TOML: \(error)")
        }
        for section in table.keys {
            guard let sectionTable = table[section]?.table else {
                throw Problem(description: "\(file): '\(section)' must be a [section]; keys live in sections such as [coordinator]")
            }
            if let perKindSection = PerKindSection.all.first(where: { $0.name == section }) {
                for kind in sectionTable.keys {
                    guard let value = sectionTable[kind]?.int else {
                        throw Problem(description: "\(file): [\(section)] \(kind) must be an integer (\(perKindSection.meaning(kind))), got \(sectionTable[kind]!.debugDescription)")
                    }
                    try set(perKindSection, kind, value, source: file)
                }
                continue
            }
            for name in sectionTable.keys {
                let path = "\(section).\(name)"
                guard let key = ConfigKey.find(path) else {
                    let known = ConfigKey.all.filter { $0.section == section }.map(\.name)
                    if known.isEmpty {
                        let sections = Set(ConfigKey.all.map(\.section) + PerKindSection.all.map(\.name)).sorted()
                        throw Problem(description: "\(file): unknown section [\(section)]; known sections: \(sections.joined(separator: ", "))")
                    }
                    throw Problem(description: "\(file): unknown key '\(name)' in [\(section)]; known keys in [\(section)]: \(known.joined(separator: ", "))")
                }
                let raw = sectionTable[name]!
                let value: ConfigValue?
                switch key.kind {
                case .string: value = raw.string.map(ConfigValue.string)
                case .integer: value = raw.int.map(ConfigValue.integer)
                case .boolean: value = raw.bool.map(ConfigValue.boolean)
                }
                guard let value else {
                    throw Problem(description: "\(file): [\(section)] \(name) must be \(key.kind.rawValue == "integer" ? "an integer" : "a \(key.kind.rawValue)"), got \(raw.debugDescription)")
                }
                try set(key, value, source: file)
            }
        }
    }

    private mutating func set(_ section: PerKindSection, _ kind: String, _ value: Int, source: String) throws(Problem) {
        guard !kind.isEmpty, kind.utf8.count <= TaskLimits.maximumKindBytes else {
            throw Problem(description: "\(source): a [\(section.name)] key is a task kind of 1-\(TaskLimits.maximumKindBytes) bytes, got '\(kind)'")
        }
        guard section.range.contains(value) else {
            throw Problem(description: "\(source): \(section.name).\(kind) must be in \(section.range.lowerBound)...\(section.range.upperBound) (\(section.meaning(kind))), got \(value)")
        }
        perKind[section.name, default: [:]][kind] = value
    }


    private mutating func set(_ key: ConfigKey, parsing text: String, source: String) throws(Problem) {
        let value: ConfigValue
        switch key.kind {
        case .string:
            value = .string(text)
        case .integer:
            guard let number = Int(text) else { throw Problem(description: "\(source): \(key.path) must be an integer, got '\(text)'") }
            value = .integer(number)
        case .boolean:
            guard let flag = Bool(text) else { throw Problem(description: "\(source): \(key.path) must be true or false, got '\(text)'") }
            value = .boolean(flag)
        }
        try set(key, value, source: source)
    }

    private mutating func set(_ key: ConfigKey, _ value: ConfigValue, source: String) throws(Problem) {
        if case .integer(let number) = value, let range = key.range, !range.contains(number) {
            throw Problem(description: "\(source): \(key.path) must be in \(range.lowerBound)...\(range.upperBound), got \(number) (\(key.help))")
        }
        if ["coordinator.data_dir", "worker.data_dir", "tls.dir"].contains(key.path), case .string(let folder) = value,
            folder.trimmingCharacters(in: .whitespaces).isEmpty
        {
            throw Problem(description: "\(source): \(key.path) must name a folder, got an empty value")
        }
        if key.path == "log.level", case .string(let level) = value,
            !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level)
        {
            throw Problem(description: "\(source): log.level must be one of trace, debug, info, notice, warning, error, critical; got '\(level)'")
        }
        if key.path.hasPrefix("metrics."), case .string(let address) = value {
            do {
                _ = try OpsAddress.parse(address, key: key.path)
            } catch {
                throw Problem(description: "\(source): \(error.message)")
            }
        }
        if key.path == "log.format", case .string(let format) = value, NodeLogHandler.Format(rawValue: format) == nil {
            throw Problem(description: "\(source): log.format must be json or text; got '\(format)'")
        }
        if key.path == "log.loki_url", case .string(let url) = value {
            do {
                _ = try HTTPEndpoint.parse(url)
            } catch {
                throw Problem(description: "\(source): log.loki_url: \(error.message)")
            }
        }
        if key.path == "cluster.name", case .string(let name) = value,
            name.isEmpty || !name.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "-_.".unicodeScalars.contains($0) })
        {
            throw Problem(description: "\(source): cluster.name must be non-empty letters, digits, '-', '_' or '.'; got '\(name)'")
        }
        values[key.path] = value
        sources[key.path] = source
    }
}

/// A `cluster.conf` section whose keys are task kinds and whose values are integers.
struct PerKindSection: Sendable {
    let name: String
    let range: ClosedRange<Int>
    /// What the value means for `kind`, for error messages.
    let meaning: @Sendable (String) -> String

    static let bulkheads = PerKindSection(name: "bulkheads", range: 1...100_000) { "tasks of kind '\($0)' a worker runs at once" }
    static let retries = PerKindSection(name: "retries", range: 1...TaskLimits.maximumAttempts) {
        "attempts a task of kind '\($0)' gets when it fails for a system reason, the first included"
    }
    static let all = [bulkheads, retries]
}
