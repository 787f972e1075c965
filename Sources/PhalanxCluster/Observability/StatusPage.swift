import Foundation
import PhalanxCore

/// The coordinator's read-only status page: members, queues, breakers, throughput and failure-rate
/// sparklines, recent failures with their trace ids. One self-contained HTML document (inline
/// CSS and SVG, no scripts, no external assets) that reloads itself every few seconds; rendered
/// from values, so it is tested without a server.
public struct StatusPage: Sendable {
    public var coordinator: String
    public var cluster: String
    public var snapshot: CoordinatorMetricsSnapshot
    public var deadLetters: Int?
    public var history: [ActivityHistory.Point]
    /// Seconds between history points.
    public var historyInterval: Int
    public var failures: [RecentFailures.Entry]
    public var generatedUnixMilliseconds: Int64
    /// Seconds between reloads (0: never).
    public var refreshSeconds = 5
    /// Why a worker's participant store is not available, by worker (its heartbeats say).
    public var participantProblems: [String: String] = [:]

    public init(
        coordinator: String, cluster: String, snapshot: CoordinatorMetricsSnapshot, deadLetters: Int?, history: [ActivityHistory.Point],
        historyInterval: Int, failures: [RecentFailures.Entry], generatedUnixMilliseconds: Int64
    ) {
        (self.coordinator, self.cluster, self.snapshot, self.deadLetters) = (coordinator, cluster, snapshot, deadLetters)
        (self.history, self.historyInterval, self.failures, self.generatedUnixMilliseconds) = (history, historyInterval, failures, generatedUnixMilliseconds)
    }

