import Testing

@testable import PhalanxCore
@testable import PhalanxResilience

@Suite struct SagaMachineTests {
    let client = ConnectionID(3)
    let unix: Int64 = 9_000_000
    let steps = [
        SagaStep(forward: [ParticipantOperations(participant: "w1", operations: [.add(key: "a", amount: -10)])],
                 compensation: [ParticipantOperations(participant: "w1", operations: [.add(key: "a", amount: 10)])]),
        SagaStep(forward: [ParticipantOperations(participant: "w2", operations: [.add(key: "b", amount: 10)])],
                 compensation: [ParticipantOperations(participant: "w2", operations: [.add(key: "b", amount: -10)])]),
        SagaStep(forward: [ParticipantOperations(participant: "w3", operations: [.put(key: "c", value: .integer(1))])]),
    ]

    func events(_ actions: [SagaMachine.Action]) -> [SagaEvent] {
        actions.compactMap { if case .persist(let record) = $0 { record.event } else { nil } }
    }

    func runs(_ actions: [SagaMachine.Action]) -> [String] {
        actions.compactMap { if case .runTransaction(let id, _) = $0 { id } else { nil } }
    }

    func committed(_ id: String) -> TransactionOutcome { TransactionOutcome(id: id, committed: true) }
    func aborted(_ id: String, _ code: ErrorCode) -> TransactionOutcome {
        TransactionOutcome(id: id, committed: false, reason: ErrorContext(code: code, message: "no", originNode: "w2"))
    }

