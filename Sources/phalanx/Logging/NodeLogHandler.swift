import Foundation
import Logging

/// A swift-log handler for every node: one line per event on standard error, as a JSON object
/// (`--log-format json`, the default: time, level, node, logger, message and every metadata field
/// — trace_id, span_id, task_id, code … where the code attached them) or as text for a terminal
/// (`--log-format text`). With a ``LokiShipper`` each JSON line is also queued for Loki.
struct NodeLogHandler: LogHandler {
    /// How lines are written to standard error.
    enum Format: String, CaseIterable {
        case json, text
    }

    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String
    let node: String
    let format: Format
    let loki: LokiShipper?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let time = Date()
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { fields[key] = "\(value)" }
        let json = Self.json(time: time, level: event.level, node: node, logger: label, message: "\(event.message)", fields: fields)
        loki?.enqueue(json, at: time)
        let line = format == .json ? json : Self.text(time: time, level: event.level, node: node, message: "\(event.message)", fields: fields)
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func timestamp(_ time: Date) -> String {
        ISO8601DateFormatter.string(from: time, timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
    }

    /// One JSON object (keys sorted; metadata never replaces the fixed keys).
    static func json(time: Date, level: Logger.Level, node: String, logger: String, message: String, fields: [String: String]) -> String {
        var object = fields
        object["time"] = timestamp(time)
        object["level"] = level.rawValue
        object["node"] = node
        object["logger"] = logger
        object["message"] = message
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{\"level\":\"error\",\"message\":\"a log line could not be encoded\"}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `TIME LEVEL NODE message key=value …` (keys sorted; values with spaces quoted).
    static func text(time: Date, level: Logger.Level, node: String, message: String, fields: [String: String]) -> String {
        var line = "\(timestamp(time)) \(level.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0))\(node) \(message.terminalSafe)"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            let value = value.terminalSafe
            line += value.contains(" ") || value.isEmpty ? " \(key.terminalSafe)=\"\(value)\"" : " \(key.terminalSafe)=\(value)"
        }
        return line
    }
}
