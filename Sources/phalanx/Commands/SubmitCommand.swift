import ArgumentParser
import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import Synchronization

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit tasks of one kind; with --wait, wait for and print their outcomes.",
        discussion: """
            Kinds: echo (returns the payload), sleep (payload: milliseconds), sha256 (payload: byte count), \
            fail (payload: business|system[:probability]).
            Exit codes: 0 all accepted (and, with --wait, all succeeded); 1 error; 2 configuration error; 3 some tasks failed.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientOptions

    @Option(help: "The task kind.")
    var kind: String

    @Option(help: "The payload, as text (default: empty).")
    var payload: String?

    @Option(help: "Read the payload from this file ('-': standard input) instead of --payload: any bytes, up to the largest payload (limits.max_frame_bytes - \(TaskLimits.frameReserveBytes)), also past what a command line holds.")
    var payloadFile: String?

    @Option(parsing: .unconditional, help: "How many tasks to submit.")
    var count: Int = 1

    @Option(parsing: .unconditional, help: "Each task must finish within this many milliseconds.")
    var timeoutMs: Int?

    @Option(parsing: .unconditional, help: "Attempts when a task fails for a system reason, the first included (1: never retried); default: [retry]/[retries] in the configuration.")
    var maxAttempts: Int?

    @Option(help: "high, normal or low: dispatch order among queued tasks of one kind (weighted 4:2:1, low is never starved).")
    var priority: String = "normal"

    @Option(help: "An idempotency key (with --count N, KEY-0 … KEY-N-1): a task whose key an earlier task of this client certificate has is not run again; it gets that task's outcome.")
    var idempotencyKey: String?

    @Option(help: "A W3C traceparent (00-<trace id>-<parent span id>-<flags>): the tasks join that trace as its child spans, so their trace id is the one in your other systems' logs.")
    var traceparent: String?

    @Flag(help: "Wait for every task's outcome and print it.")
    var wait = false

    @Option(parsing: .unconditional, help: "Tasks per submit request, 1-\(PhalanxClient.batchSize) (lower it when the coordinator's admission.burst is below \(PhalanxClient.batchSize)).")
    var batch = PhalanxClient.batchSize

    func validate() throws {
        guard (1...TaskLimits.maximumKindBytes).contains(kind.utf8.count) else {
            throw ValidationError("--kind must be 1-\(TaskLimits.maximumKindBytes) bytes, e.g. echo, sleep, sha256, fail")
        }
        guard (1...10_000_000).contains(count) else { throw ValidationError("--count must be in 1...10000000, got \(count)") }
        if payloadFile != nil && payload != nil { throw ValidationError("give the payload with --payload or with --payload-file, not both") }
        if let timeoutMs, timeoutMs <= 0 { throw ValidationError("--timeout-ms must be positive, got \(timeoutMs)") }
        guard TaskRequest.Priority(rawValue: priority) != nil else { throw ValidationError("--priority is high, normal or low, got '\(priority)'") }
        // With --count N each task's key gets a suffix -0 … -(N-1).
        let keyLimit = TaskLimits.maximumIdempotencyKeyBytes - (count == 1 ? 0 : "-\(count - 1)".utf8.count)
        if let idempotencyKey, !(1...keyLimit).contains(idempotencyKey.utf8.count) {
            throw ValidationError("--idempotency-key must be 1-\(keyLimit) bytes\(count == 1 ? "" : " with --count \(count) (each task's key gets -INDEX)"), got \(idempotencyKey.utf8.count)")
        }
        if let traceparent, TraceContext(traceparent: traceparent) == nil {
            throw ValidationError("--traceparent must be a W3C traceparent like 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 (lower-case hex, ids not all zero), got '\(traceparent)'")
        }
        if let maxAttempts, !(1...TaskLimits.maximumAttempts).contains(maxAttempts) {
            throw ValidationError("--max-attempts must be in 1...\(TaskLimits.maximumAttempts), got \(maxAttempts)")
        }
        guard (1...PhalanxClient.batchSize).contains(batch) else { throw ValidationError("--batch must be in 1...\(PhalanxClient.batchSize), got \(batch)") }
    }

    func run() async throws {
        // The tasks' trace: a child of the caller's when one is given (TraceContext.current is what the client reads).
        try await TraceContext.$current.withValue(traceparent.flatMap { TraceContext(traceparent: $0) }) { try await submitAndReport() }
    }

    private func submitAndReport() async throws {
        let config = try common.load()
        let client = client
        var settings = PhalanxClient.Settings()
        settings.maximumBatchCount = batch
        let told = Mutex(false)
        let window = settings.overloadRetryWindow.components.seconds
        settings.onOverloadRetry = { refusal, _ in
            // Once: the client goes on retrying quietly within its window.
            let first = told.withLock { wasTold in
                defer { wasTold = true }
                return !wasTold
            }
            guard first else { return }
            printError("the coordinator is overloaded (\(refusal.message.terminalSafe)); the batch is sent again as it asks, for up to \(window) s")
        }
        // One buffer that every request shares (arrays copy on write only).
        let bytes = try payloadFile.map { try Self.readPayload($0, maximumFrameBytes: config.limits.maximumFrameBytes) } ?? Array((payload ?? "").utf8)
        var connection = try await client.connect(config, settings: settings)
        let prefix = "\(Int(Date().timeIntervalSince1970 * 1000))-\(UInt32.random(in: 0...UInt32.max))"
        let requests = (0..<count).map { index in
            var request = TaskRequest(
                taskID: "\(prefix)-\(index)", kind: kind, payload: bytes, timeout: timeoutMs.map { .milliseconds($0) }, maxAttempts: maxAttempts,
                priority: TaskRequest.Priority(rawValue: priority) ?? .normal)
            request.idempotencyKey = idempotencyKey.map { count == 1 ? $0 : "\($0)-\(index)" }
            return request
        }
        let allIDs = count == 1 ? "\(prefix)-0" : "\(prefix)-0 … \(prefix)-\(count - 1)"
        let interruption = InterruptionNotice.install(
            "interrupted: this submission's task ids are \(allIDs); those already accepted run to their end (phalanx result ID … collects their outcomes; an id never accepted is reported unknown)")
        defer { InterruptionNotice.uninstall(interruption) }
        do {
            let status = try await connection.status()
            let serving = status.workers.filter { $0.kinds.contains(kind) }
            if serving.isEmpty {
                let served = Set(status.workers.flatMap(\.kinds)).sorted().joined(separator: ", ")
                printError(
                    "warning: no registered worker serves kind '\(kind.terminalSafe)' (served now: \(served.isEmpty ? "none, no worker is registered" : served)); its tasks wait in the queue until a worker for it registers\(timeoutMs == nil ? "" : " or their deadline passes")")
            } else if bytes.count <= connection.maximumPayloadBytes, !serving.contains(where: { $0.accepts(payloadBytes: bytes.count) }) {
                // (A payload past the coordinator's own limit is refused below, with that limit.)
                let limits = serving.map { "\($0.name.terminalSafe) \($0.maximumPayloadBytes.map(String.init) ?? "?")" }.joined(separator: ", ")
                printError(
                    "warning: no registered worker of kind '\(kind.terminalSafe)' takes a payload of \(bytes.count) bytes (the largest each one's frames carry: \(limits)); its tasks wait in the queue until a worker with larger frames (limits.max_frame_bytes) registers\(timeoutMs == nil ? "" : " or their deadline passes")")
            }
        } catch {
            // Only a hint: a status that cannot be had (e.g. larger than this client's frames) does not stop the submit.
            if await connection.isClosed { connection = try await client.connect(config, settings: settings) }
        }
        let started = ContinuousClock.now
        // Outcomes are collected across a coordinator restart, also one during the submit: its ledger kept the tasks.
        var waiter = ReattachingWaiter(connection: connection, reconnectWindow: .seconds(60)) { [settings] in try await client.dial(config, settings: settings) }
        let receipt: SubmitReceipt
        do {
            receipt = wait ? try await waiter.submit(requests) : try await connection.submit(requests)
        } catch {
            let connection = wait ? waiter.connection : connection
            let kept = await connection.awaiting(requests.map(\.taskID))
            if client.json, let context = error as? ErrorContext {
                // Machines get the accepted ids, whole, on standard output; the error also goes to standard error.
                try printJSON(["error": ["code": context.code.rawValue, "message": context.message], "accepted_or_maybe_accepted_task_ids": kept])
            }
            printIDs(prefix: prefix, indices: kept.compactMap { Int($0.dropFirst(prefix.count + 1)) }, of: count)
            _ = try await reportingErrors { throw error }
            return
        }
        if receipt.duplicates > 0 && !client.json {
            print("\(receipt.duplicates) of them had the idempotency key of an earlier task: they do not run again and get that task's outcome")
        }
        guard wait else {
            try printAccepted(requests.map(\.taskID), prefix: prefix, duplicates: receipt.duplicates)
            await connection.close()
            return
        }
        var report = OutcomeReport(json: client.json)
        let ids = requests.map(\.taskID)
        for (index, taskID) in ids.enumerated() {
            let outcome: TaskOutcome
            do {
                outcome = try await waiter.outcome(of: taskID, outstanding: ids[index...])
            } catch {
                try? report.finish(seconds: (ContinuousClock.now - started).seconds)
                printIDs(prefix: prefix, indices: Array(index..<count), of: count)
                _ = try await reportingErrors { throw error }
                return
            }
            report.add(outcome, total: count)
        }
        try report.finish(seconds: (ContinuousClock.now - started).seconds)
        await waiter.connection.close()
        if report.failed > 0 { throw ExitCode(3) }
    }

    /// The bytes of `--payload-file` (`-`: standard input), refused past the largest payload that
    /// frames of `maximumFrameBytes` carry (read no further than that).
    static func readPayload(_ path: String, maximumFrameBytes: Int) throws(ValidationError) -> [UInt8] {
        let limit = TaskLimits.maximumPayloadBytes(forFrameBytes: maximumFrameBytes)
        return Array(try InputFile.bytes(
            path, option: "--payload-file", maximumBytes: limit,
            tooLarge: "the largest task payload is limits.max_frame_bytes (\(maximumFrameBytes)) - \(TaskLimits.frameReserveBytes) = \(limit) bytes; store large inputs elsewhere and pass a reference"))
    }

    /// Tells (on standard error) which of this submission's tasks were accepted (or may have been)
    /// and have no outcome printed, so they can be found later; nothing when there are none.
    private func printIDs(prefix: String, indices: [Int], of count: Int) {
        guard !indices.isEmpty else { return }
        let ranges = Self.ranges(of: indices).map { $0.count == 1 ? "\(prefix)-\($0.lowerBound)" : "\(prefix)-\($0.lowerBound) … \(prefix)-\($0.upperBound)" }
        let shown = ranges.prefix(10).joined(separator: ", ") + (ranges.count > 10 ? ", … (\(ranges.count) ranges)" : "")
        printError("\(indices.count == count ? "" : "\(indices.count) of the \(count) ")task id(s) accepted or maybe accepted: \(shown) (phalanx result ID … for their outcomes)")
    }

    /// Sorted indices as closed ranges of consecutive ones: [0, 1, 2, 5] → [0...2, 5...5].
    static func ranges(of indices: [Int]) -> [ClosedRange<Int>] {
        var ranges: [ClosedRange<Int>] = []
        for index in indices.sorted() {
            if let last = ranges.last, last.upperBound + 1 == index {
                ranges[ranges.count - 1] = last.lowerBound...index
            } else if ranges.last?.contains(index) != true {
                ranges.append(index...index)
            }
        }
        return ranges
    }

    /// Prints what was accepted and the ids to ask for (`phalanx result ID`).
    private func printAccepted(_ ids: [String], prefix: String, duplicates: Int) throws {
        if client.json {
            try printJSON(["accepted": ids.count, "duplicates": duplicates, "task_ids": ids])
        } else if ids.count <= 20 {
            print("accepted \(ids.count) task(s); their outcomes: phalanx result \(ids.joined(separator: " "))")
        } else {
            print("accepted \(ids.count) task(s), ids \(prefix)-0 … \(prefix)-\(ids.count - 1); their outcomes: phalanx result ID …")
        }
    }
}