    @Test func stepsRunInOrderAndEachCommitIsLoggedBeforeTheNextStarts() {
        var machine = SagaMachine(node: "coordinator")
        let start = machine.start("s", requestID: 1, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: unix)
        #expect(runs(start) == ["saga:s#s0.0"])
        guard case .begun = events(start).first else { Issue.record("the saga is logged first"); return }
        let next = machine.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix)
        #expect(events(next).first == .stepCommitted(step: 0, transaction: "saga:s#s0.0"), "step 1's compensation is owed before step 2 starts")
        #expect(runs(next) == ["saga:s#s1.0"])
        _ = machine.transactionEnded(committed("saga:s#s1.0"), now: .zero, nowUnixMilliseconds: unix)
        let done = machine.transactionEnded(committed("saga:s#s2.0"), now: .zero, nowUnixMilliseconds: unix)
        #expect(events(done).contains(.finished(completed: true)))
        #expect(done.contains(.reply(client, requestID: 1, SagaOutcome(id: "s", completed: true))))
        #expect(machine.activeCount == 0)
        #expect(machine.start("s", requestID: 2, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: unix)
            == [.reply(client, requestID: 2, SagaOutcome(id: "s", completed: true))], "a repeat gets the same outcome")
        let reused = machine.start("s", requestID: 3, from: client, clientName: "c", steps: [steps[2]], nowUnixMilliseconds: unix)
        #expect(reused.contains { if case .reply(_, _, let outcome) = $0 { outcome.reason?.code == .invalidArgument } else { false } }, "other steps under the id are refused")
    }

    @Test func aBusinessFailureCompensatesTheCommittedStepsLastFirst() {
        var machine = SagaMachine(node: "coordinator")
        _ = machine.start("s", requestID: 1, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(committed("saga:s#s1.0"), now: .zero, nowUnixMilliseconds: unix)
        let failed = machine.transactionEnded(aborted("saga:s#s2.0", .businessRejected), now: .zero, nowUnixMilliseconds: unix)
        guard case .failed(2, let reason)? = events(failed).first else { Issue.record("the failure is logged: \(failed)"); return }
        #expect(reason.code == .businessRejected)
        #expect(runs(failed) == ["saga:s#c1.0"], "step 2 is undone first")
        let next = machine.transactionEnded(committed("saga:s#c1.0"), now: .zero, nowUnixMilliseconds: unix)
        #expect(events(next).first == .compensated(step: 1, transaction: "saga:s#c1.0"))
        #expect(runs(next) == ["saga:s#c0.0"])
        let done = machine.transactionEnded(committed("saga:s#c0.0"), now: .zero, nowUnixMilliseconds: unix)
        #expect(events(done).contains(.finished(completed: false)))
        #expect(done.contains { if case .reply(_, _, let outcome) = $0 { outcome.failedStep == 2 && outcome.compensated == [1, 0] && !outcome.completed } else { false } })
    }

    @Test func aCompensationThatAbortsIsRetriedWithBackoffUntilItCommits() {
        var machine = SagaMachine(node: "coordinator", settings: .init(initialBackoff: .milliseconds(100)))
        _ = machine.start("s", requestID: 1, from: client, clientName: "c", steps: Array(steps.prefix(2)), nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(aborted("saga:s#s1.0", .businessRejected), now: .zero, nowUnixMilliseconds: unix)
        let failed = machine.transactionEnded(aborted("saga:s#c0.0", .unavailable), now: .zero, nowUnixMilliseconds: unix)
        #expect(runs(failed).isEmpty, "it waits for its backoff")
        guard case .attemptFailed(0, 0, true, let reason)? = events(failed).first else { Issue.record("why it failed is logged: \(failed)"); return }
        #expect(reason.code == .unavailable && reason.originNode == "w2")
        #expect(machine.nextWakeUp == .milliseconds(100))
        #expect(machine.wakeUp(now: .milliseconds(99), nowUnixMilliseconds: unix).isEmpty)
        #expect(runs(machine.wakeUp(now: .milliseconds(100), nowUnixMilliseconds: unix)) == ["saga:s#c0.1"], "a new transaction per attempt")
        for attempt in 1..<12 {
            _ = machine.transactionEnded(aborted("saga:s#c0.\(attempt)", .businessRejected), now: .seconds(attempt * 10), nowUnixMilliseconds: unix)
            #expect(runs(machine.wakeUp(now: .seconds(attempt * 10 + 5), nowUnixMilliseconds: unix)) == ["saga:s#c0.\(attempt + 1)"], "even a business abort: a compensation is owed")
        }
        #expect(machine.activeCount == 1)
    }

    @Test func aCompensationRefusedForABusinessReasonTellsTheClientAtOnceAndGoesOnBeingRetried() {
        var machine = SagaMachine(node: "coordinator", settings: .init(initialBackoff: .milliseconds(100)))
        _ = machine.start("s", requestID: 1, from: client, clientName: "c", steps: Array(steps.prefix(2)), nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(aborted("saga:s#s1.0", .businessRejected), now: .zero, nowUnixMilliseconds: unix)
        // A system failure of the compensation: retried, the client still waits.
        let unavailable = machine.transactionEnded(aborted("saga:s#c0.0", .unavailable), now: .zero, nowUnixMilliseconds: unix)
        #expect(!unavailable.contains { if case .reply = $0 { true } else { false } })
        #expect(SagaMachine.attemptsBeforeReportingBlocked > 2, "this test fails the compensation twice before the refusal")
        _ = machine.wakeUp(now: .seconds(1), nowUnixMilliseconds: unix)
        // Refused by a bound: the client hears now, with the step and the refusal.
        let refused = machine.transactionEnded(aborted("saga:s#c0.1", .businessRejected), now: .seconds(1), nowUnixMilliseconds: unix)
        let replies = refused.compactMap { if case .reply(let to, let request, let outcome) = $0 { (to, request, outcome) } else { nil } }
        #expect(replies.count == 1 && replies.first?.0 == client && replies.first?.1 == 1)
        let outcome = replies.first?.2
        #expect(outcome?.completed == false && outcome?.failedStep == 1 && outcome?.reason?.code == .businessRejected)
        #expect(outcome?.blockedStep == 0 && outcome?.blockedReason?.code == .businessRejected && outcome?.blockedReason?.originNode == "w2", "\(String(describing: outcome))")
        // Retried still, and a repeated request is answered at once, not left waiting.
        #expect(runs(machine.wakeUp(now: .seconds(10), nowUnixMilliseconds: unix)) == ["saga:s#c0.2"])
        let again = machine.start("s", requestID: 2, from: client, clientName: "c", steps: Array(steps.prefix(2)), nowUnixMilliseconds: unix)
        #expect(again.contains { if case .reply(_, 2, let outcome) = $0 { outcome.blockedStep == 0 } else { false } }, "\(again)")
        // A second refusal tells nobody again; once what refused it is put right, the saga finishes.
        #expect(!machine.transactionEnded(aborted("saga:s#c0.2", .businessRejected), now: .seconds(10), nowUnixMilliseconds: unix)
            .contains { if case .reply = $0 { true } else { false } })
        _ = machine.wakeUp(now: .seconds(20), nowUnixMilliseconds: unix)
        let done = machine.transactionEnded(committed("saga:s#c0.3"), now: .seconds(20), nowUnixMilliseconds: unix)
        #expect(events(done).contains(.finished(completed: false)))
        #expect(machine.activeCount == 0)
    }

    @Test func aCompensationThatKeepsFailingForSystemReasonsIsReportedBlockedAfterItsThirdFailure() {
        var machine = SagaMachine(node: "coordinator", settings: .init(initialBackoff: .milliseconds(100)))
        _ = machine.start("s", requestID: 1, from: client, clientName: "c", steps: Array(steps.prefix(2)), nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(aborted("saga:s#s1.0", .businessRejected), now: .zero, nowUnixMilliseconds: unix)
        for attempt in 0..<SagaMachine.attemptsBeforeReportingBlocked {
            let failed = machine.transactionEnded(aborted("saga:s#c0.\(attempt)", .unavailable), now: .seconds(attempt * 10), nowUnixMilliseconds: unix)
            let told = failed.compactMap { if case .reply(_, _, let outcome) = $0 { outcome } else { nil } }
            if attempt + 1 < SagaMachine.attemptsBeforeReportingBlocked {
                #expect(told.isEmpty, "attempt \(attempt + 1): still waiting")
            } else {
                #expect(told.count == 1 && told.first?.blockedStep == 0 && told.first?.blockedReason?.code == .unavailable, "\(told)")
            }
            _ = machine.wakeUp(now: .seconds(attempt * 10 + 5), nowUnixMilliseconds: unix)
        }
        #expect(machine.activeCount == 1, "it goes on being retried")
    }

    @Test func aSystemFailureOfAForwardStepIsRetriedThenCompensated() {
        var machine = SagaMachine(node: "coordinator", settings: .init(forwardAttempts: 2))
        _ = machine.start("s", requestID: 1, from: client, clientName: "c", steps: Array(steps.prefix(2)), nowUnixMilliseconds: unix)
        _ = machine.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix)
        #expect(runs(machine.transactionEnded(aborted("saga:s#s1.0", .businessRejected), now: .zero, nowUnixMilliseconds: unix)) == ["saga:s#c0.0"],
            "a business abort is final at once")
        var conflict = aborted("saga:s#s1.0", .conflict)
        conflict.reason?.failureClass = .system
        var fresh = SagaMachine(node: "coordinator", settings: .init(forwardAttempts: 2))
        _ = fresh.start("s", requestID: 1, from: client, clientName: "c", steps: Array(steps.prefix(2)), nowUnixMilliseconds: unix)
        _ = fresh.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix)
        let retried = fresh.transactionEnded(conflict, now: .zero, nowUnixMilliseconds: unix)
        #expect(runs(retried).isEmpty, "retryable: waits for its backoff")
        #expect(events(retried) == [.attemptFailed(step: 1, attempt: 0, compensation: false, reason: conflict.reason!)])
        #expect(runs(fresh.wakeUp(now: .seconds(1), nowUnixMilliseconds: unix)) == ["saga:s#s1.1"])
        conflict.id = "saga:s#s1.1"
        #expect(runs(fresh.transactionEnded(conflict, now: .seconds(1), nowUnixMilliseconds: unix)) == ["saga:s#c0.0"], "out of attempts: compensate")
    }

    @Test func staleOrUnknownTransactionOutcomesChangeNothing() {
        var machine = SagaMachine(node: "coordinator")
        _ = machine.start("s", requestID: 1, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: unix)
        #expect(machine.transactionEnded(committed("saga:s#s1.0"), now: .zero, nowUnixMilliseconds: unix).isEmpty, "not the running step")
        #expect(machine.transactionEnded(committed("saga:other#s0.0"), now: .zero, nowUnixMilliseconds: unix).isEmpty)
        #expect(machine.transactionEnded(committed("t1"), now: .zero, nowUnixMilliseconds: unix).isEmpty)
        _ = machine.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix)
        #expect(machine.transactionEnded(committed("saga:s#s0.0"), now: .zero, nowUnixMilliseconds: unix).isEmpty, "a duplicate")
    }

    @Test func recoveryResumesFromTheLogAndTheDecisionsOfTheLastAttempt() {
        func history(_ events: [SagaEvent]) -> SagaHistory {
            SagaHistory(records: events.map { SagaLogRecord(saga: "s", event: $0, unixMilliseconds: unix) })
        }
        let begin = SagaBegin(id: "s", client: "c", steps: steps, begunUnixMilliseconds: unix)
        // Step 2 was running; its transaction committed before the crash.
        var machine = SagaMachine(node: "coordinator")
        let committedBeforeCrash = machine.recovered(
            [history([.begun(begin), .stepStarted(step: 0, attempt: 0, transaction: "saga:s#s0.0"), .stepCommitted(step: 0, transaction: "saga:s#s0.0"),
                      .stepStarted(step: 1, attempt: 0, transaction: "saga:s#s1.0")])],
            decisions: ["saga:s#s1.0": true], nowUnixMilliseconds: unix)
        #expect(events(committedBeforeCrash).contains(.stepCommitted(step: 1, transaction: "saga:s#s1.0")))
        #expect(runs(committedBeforeCrash) == ["saga:s#s2.0"])
        // It had no decision: it is tried again as a new attempt.
        var again = SagaMachine(node: "coordinator")
        #expect(runs(again.recovered(
            [history([.begun(begin), .stepStarted(step: 0, attempt: 0, transaction: "saga:s#s0.0")])], decisions: [:], nowUnixMilliseconds: unix)) == ["saga:s#s0.1"])
        // Compensating: the compensation of step 2 committed, step 1's is next.
        var compensating = SagaMachine(node: "coordinator")
        let resumed = compensating.recovered(
            [history([.begun(begin), .stepCommitted(step: 0, transaction: "saga:s#s0.0"), .stepCommitted(step: 1, transaction: "saga:s#s1.0"),
                      .failed(step: 2, reason: ErrorContext(code: .businessRejected, message: "no")),
                      .compensationStarted(step: 1, attempt: 0, transaction: "saga:s#c1.0")])],
            decisions: ["saga:s#c1.0": true], nowUnixMilliseconds: unix)
        #expect(events(resumed).contains(.compensated(step: 1, transaction: "saga:s#c1.0")))
        #expect(runs(resumed) == ["saga:s#c0.0"])
        // Finished sagas are not resumed.
        var finished = SagaMachine(node: "coordinator")
        #expect(finished.recovered([history([.begun(begin), .finished(completed: true)])], decisions: [:], nowUnixMilliseconds: unix).isEmpty)
    }

    @Test func aSagaNamingAWorkerThatIsNotRegisteredIsRefusedBeforeAnythingRuns() {
        var machine = SagaMachine(node: "coordinator")
        let registered: Set<String> = ["w1", "w2", "w3"]
        var typo = steps
        typo[0].compensation = [ParticipantOperations(participant: "w9", operations: [.add(key: "a", amount: 10)])]
        let refused = machine.start("s", requestID: 1, from: client, clientName: "c", steps: typo, nowUnixMilliseconds: unix, isConnected: registered.contains)
        #expect(events(refused).isEmpty && runs(refused).isEmpty && machine.activeCount == 0, "nothing is logged or run")
        guard case .reply(client, 1, let outcome)? = refused.first else { Issue.record("expected a refusal, got \(refused)"); return }
        #expect(outcome.reason?.code == .unavailable)
        #expect(outcome.reason?.message.contains("worker w9, named by the compensation of step 1, is not registered") == true, "\(outcome)")
        let fine = machine.start("s", requestID: 2, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: unix, isConnected: registered.contains)
        #expect(runs(fine) == ["saga:s#s0.0"], "once every worker it names is registered, it starts (the refused one left nothing behind)")
    }

    /// A read in a saga would be dropped (its outcome carries no values): refused before
    /// anything runs, naming the step, the key and the transaction that reads it instead.
    @Test func aSagaThatReadsInAStepOrACompensationIsRefusedBeforeAnythingRuns() {
        var machine = SagaMachine(node: "coordinator")
        var reading = steps
        reading[1].forward[0].operations.append(.get(key: "b"))
        let refused = machine.start("s", requestID: 1, from: client, clientName: "c", steps: reading, nowUnixMilliseconds: unix)
        #expect(events(refused).isEmpty && runs(refused).isEmpty && machine.activeCount == 0, "nothing is logged or run")
        guard case .reply(client, 1, let outcome)? = refused.first else { Issue.record("expected a refusal, got \(refused)"); return }
        #expect(outcome.reason?.code == .invalidArgument)
        #expect(outcome.reason?.message.contains("step 2 reads w2:b, but a saga returns no values read; read it with `phalanx tx run w2:b`") == true, "\(outcome)")
        var compensationReads = steps
        compensationReads[0].compensation = [ParticipantOperations(participant: "w1", operations: [.get(key: "a")])]
        let alsoRefused = machine.start("s", requestID: 2, from: client, clientName: "c", steps: compensationReads, nowUnixMilliseconds: unix)
        guard case .reply(client, 2, let second)? = alsoRefused.first else { Issue.record("expected a refusal, got \(alsoRefused)"); return }
        #expect(second.reason?.message.hasPrefix("the compensation of step 1 reads w1:a") == true, "\(second)")
        #expect(runs(machine.start("s", requestID: 3, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: unix)) == ["saga:s#s0.0"], "without reads it runs")
    }

    @Test func theLastFailedCompensationAndWhyAreReadFromTheLog() {
        let reason = ErrorContext(code: .unavailable, message: "participant w9 is not connected", originNode: "coordinator")
        let saga = SagaHistory(records: [
            .failed(step: 1, reason: ErrorContext(code: .businessRejected, message: "no")),
            .attemptFailed(step: 1, attempt: 0, compensation: false, reason: ErrorContext(code: .conflict, message: "locked")),
            .attemptFailed(step: 0, attempt: 3, compensation: true, reason: reason),
        ].map { SagaLogRecord(saga: "s", event: $0, unixMilliseconds: unix) })
        let last = saga.lastFailedCompensation
        #expect(last?.step == 0 && last?.attempt == 3 && last?.reason == reason)
        #expect(SagaHistory(records: []).lastFailedCompensation == nil)
    }

    /// After a restart a saga waits for the workers its next transaction names to register
    /// again (at most the grace), so that the restart alone does not spend its attempts.
    @Test func aRecoveredSagaWaitsForItsWorkersToRegisterAgainAtMostTheGrace() {
        let begin = SagaBegin(id: "s", client: "c", steps: steps, begunUnixMilliseconds: unix)
        let log = SagaHistory(records: [.begun(begin), .stepStarted(step: 0, attempt: 0, transaction: "saga:s#s0.0"), .stepCommitted(step: 0, transaction: "saga:s#s0.0"),
                                        .stepStarted(step: 1, attempt: 0, transaction: "saga:s#s1.0")].map { SagaLogRecord(saga: "s", event: $0, unixMilliseconds: unix) })
        var machine = SagaMachine(node: "coordinator")
        #expect(runs(machine.recovered([log], decisions: [:], now: .seconds(100), grace: .seconds(5), nowUnixMilliseconds: unix)).isEmpty)
        #expect(machine.nextWakeUp == .seconds(105))
        #expect(machine.wakeUp(now: .seconds(101), nowUnixMilliseconds: unix, isConnected: { $0 == "w1" }).isEmpty, "step 2 names w2, not back yet")
        #expect(runs(machine.wakeUp(now: .seconds(102), nowUnixMilliseconds: unix, isConnected: { $0 == "w2" })) == ["saga:s#s1.1"], "w2 is back: it runs")
        #expect(machine.wakeUp(now: .seconds(103), nowUnixMilliseconds: unix, isConnected: { _ in true }).isEmpty, "and only once")

        var late = SagaMachine(node: "coordinator")
        _ = late.recovered([log], decisions: [:], now: .seconds(100), grace: .seconds(5), nowUnixMilliseconds: unix)
        #expect(runs(late.wakeUp(now: .seconds(105), nowUnixMilliseconds: unix)) == ["saga:s#s1.1"], "after the grace it runs even without its workers")
    }

    /// A step's five tries span more than the heartbeat window, so a worker that pauses until it
    /// is declared dead (and comes back) does not fail the saga at once.
    @Test func aStepsRetriesOutlastTheHeartbeatWindow() {
        let window = Duration.seconds(5)
        var machine = SagaMachine(node: "coordinator", settings: .outlasting(heartbeatWindow: window))
        _ = machine.start("s", requestID: 1, from: client, clientName: "c", steps: Array(steps.prefix(2)), nowUnixMilliseconds: unix)
        var now = Duration.zero
        var lost = aborted("saga:s#s0.0", .unavailable)
        for attempt in 0..<4 {
            lost.id = "saga:s#s0.\(attempt)"
            #expect(runs(machine.transactionEnded(lost, now: now, nowUnixMilliseconds: unix)).isEmpty, "attempt \(attempt + 1) waits to retry")
            now = machine.nextWakeUp!
            #expect(runs(machine.wakeUp(now: now, nowUnixMilliseconds: unix)) == ["saga:s#s0.\(attempt + 1)"])
        }
        #expect(now > window, "the fifth try starts \(now) after the first failure: later than a declared-dead worker's window")
        #expect(SagaMachine.Settings.outlasting(heartbeatWindow: .milliseconds(300)).initialBackoff == .milliseconds(100), "at least 100 ms")
    }

    @Test func invalidSagasAreRefused() {
        var machine = SagaMachine(node: "coordinator")
        let none = machine.start("s", requestID: 1, from: client, clientName: "c", steps: [], nowUnixMilliseconds: unix)
        #expect(none.contains { if case .reply(_, _, let outcome) = $0 { outcome.reason?.code == .invalidArgument } else { false } })
        let hash = machine.start("a#b", requestID: 1, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: unix)
        #expect(hash.contains { if case .reply(_, _, let outcome) = $0 { outcome.reason?.code == .invalidArgument } else { false } })
        let tooMany = machine.start("s2", requestID: 1, from: client, clientName: "c", steps: Array(repeating: steps[2], count: SagaMachine.maximumSteps + 1), nowUnixMilliseconds: unix)
        #expect(tooMany.contains { if case .reply = $0 { true } else { false } })
        #expect(!machine.start("s3", requestID: 1, from: client, clientName: "c", steps: Array(repeating: steps[2], count: SagaMachine.maximumSteps), nowUnixMilliseconds: unix).isEmpty)
        #expect(machine.activeCount == 1, "the one at the limit runs")
    }

    @Test func transactionIdsRoundTrip() {
        let id = SagaMachine.transactionID(saga: "my-saga", compensation: true, step: 3, attempt: 7)
        #expect(id == "saga:my-saga#c3.7")
        let parsed = SagaMachine.parse(id)
        #expect(parsed?.saga == "my-saga" && parsed?.compensation == true && parsed?.step == 3 && parsed?.attempt == 7)
        #expect(SagaMachine.parse("saga:x#q1.0") == nil)
        #expect(SagaMachine.parse("task:c/t#0") == nil)
    }
}