    public func render() -> String {
        let failed = snapshot.failures.values.reduce(0, +)
        let queued = snapshot.queued.high + snapshot.queued.normal + snapshot.queued.low
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            \(refreshSeconds > 0 ? "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">" : "")
            <title>Phalanx · \(escape(cluster))</title>
            <style>
            body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
            h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.05em;margin:1.4em 0 .4em}
            table{border-collapse:collapse;background:#fff} td,th{padding:.25em .8em;border:1px solid #ddd;text-align:left}
            th{background:#f0f0f0} .num{text-align:right;font-variant-numeric:tabular-nums}
            .open,.forced_open{color:#b00;font-weight:bold} .half_open{color:#a60} .closed{color:#080}
            .cards{display:flex;gap:.8em;flex-wrap:wrap} .card{background:#fff;border:1px solid #ddd;padding:.5em .9em;min-width:7em}
            .card b{display:block;font-size:1.4em} .muted{color:#777} svg{background:#fff;border:1px solid #ddd}
            code{font-size:.95em}
            </style></head><body>
            <h1>Phalanx cluster <span id="cluster">\(escape(cluster))</span></h1>
            <div class="muted">coordinator \(escape(coordinator)) · \(timestamp(generatedUnixMilliseconds)) UTC\(refreshSeconds > 0 ? " · reloads every \(refreshSeconds) s" : "")</div>
            <h2>Tasks</h2>
            <div class="cards">
            \(card("accepted", snapshot.accepted))\(card("succeeded", snapshot.succeeded))\(card("failed", failed))\(card("queued", UInt64(queued)))\
            \(card("on workers", UInt64(snapshot.running)))\(card("retrying", UInt64(snapshot.retrying)))\(card("retried", snapshot.retried))\
            \(card("dead-lettered", snapshot.deadLettered))\(deadLetters.map { card("in dead-letter queue", UInt64($0)) } ?? "")
            </div>
            <h2>Members</h2>
            <table id="members"><tr><th>name</th><th>role</th><th>state</th><th class="num">load</th><th>breaker</th></tr>

            """
        for worker in snapshot.workers {
            html += "<tr class=\"member\"><td>\(escape(worker.name))</td><td>worker</td><td>\(worker.draining ? "draining" : "active")</td>"
            let window = worker.prefetch > 0 ? "\(worker.capacity) + \(worker.prefetch) prefetch" : "\(worker.capacity)"
            html += "<td class=\"num\">\(worker.running)/\(window)</td><td class=\"\(escape(worker.breaker))\">\(escape(worker.breaker))</td></tr>\n"
        }
        html += "<tr><td>\(escape(coordinator))</td><td>coordinator</td><td>serving</td><td class=\"num\">\(snapshot.clients) clients, \(snapshot.admins) admins</td><td></td></tr>\n"
        html += "</table>\n"
        for (name, problem) in participantProblems.sorted(by: { $0.key < $1.key }) {
            html += "<p class=\"open participant-problem\">\(escape(name)): participant store not available, every transaction naming it aborts: \(escape(problem))</p>\n"
        }
        if snapshot.workers.isEmpty { html += "<p class=\"muted\">No worker is registered: queued tasks wait.</p>\n" }
        html += """
            <h2>Queues</h2>
            <table id="queues"><tr><th>priority</th><th class="num">queued</th></tr>
            <tr><td>high</td><td class="num">\(snapshot.queued.high)</td></tr>
            <tr><td>normal</td><td class="num">\(snapshot.queued.normal)</td></tr>
            <tr><td>low</td><td class="num">\(snapshot.queued.low)</td></tr>
            <tr><td>payload held</td><td class="num">\(bytes(snapshot.heldBytes))</td></tr>
            </table>
            <h2>\(history.isEmpty ? "Activity (sampled every \(historyInterval) s; the first interval is not over yet)" : "Last \(minutes(history.count * historyInterval))")</h2>
            <div>throughput, tasks/s (now \(String(format: "%.0f", history.last?.tasksPerSecond ?? 0)))</div>
            \(sparkline(history.map(\.tasksPerSecond), id: "throughput", color: "#2a6"))
            <div>failure rate (now \(String(format: "%.1f", (history.last?.failureRatio ?? 0) * 100)) %)</div>
            \(sparkline(history.map(\.failureRatio), id: "failures", color: "#c33", maximum: 1))
            <h2>Recent failures</h2>

            """
        if failures.isEmpty {
            html += "<p class=\"muted\" id=\"no-failures\">None since the coordinator started.</p>\n"
        } else {
            html += "<table id=\"recent-failures\"><tr><th>time (UTC)</th><th>task</th><th>code</th><th>trace id</th><th>worker</th><th>message</th></tr>\n"
            for failure in failures {
                html += "<tr class=\"failure\"><td>\(timestamp(failure.unixMilliseconds))</td><td>\(escape(failure.client))/\(escape(failure.taskID))</td>"
                html += "<td>\(escape(failure.code))</td><td><code>\(escape(failure.traceID))</code></td><td>\(escape(failure.worker ?? "–"))</td>"
                html += "<td>\(escape(String(failure.message.prefix(200))))</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<p class=\"muted\">Metrics: <a href=\"/metrics\">/metrics</a> · <a href=\"/readyz\">/readyz</a> · CLI: <code>phalanx status</code></p>\n</body></html>\n"
        return html
    }

    private func card(_ label: String, _ value: UInt64) -> String {
        "<div class=\"card\" data-count=\"\(label)\"><b>\(value)</b>\(label)</div>"
    }

    /// An inline SVG line over `values` (oldest left); flat at zero when empty.
    func sparkline(_ values: [Double], id: String, color: String, maximum: Double? = nil) -> String {
        let (width, height) = (480.0, 60.0)
        let top = max(maximum ?? (values.max() ?? 0), 1e-9)
        let step = values.count > 1 ? width / Double(values.count - 1) : width
        let points = values.isEmpty
            ? "0,\(height) \(width),\(height)"
            : values.enumerated().map { index, value in
                String(format: "%.1f,%.1f", Double(index) * step, height - 2 - (height - 4) * min(value, top) / top)
            }.joined(separator: " ")
        return "<svg id=\"\(id)\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\"><polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/></svg>"
    }

    private func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    private func timestamp(_ unixMilliseconds: Int64) -> String {
        ISO8601DateFormatter.string(
            from: Date(timeIntervalSince1970: Double(unixMilliseconds) / 1000), timeZone: .gmt,
            formatOptions: [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime])
    }

    private func minutes(_ seconds: Int) -> String {
        seconds < 120 ? "\(max(seconds, 0)) s" : "\(seconds / 60) minutes"
    }

    private func bytes(_ count: Int) -> String {
        count < 1024 * 1024 ? "\(count) B" : String(format: "%.1f MiB", Double(count) / 1_048_576)
    }
}
