import Foundation
import PhalanxClient
import PhalanxResilience

/// Waits for the outcomes of tasks by id. When the connection to the coordinator drops (it
/// restarted, or the network failed), it reconnects with jittered backoff for up to
/// `reconnectWindow` and re-attaches the tasks still outstanding: the coordinator kept them in
/// its ledger, so every outcome still arrives, once.
struct ReattachingWaiter {
    private(set) var connection: PhalanxClient
    let reconnectWindow: Duration
    let dial: () async throws -> PhalanxClient
    /// Tasks the coordinator did not know when they were re-attached after a reconnect.
    var unknownAfterReconnect: Set<String> = []

    /// The outcome of `taskID`; `outstanding` are the ids not yet reported (this one first).
    mutating func outcome(of taskID: String, outstanding: ArraySlice<String>) async throws -> TaskOutcome {
        var outcome = await connection.outcome(of: taskID)
        while case .failure = outcome.result, await connection.isClosed {
            try await reconnect(reattaching: outstanding)
            outcome = await connection.outcome(of: taskID)
        }
        if unknownAfterReconnect.contains(taskID), case .failure = outcome.result {
            return TaskOutcome(
                taskID: taskID, worker: nil, attempt: 0,
                result: .failure(ErrorContext(
                    code: .unavailable,
                    message: "the coordinator that came back does not know task '\(taskID)': it has another data directory (coordinator.data_dir), or pruned the task after coordinator.retention_ms; its outcome is lost to this client",
                    taskID: taskID)))
        }
        return outcome
    }

    /// Submits `requests`. If the connection drops before every frame is acknowledged, it
    /// reconnects, asks the coordinator for every one of them (attaching those it took), and
    /// submits again only those it does not know: they were never accepted, so none runs twice.
    mutating func submit(_ requests: [TaskRequest]) async throws -> SubmitReceipt {
        var remaining = requests
        var duplicates = 0
        while true {
            do {
                duplicates += try await connection.submit(remaining).duplicates
                return SubmitReceipt(accepted: requests.count, duplicates: duplicates)
            } catch let error as ErrorContext {
                guard await connection.isClosed else { throw error }
                // The coordinator refused what this client sent (a frame too large, malformed): sending
                // it again on a new connection would be refused again, forever.
                guard ![.frameTooLarge, .malformedFrame, .protocolError].contains(error.code) else { throw error }
                printError("the connection to the coordinator was lost while submitting (\(error.message)); reconnecting to submit the rest")
                let lookup = try await reconnect { fresh in try await fresh.attach(remaining.map(\.taskID)) }
                let unknown = Set(lookup.unknown)
                remaining = remaining.filter { unknown.contains($0.taskID) }
                printError("reconnected: the coordinator has \(requests.count - remaining.count) of the \(requests.count) tasks; submitting the other \(remaining.count)")
            }
        }
    }

    private mutating func reconnect(reattaching outstanding: ArraySlice<String>) async throws {
        printError("the connection to the coordinator was lost; reconnecting to collect the \(outstanding.count) outstanding outcome(s)")
        let lookup = try await reconnect { fresh in try await fresh.attach(Array(outstanding)) }
        if !lookup.unknown.isEmpty {
            printError("the coordinator does not know \(lookup.unknown.count) of them (another data directory, or pruned)")
            unknownAfterReconnect.formUnion(lookup.unknown)
        }
        printError("reconnected; waiting for the outstanding outcomes")
    }

    /// Dials again with jittered backoff for up to `reconnectWindow`; `attach` runs on the new
    /// connection before it replaces the old one.
    private mutating func reconnect(attaching attach: (PhalanxClient) async throws -> ResultLookup) async throws -> ResultLookup {
        let policy = RetryPolicy(maxAttempts: .max, initialBackoff: .milliseconds(200), maxBackoff: .seconds(2), jitter: .equal)
        let giveUpAt = ContinuousClock.now + reconnectWindow
        var retry = 0
        while true {
            do {
                let fresh = try await dial()
                let lookup = try await attach(fresh)
                await connection.close()
                connection = fresh
                return lookup
            } catch {
                retry += 1
                guard ContinuousClock.now < giveUpAt else {
                    throw ErrorContext(
                        code: .unavailable,
                        message: "could not reconnect to the coordinator within \(reconnectWindow) (last error: \(error)); the tasks are kept in its ledger, ask for them later with `phalanx result ID`")
                }
                try await Task.sleep(for: policy.backoff(beforeRetry: retry, previous: .zero, random: Double.random(in: 0..<1)))
            }
        }
    }
}
