import PhalanxCore
import PhalanxResilience

extension TaskHandlerRegistry {
    /// Tries of a `deposit`'s effect, the first included.
    public static let depositTries = 100

    /// The built-in kinds every `phalanx worker` serves:
    /// - `echo`: returns the payload.
    /// - `sleep`: payload is milliseconds as decimal text; sleeps (cancellable, deadline-bound), returns it.
    /// - `sha256`: payload is a byte count N as decimal text (at most 64 MiB); hashes N bytes of a
    ///   fixed pattern and returns the hex digest (CPU work).
    /// - `fail`: payload is `business` or `system`, optionally `:P` with a probability in [0, 1]
    ///   (e.g. `system:0.3`); fails with that class (with probability P), else returns `ok`.
    /// - `tree`: payload `DEPTH FANOUT MS [fail]`; a task tree across the cluster. At depth 0 it
    ///   sleeps MS and returns `1`; above, it starts FANOUT children of depth DEPTH − 1 (fail-fast)
    ///   and returns the sum of their outputs (the leaves that ran). With `fail`, the last leaf of
    ///   the last branch fails (business), which cancels its siblings and fails every ancestor.
    /// - `deposit`: payload `NODE:KEY:AMOUNT`; adds AMOUNT to KEY in worker NODE's store as the
    ///   task's effect (exactly once, however often the task is re-run) and returns
    ///   `committed NODE:KEY+AMOUNT` (or fails with the abort's reason). An abort for a passing
    ///   reason (the key locked by another transaction, a participant not connected or slow) is
    ///   tried again as the task's next effect, up to ``depositTries`` times with a growing,
    ///   jittered wait: every run asks for the same effects in the same order, so a re-run replays
    ///   the aborts the lost attempt saw and applies the deposit at most once.
    public static var builtIn: TaskHandlerRegistry {
        var registry = TaskHandlerRegistry()
        registry.register("deposit") { input in
            let parts = input.text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, let amount = Int64(parts[2]) else {
                throw PhalanxError(.invalidArgument, "deposit wants NODE:KEY:AMOUNT (e.g. w2:acct:5), got \(input.quotedText)")
            }
            let operations = [ParticipantOperations(participant: String(parts[0]), operations: [.add(key: String(parts[1]), amount: amount)])]
            var tries = 0
            while true {
                let outcome = try await input.effects.apply(operations)
                if outcome.committed { break }
                let reason = outcome.reason ?? ErrorContext(code: .internal, message: "the deposit aborted without a reason")
                tries += 1
                guard reason.retryable, tries < depositTries else { throw reason }
                try await Task.sleep(for: .milliseconds(Int64.random(in: 1...min(500, 1 << min(tries, 9)))))  // up to about 25 s in all
            }
            Failpoints.hit("task.after_effect_committed", context: input.taskID)
            return Array("committed \(parts[0]):\(parts[1])\(amount >= 0 ? "+" : "")\(amount)".utf8)
        }
        registry.register("echo") { $0.payload }
        registry.register("sleep") { input in
            guard let milliseconds = Int(input.text), (0...3_600_000).contains(milliseconds) else {
                throw PhalanxError(.invalidArgument, "sleep wants milliseconds as decimal text (0...3600000), got \(input.quotedText)")
            }
            try await Task.sleep(for: .milliseconds(milliseconds))
            return input.payload
        }
        registry.register("sha256") { input in
            guard let count = Int(input.text), (0...64 * 1024 * 1024).contains(count) else {
                throw PhalanxError(.invalidArgument, "sha256 wants a byte count as decimal text (0...67108864), got \(input.quotedText)")
            }
            var hasher = SHA256()
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            for index in chunk.indices { chunk[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
            var remaining = count
            while remaining > 0 {
                try Task.checkCancellation()
                let size = min(remaining, chunk.count)
                hasher.update(chunk[0..<size])
                remaining -= size
            }
            return Array(hasher.finalize().hexString.utf8)
        }
        registry.register("fail") { input in
            let parts = input.text.split(separator: ":", maxSplits: 1)
            guard let first = parts.first, let failureClass = FailureClass(rawValue: String(first)), failureClass != .fatal else {
                throw PhalanxError(.invalidArgument, "fail wants 'business' or 'system', optionally ':P' with P in [0, 1]; got \(input.quotedText)")
            }
            var probability = 1.0
            if parts.count == 2 {
                guard let value = Double(parts[1]), (0...1).contains(value) else {
                    throw PhalanxError(.invalidArgument, "fail's probability must be a number in [0, 1], got '\(parts[1].prefix(100))'")
                }
                probability = value
            }
            guard Double.random(in: 0..<1) < probability else { return Array("ok".utf8) }
            switch failureClass {
            case .business: throw PhalanxError.business("the task asked to fail (business)")
            default: throw PhalanxError.system("the task asked to fail (system)")
            }
        }
        registry.register("tree") { input in
            let fields = input.text.split(separator: " ").map(String.init)
            guard (3...4).contains(fields.count), let depth = Int(fields[0]), (0...8).contains(depth), let fanout = Int(fields[1]),
                (1...100).contains(fanout), let milliseconds = Int(fields[2]), (0...3_600_000).contains(milliseconds),
                fields.count == 3 || fields[3] == "fail"
            else {
                throw PhalanxError(.invalidArgument, "tree wants 'DEPTH FANOUT MS [fail]' (depth 0-8, fanout 1-100, ms 0-3600000), got \(input.quotedText)")
            }
            let fail = fields.count == 4
            guard depth > 0 else {
                if fail { throw PhalanxError.business("the leaf asked to fail") }
                try await Task.sleep(for: .milliseconds(milliseconds))
                return Array("1".utf8)
            }
            let children = (0..<fanout).map { index in
                ChildTask(name: "c\(index)", kind: "tree", text: "\(depth - 1) \(fanout) \(milliseconds)" + (fail && index == fanout - 1 ? " fail" : ""))
            }
            let leaves = try await input.children.run(children).reduce(0) { $0 + (Int(String(decoding: $1, as: UTF8.self)) ?? 0) }
            return Array("\(leaves)".utf8)
        }
        return registry
    }
}
