import Foundation
import PhalanxCore
import PhalanxResilience

/// A participant's snapshot for an online audit, as a stream of JSON lines (one value, prepared
/// record, applied transaction or resource report per line) cut into parts by bytes.
///
/// Each item is encoded once, and an item of any size travels, because parts are cut at a byte
/// count, not between items: a write larger than a frame spans several parts. The coordinator
/// joins a worker's parts in order and reads the lines back with ``Reader``.
enum SnapshotStream {
    /// One line of the stream; exactly one of its fields is set (`key` goes with `value`).
    struct Line: Codable {
        var key: String?
        var value: StoredValue?
        var prepared: ParticipantMachine.Prepared?
        var applied: AppliedTransaction?
        var resource: ResourceAuditReport?
    }

    /// Problems of one resource report sent at most, each cut to `maximumProblemCharacters`.
    static let maximumProblems = 1_000
    static let maximumProblemCharacters = 1_000

    /// `snapshot` as parts of at most `maximumBytes` each (at least one part, maybe empty).
    static func parts(of snapshot: ParticipantSnapshot, maximumBytes: Int) throws(EncodingError) -> [Data] {
        precondition(maximumBytes > 0, "a part must have room for at least one byte")
        var cutter = Cutter(maximumBytes: maximumBytes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func add(_ line: Line) throws(EncodingError) {
            do {
                var data = try encoder.encode(line)
                data.append(newline)
                cutter.append(data)
            } catch let error as EncodingError {
                throw error
            } catch {
                throw EncodingError.invalidValue(line, .init(codingPath: [], debugDescription: "\(error)"))
            }
        }
        for key in snapshot.values.keys.sorted() {
            try add(Line(key: key, value: snapshot.values[key]))
        }
        for record in snapshot.prepared { try add(Line(prepared: record)) }
        for record in snapshot.applied { try add(Line(applied: record)) }
        for report in snapshot.resources ?? [] {
            var bounded = report
            bounded.problems = report.problems.prefix(maximumProblems).map { String($0.prefix(maximumProblemCharacters)) }
            try add(Line(resource: bounded))
        }
        return cutter.finish()
    }

    /// Reads a worker's parts back, in the order they arrived, into its snapshot.
    struct Reader {
        private var snapshot: ParticipantSnapshot
        /// The start of a line whose end has not arrived yet.
        private var partial = Data()
        private let decoder = JSONDecoder()

        init(node: String) {
            snapshot = ParticipantSnapshot(node: node, values: [:], prepared: [], applied: [])
        }

        /// Reads the complete lines that `part` ends or holds.
        mutating func append(_ part: Data) throws(ErrorContext) {
            var lineStart = partial.startIndex
            var searchFrom = partial.endIndex  // what came before has no line end
            partial.append(part)
            while let end = partial[searchFrom...].firstIndex(of: newline) {
                try read(partial[lineStart..<end])
                lineStart = end + 1
                searchFrom = lineStart
            }
            if lineStart != partial.startIndex { partial = Data(partial[lineStart...]) }
        }

        /// The snapshot, once every part has been appended; an error if the last line was cut short.
        func finish() throws(ErrorContext) -> ParticipantSnapshot {
            guard partial.isEmpty else {
                throw ErrorContext(
                    code: .malformedFrame, message: "the snapshot of \(snapshot.node) ends in the middle of a line (\(partial.count) bytes without an end)")
            }
            return snapshot
        }

        private mutating func read(_ bytes: Data) throws(ErrorContext) {
            let line: Line
            do {
                line = try decoder.decode(Line.self, from: bytes)
            } catch {
                throw ErrorContext(code: .malformedFrame, message: "cannot read a line of the snapshot of \(snapshot.node): \(error)")
            }
            if let key = line.key, let value = line.value { snapshot.values[key] = value }
            if let record = line.prepared { snapshot.prepared.append(record) }
            if let record = line.applied { snapshot.applied.append(record) }
            if let report = line.resource { snapshot.resources = (snapshot.resources ?? []) + [report] }
        }
    }

    private static let newline = UInt8(ascii: "\n")

    /// Collects bytes into parts of exactly `maximumBytes` (the last one shorter).
    private struct Cutter {
        let maximumBytes: Int
        var parts: [Data] = []
        var current = Data()

        mutating func append(_ data: Data) {
            var rest = data[...]
            while !rest.isEmpty {
                let taken = rest.prefix(maximumBytes - current.count)
                current.append(taken)
                rest = rest.dropFirst(taken.count)
                if current.count == maximumBytes {
                    parts.append(current)
                    current = Data()
                }
            }
        }

        mutating func finish() -> [Data] {
            if !current.isEmpty || parts.isEmpty { parts.append(current) }
            return parts
        }
    }
}
