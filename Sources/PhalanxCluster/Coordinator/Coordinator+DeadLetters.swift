import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxWire

/// The dead-letter queue for admins: list it, retry tasks from it, purge it. It lives in the
/// ledger; retried tasks are accepted again through the machine.
extension Coordinator {
    /// The most entries one list shows.
    static var deadLetterListLimit: Int { 1_000 }

    func deadLetterRequest(_ request: Phalanx_V1_DeadLetterRequest, from id: ConnectionID) {
        let ledger = ledger
        let keys = request.tasks.map { TaskKey(client: $0.client, taskID: $0.taskID) }
        Task {
            do throws(LedgerError) {
                switch request.action {
                case .retry:
                    let queued = try await ledger.deadLetters(limit: .max)
                    let wanted = Set(keys)
                    let found = request.all ? queued : queued.filter { wanted.contains($0.key) }
                    self.retry(found, named: keys, request: request, from: id)
                case .purge:
                    let removed = try await ledger.removeDeadLetters(request.all ? nil : keys)
                    self.replyDeadLetters(removed, named: request.all ? [] : keys, to: id, requestID: request.requestID)
                default:
                    let entries = try await ledger.deadLetters(limit: Self.deadLetterListLimit)
                    let queued = try await ledger.deadLetterCount()
                    self.replyDeadLetters(entries, of: max(queued, entries.count), named: [], to: id, requestID: request.requestID)
                }
            } catch {
                self.deadLetterFailed(error, to: id, requestID: request.requestID)
            }
        }
    }

    /// Accepts the entries' tasks again, then (in a later ledger write) removes them from the queue:
    /// a crash in between leaves a duplicate entry, never a lost task. The reply waits until both
    /// are durable, so a list right after it no longer shows the retried tasks.
    private func retry(_ entries: [DeadLetter], named keys: [TaskKey], request: Phalanx_V1_DeadLetterRequest, from id: ConnectionID) {
        let now = self.now
        let nowUnix = WireTime.nowUnixMilliseconds()
        var restored: [RestoredTask<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>] = []
        var retried: [DeadLetter] = []
        for entry in entries {
            guard var spec = try? Phalanx_V1_TaskSpec(serializedBytes: entry.spec) else {
                logger.error("a dead-letter entry cannot be read back; it stays in the queue", metadata: ["task": "\(entry.key)"])
                continue
            }
            spec.deadlineUnixMs = 0  // its old deadline has passed long ago; the admin asked for it to run
            restored.append(RestoredTask(key: entry.key, task: submittedTask(spec, now: now, nowUnix: nowUnix), attempt: 0, losses: 0))
            retried.append(entry)
        }
        perform(machine.readmit(restored, now: now))
        writer.enqueue(retried.map { .deadLetterRemoved($0.key) })
        logger.notice("tasks retried from the dead-letter queue", metadata: ["tasks": "\(retried.count)"])
        guard let reply = deadLetterReply(retried, named: request.all ? [] : keys, to: id, requestID: request.requestID) else { return }
        var touched = Set<ConnectionID>()
        performWhenDurable(.envelope(id, reply), touched: &touched)
        for id in touched { links[id]?.flush() }
    }

    private func replyDeadLetters(_ entries: [DeadLetter], of total: Int? = nil, named keys: [TaskKey], to id: ConnectionID, requestID: UInt64) {
        if let reply = deadLetterReply(entries, of: total, named: keys, to: id, requestID: requestID) { sendNow(reply, to: id) }
    }

    /// The reply listing `entries` (as many as fit one frame of the admin's), how many of `total`
    /// (default: all the entries) it leaves out, and the `keys` not among the entries.
    private func deadLetterReply(
        _ entries: [DeadLetter], of total: Int? = nil, named keys: [TaskKey], to id: ConnectionID, requestID: UInt64
    ) -> Phalanx_V1_Envelope? {
        guard let link = links[id] else { return nil }
        var reply = Phalanx_V1_DeadLetterReply()
        reply.requestID = requestID
        let wireEntries = entries.map { entry in
            var wire = Phalanx_V1_DeadLetterEntry()
            wire.key.client = entry.key.client
            wire.key.taskID = entry.key.taskID
            wire.kind = (try? Phalanx_V1_TaskSpec(serializedBytes: entry.spec))?.kind ?? ""
            wire.code = entry.code
            wire.reason = entry.reason
            wire.attempts = entry.attempts
            wire.deadUnixMs = entry.deadUnixMilliseconds
            return wire
        }
        // One frame: the oldest entries that fit the admin's frame limit (with room for the missing keys).
        let (chunks, _) = FrameBudget.chunks(wireEntries, maximumFrameBytes: link.peer.maximumFrameBytes / 2) {
            $0.key.client.utf8.count + $0.key.taskID.utf8.count + $0.kind.utf8.count + $0.code.utf8.count + $0.reason.utf8.count + 48
        }
        reply.entries = chunks.first ?? []
        reply.entriesOmitted = UInt32(clamping: max(0, (total ?? entries.count) - reply.entries.count))
        let present = Set(entries.map(\.key))
        reply.missing = keys.filter { !present.contains($0) }.map { key in
            var wire = Phalanx_V1_DeadLetterKey()
            wire.client = key.client
            wire.taskID = key.taskID
            return wire
        }
        return Phalanx_V1_Envelope(.deadLetterReply(reply))
    }

    private func deadLetterFailed(_ error: LedgerError, to id: ConnectionID, requestID: UInt64) {
        logger.error("cannot use the dead-letter queue", metadata: ["error": "\(error)"])
        var reply = Phalanx_V1_DeadLetterReply()
        reply.requestID = requestID
        reply.error = ErrorContext(code: .unavailable, message: "\(error); try again later", originNode: local.name).wire
        sendNow(Phalanx_V1_Envelope(.deadLetterReply(reply)), to: id)
    }
}
