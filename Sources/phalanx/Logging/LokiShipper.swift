import Foundation
import PhalanxTransport
import Synchronization

/// Pushes a node's JSON log lines to Loki (`[log] loki_url`) in batches, from a bounded buffer:
/// logging never waits for Loki. When the buffer is full new lines are dropped (and counted, and
/// the count is reported on standard error); a batch Loki refuses or that cannot be sent is
/// dropped too, after one retry. Labels are cluster, node and role only: trace and task ids stay
/// in the line, so label cardinality stays bounded.
final class LokiShipper: Sendable {
    static let maximumLines = 10_000
    static let maximumBytes = 8 * 1024 * 1024
    static let interval: Duration = .seconds(1)

    private struct Buffer {
        var lines: [(nanoseconds: Int64, line: String)] = []
        var bytes = 0
        var dropped = 0
    }

    let endpoint: HTTPEndpoint
    private let labels: [String: String]
    private let buffer = Mutex(Buffer())

    init(endpoint: HTTPEndpoint, cluster: String, node: String, role: String) {
        self.endpoint = endpoint
        self.labels = ["cluster": cluster, "node": node, "role": role]
    }

    /// Queues one line (never blocks beyond a short lock; drops the line when the buffer is full).
    func enqueue(_ line: String, at time: Date) {
        let nanoseconds = Int64(time.timeIntervalSince1970 * 1_000_000_000)
        buffer.withLock { buffer in
            guard buffer.lines.count < Self.maximumLines, buffer.bytes + line.utf8.count <= Self.maximumBytes else {
                buffer.dropped += 1
                return
            }
            buffer.lines.append((nanoseconds, line))
            buffer.bytes += line.utf8.count
        }
    }

    /// Sends what is buffered every second until cancelled, then once more.
    func run() async {
        while (try? await Task.sleep(for: Self.interval)) != nil {
            await flush()
        }
        // Outside the cancelled task: in it, the request would fail with CancellationError at once
        // and the last lines (those of the shutdown) would never reach Loki. Bounded by the client's timeout.
        await Task { await flush() }.value
    }

    /// Sends everything buffered now (one request, retried once).
    func flush() async {
        let (lines, dropped) = buffer.withLock { buffer in
            defer { buffer = Buffer() }
            return (buffer.lines, buffer.dropped)
        }
        if dropped > 0 { report("\(dropped) log lines were dropped: the Loki buffer (\(Self.maximumLines) lines, \(Self.maximumBytes) bytes) was full") }
        guard !lines.isEmpty else { return }
        let body = Self.pushBody(lines, labels: labels)
        var failure = ""
        for _ in 0..<2 {
            do {
                let status = try await PlainHTTPClient.request(.POST, endpoint, body: body, contentType: "application/json").status
                if (200..<300).contains(Int(status.code)) { return }
                failure = "Loki answered \(status.code) \(status.reasonPhrase)"
            } catch {
                failure = "\(error)"
            }
        }
        report("\(lines.count) log lines could not be pushed to Loki at \(endpoint): \(failure)")
    }

    /// Loki's push API body: one stream with this node's labels.
    static func pushBody(_ lines: [(nanoseconds: Int64, line: String)], labels: [String: String]) -> [UInt8] {
        let object: [String: Any] = ["streams": [["stream": labels, "values": lines.map { ["\($0.nanoseconds)", $0.line] }]]]
        return Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
    }

    private func report(_ message: String) {
        FileHandle.standardError.write(Data("\(NodeLogHandler.json(time: Date(), level: .warning, node: labels["node"] ?? "", logger: "phalanx.loki", message: message, fields: [:]))\n".utf8))
    }
}
