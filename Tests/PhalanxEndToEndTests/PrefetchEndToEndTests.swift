import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// A worker holds `worker.prefetch` tasks beyond its capacity: they are dispatched to it, wait
    /// there for a slot, and a deadline or a cancel still reaches them while they wait.
    @Suite(.timeLimit(.minutes(1))) struct PrefetchEndToEndTests {
        /// Starts w1 with capacity 1 and `prefetch`, and a 60 s task `long` that holds its only slot.
        /// `long` goes first, alone: tasks of one dispatch batch may take the slot in any order.
        static func startWithLongTaskInTheOnlySlot(_ cluster: ClusterProcesses, prefetch: Int) async throws -> PhalanxClient {
            let client = try await cluster.startWithWorkers(["w1"], capacity: 1, prefetch: prefetch)
            try await client.submit([TaskRequest(taskID: "long", kind: "sleep", text: "60000")])
            try await eventually("w1 runs the long task") { try await client.status().workers.first?.inFlight == 1 }
            try await Task.sleep(for: .milliseconds(250))  // the dispatch frame reaches w1 and `long` starts
            return client
        }

        @Test func prefetchedTasksWaitForASlotAndTheirDeadlineAndCancelReachThemThere() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await Self.startWithLongTaskInTheOnlySlot(cluster, prefetch: 2)
            try await client.submit([
                TaskRequest(taskID: "prefetched", kind: "sleep", text: "60000"),
                TaskRequest(taskID: "short-deadline", kind: "sleep", text: "1", timeout: .milliseconds(1_500)),
                TaskRequest(taskID: "queued", kind: "echo", text: "waits at the coordinator"),
            ])
            try await eventually("the window of 1 + 2 fills") { try await client.status().workers.first?.inFlight == 3 }
            let worker = try await client.status().workers.first
            #expect(worker?.capacity == 1 && worker?.prefetch == 2)

            // Its deadline passes while it waits behind `long` for the only slot.
            let expired = await client.outcome(of: "short-deadline")
            guard case .failure(let deadline) = expired.result else {
                Issue.record("expected DEADLINE_EXCEEDED, got \(expired.result)")
                return
            }
            #expect(deadline.code == .deadlineExceeded, "\(deadline)")
            // `queued` takes its place in the window; a cancel reaches the prefetched sleep on w1 at once.
            let started = ContinuousClock.now
            let cancelled = try ClusterProcesses.runToCompletion(["cancel"] + cluster.clientArguments + ["prefetched"])
            #expect(cancelled.status == 0 && cancelled.stdout.contains("prefetched cancelled"), "\(cancelled.stdout) \(cancelled.stderr)")
            let prefetched = await client.outcome(of: "prefetched")
            guard case .failure(let error) = prefetched.result else {
                Issue.record("expected CANCELLED, got \(prefetched.result)")
                return
            }
            #expect(error.code == .cancelled && prefetched.worker == "w1", "\(error)")
            #expect(ContinuousClock.now - started < .seconds(5), "it did not wait for the 60 s task ahead of it")
            let long = try await client.status()
            #expect(long.tasksRunning >= 1, "the long task still runs")
            _ = try ClusterProcesses.runToCompletion(["cancel"] + cluster.clientArguments + ["long"])
            #expect(await client.outcome(of: "queued").outputText == "waits at the coordinator")
            await client.close()
        }

        /// Prefetched tasks whose deadlines pass while they wait for the slot never ran on the
        /// worker: the worker's breaker does not count them (it opened on 20 such misses before).
        @Test func deadlinesPassedWhileWaitingForASlotDoNotOpenTheWorkersBreaker() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await Self.startWithLongTaskInTheOnlySlot(cluster, prefetch: 40)
            // 30 misses: past the breaker's minimum of 20 calls, all failures.
            let expiring = (1...30).map { TaskRequest(taskID: "x\($0)", kind: "sleep", text: "1", timeout: .milliseconds(800)) }
            let outcomes = try await client.run(expiring)
            #expect(outcomes.allSatisfy { outcome in
                if case .failure(let error) = outcome.result { return error.code == .deadlineExceeded && outcome.worker == "w1" }
                return false
            }, "\(outcomes.map(\.result))")
            #expect(try await client.status().workers.first?.breaker == "closed")
            _ = try ClusterProcesses.runToCompletion(["cancel"] + cluster.clientArguments + ["long"])
            let after = try await client.run([TaskRequest(taskID: "after", kind: "echo", text: "still served")])
            #expect(after.first?.outputText == "still served" && after.first?.worker == "w1")
            await client.close()
        }

        @Test func noMoreThanCapacityHandlersRunAtOnceWhateverThePrefetch() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"], capacity: 2, prefetch: 4)
            let started = ContinuousClock.now
            let outcomes = try await client.run((1...6).map { TaskRequest(taskID: "t\($0)", kind: "sleep", text: "400") })
            let elapsed = ContinuousClock.now - started
            #expect(outcomes.allSatisfy { $0.worker == "w1" && $0.outputText != nil }, "\(outcomes.map(\.result))")
            // Six 400 ms sleeps two at a time take three rounds; six at once would take one.
            #expect(elapsed >= .milliseconds(1_200), "took \(elapsed)")
            await client.close()
        }
    
        @Test func aDrainHandsBackThePrefetchedTasksAtOnceWhileTheRunningOneFinishes() async throws {
            let cluster = try ClusterProcesses(settings: ["worker.drain_grace_ms=20000"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"], capacity: 1, prefetch: 3)
            let requests = [TaskRequest(taskID: "running", kind: "sleep", text: "4000")]
                + (1...3).map { TaskRequest(taskID: "prefetched-\($0)", kind: "sleep", text: "1") }
            // `running` first, alone, so that it holds the only slot (tasks of one dispatch batch
            // may take the slot in any order).
            try await client.submit(Array(requests.prefix(1)))
            try await eventually("w1 runs the first") { try await client.status().workers.first?.inFlight == 1 }
            try await Task.sleep(for: .milliseconds(250))  // the dispatch frame reaches w1 and `running` starts
            try await client.submit(Array(requests.dropFirst()))
            try await eventually("w1 holds all four") { try await client.status().workers.first?.inFlight == 4 }
            try await Task.sleep(for: .milliseconds(100))  // they reach w1 and wait there for the slot
            try cluster.startWorker("w2", capacity: 4)
            try await cluster.waitForWorkers(2, using: client)
            let started = ContinuousClock.now
            cluster.signal("w1", SIGTERM)

            let prefetched = await requests.dropFirst().asyncMap { await client.outcome(of: $0.taskID) }
            #expect(prefetched.allSatisfy { $0.worker == "w2" && $0.outputText == "1" }, "\(prefetched.map(\.result))")
            #expect(ContinuousClock.now - started < .seconds(3), "they did not wait for the 4 s task ahead of them")
            let running = await client.outcome(of: "running")
            #expect(running.worker == "w1" && running.outputText == "4000", "\(running.result)")
            #expect(try await cluster.waitForExit("w1", within: .seconds(10)) == 0)
            #expect(cluster.log("w1").contains("handed back the prefetched tasks that had not started"))
            await client.close()
        }
    }
}
