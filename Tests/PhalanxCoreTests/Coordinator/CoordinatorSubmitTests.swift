import PhalanxResilience
import Testing

@testable import PhalanxCore

/// A batch is accepted whole (every task will get one result) or refused whole, with the reason.
@Suite struct CoordinatorSubmitTests {
    @Test func aDuplicateIdInsideOneBatchRefusesTheWholeBatch() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        let actions = harness.submit(["a", "b", "a"], from: client)
        #expect(actions.acknowledged == nil)
        let error = actions.refusal
        #expect(error?.code == .invalidArgument && error?.message.contains("'a' appears twice") == true)
        #expect(error?.taskID == "a" && error?.traceID?.count == 32 && error?.originNode == "coordinator")
        #expect(harness.machine.heldCount == 0)
    }

    @Test func resubmittingAnUnfinishedIdIsRefusedAndTheOriginalReportsOnce() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let first = harness.submit(["a"], from: client)
        let again = harness.submit(["a", "b"], from: client, requestID: 2)
        #expect(again.refusal?.message.contains("already queued or running") == true)
        #expect(harness.machine.heldCount == 1, "b was not accepted either")
        let results = harness.succeed(first.dispatched(to: worker), on: worker)
        #expect(results.delivered(to: client).map(\.taskID) == ["a"])
        #expect(harness.machine.counters.accepted == 1)
    }

    @Test func aBatchLargerThanTheFreeQueueSpaceIsRefusedWholeNotCut() {
        var harness = MachineHarness { $0.maximumQueuedTasks = 10 }
        let client = harness.connect(.client, "client")
        #expect(harness.submit((0..<6).map { "a\($0)" }, from: client).acknowledged == 6)
        let overflow = harness.submit((0..<5).map { "b\($0)" }, from: client, requestID: 2)
        #expect(overflow.refusal?.code == .overloaded && overflow.refusal?.retryAfter != nil)
        #expect(overflow.refusal?.traceID == harness.batchTrace.traceID, "a batch-level refusal carries the batch's trace")
        #expect(harness.machine.heldCount == 6)
        #expect(harness.submit((0..<4).map { "c\($0)" }, from: client, requestID: 3).acknowledged == 4, "exactly at the bound fits")
    }

    @Test func heldPayloadBytesAreBoundedAtTheLimitAndJustPast() {
        var harness = MachineHarness { $0.maximumQueuedBytes = 1_000 }
        let client = harness.connect(.client, "client")
        let atLimit = [harness.task("a", bytes: 600), harness.task("b", bytes: 400)]
        #expect(harness.submit(atLimit, from: client).acknowledged == 2)
        #expect(harness.machine.heldBytes == 1_000)
        let past = harness.submit([harness.task("c", bytes: 1)], from: client, requestID: 2)
        #expect(past.refusal?.code == .overloaded && past.refusal?.message.contains("max_queued_bytes") == true)
    }

    /// A batch that could not fit even an empty coordinator is INVALID_ARGUMENT, not OVERLOADED
    /// (which a client retries), at the bounds and just past them.
    @Test func aBatchLargerThanTheBoundsThemselvesIsInvalidNotOverloaded() {
        var harness = MachineHarness {
            $0.maximumQueuedBytes = 1_000
            $0.maximumQueuedTasks = 3
        }
        let client = harness.connect(.client, "client")
        let tooManyBytes = harness.submit([harness.task("a", bytes: 600), harness.task("b", bytes: 401)], from: client)
        #expect(tooManyBytes.refusal?.code == .invalidArgument && tooManyBytes.refusal?.message.contains("can never fit") == true, "\(String(describing: tooManyBytes.refusal))")
        #expect(tooManyBytes.refusal?.retryAfter == nil)
        let tooMany = harness.submit(["c", "d", "e", "f"], from: client, requestID: 2)
        #expect(tooMany.refusal?.code == .invalidArgument && tooMany.refusal?.message.contains("max_queued_tasks") == true)
        #expect(harness.submit(["g", "h", "i"], from: client, requestID: 3).acknowledged == 3, "exactly the bound fits an empty coordinator")
        #expect(harness.submit(["j"], from: client, requestID: 4).refusal?.code == .overloaded, "a batch that fits once others finish is OVERLOADED")
    }

    @Test func finishedTasksGiveTheirBytesBack() {
        var harness = MachineHarness { $0.maximumQueuedBytes = 100 }
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let submitted = harness.submit([harness.task("a", bytes: 100)], from: client)
        _ = harness.succeed(submitted.dispatched(to: worker), on: worker)
        #expect(harness.machine.heldBytes == 0)
        #expect(harness.submit([harness.task("b", bytes: 100)], from: client, requestID: 2).acknowledged == 1)
    }

    @Test func thePayloadLimitHoldsAtTheLimitAndJustPast() {
        var harness = MachineHarness { $0.maximumPayloadBytes = 4_096 }
        let client = harness.connect(.client, "client")
        #expect(harness.submit([harness.task("at", bytes: 4_096)], from: client).acknowledged == 1)
        let past = harness.submit([harness.task("past", bytes: 4_097)], from: client, requestID: 2)
        #expect(past.refusal?.code == .invalidArgument && past.refusal?.message.contains("4097 bytes is larger than the largest accepted, 4096") == true)
    }

    @Test func theDefaultPayloadLimitLeavesRoomForTheFrame() {
        #expect(TaskLimits.maximumPayloadBytes(forFrameBytes: 4 * 1024 * 1024) == 4 * 1024 * 1024 - 16 * 1024)
        #expect(TaskLimits.maximumPayloadBytes(forFrameBytes: 1_024) == 0)
    }

    @Test(arguments: [
        ("", "task_id must be"), (String(repeating: "x", count: 257), "task_id must be"),
    ]) func badTaskIdsAreRefusedNamingTheProblem(id: String, expected: String) {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        let actions = harness.submit([harness.task(id)], from: client)
        #expect(actions.refusal?.message.contains(expected) == true)
    }

    @Test func idsAndKindsAtTheirLimitsAreAccepted() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        let id = String(repeating: "i", count: 256)
        let kind = String(repeating: "k", count: 64)
        #expect(harness.submit([harness.task(id, kind: kind)], from: client).acknowledged == 1)
        let tooLong = harness.submit([harness.task("x", kind: kind + "k")], from: client, requestID: 2)
        #expect(tooLong.refusal?.message.contains("a kind is 1-64 bytes") == true)
        let control = harness.submit([harness.task("y", kind: "echo\u{7}")], from: client, requestID: 3)
        #expect(control.refusal?.message.contains("no control characters (got 'echo\\u{7}')") == true, "\(String(describing: control.refusal))")
    }

    @Test(arguments: [
        "0AF7651916CD43DD8448EB211C80319C",  // upper case
        "0af7651916cd43dd8448eb211c80319",  // 31 digits
        "00000000000000000000000000000000",  // all zero
        "not-a-trace-id-not-a-trace-id-xx",
    ]) func aMalformedTraceIdIsRefusedNotReplaced(traceID: String) {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        var task = harness.task("t")
        task.traceID = traceID
        let actions = harness.submit([task], from: client)
        #expect(actions.refusal?.code == .invalidArgument)
        #expect(actions.refusal?.message.contains("not a W3C trace context") == true)
    }

    @Test func aClientOverItsAdmissionRateIsRefusedWithARetryAfter() {
        var harness = MachineHarness {
            $0.admissionTasksPerSecond = 10
            $0.admissionBurst = 10
        }
        let client = harness.connect(.client, "client")
        #expect(harness.submit((0..<10).map { "a\($0)" }, from: client).acknowledged == 10)
        let over = harness.submit(["b0"], from: client, requestID: 2)
        #expect(over.refusal?.code == .overloaded)
        #expect(over.refusal?.retryAfter == .milliseconds(100), "one token comes back every 100 ms")
        harness.advance(by: .milliseconds(100))
        #expect(harness.submit(["b0"], from: client, requestID: 3).acknowledged == 1)
        // The bucket is per certificate name, not per connection.
        let sameName = harness.connect(.client, "client")
        #expect(harness.submit(["c0"], from: sameName, requestID: 4).refusal?.code == .overloaded)
        let otherName = harness.connect(.client, "other")
        #expect(harness.submit(["c0"], from: otherName, requestID: 5).acknowledged == 1)
    }

    @Test func aBatchLargerThanTheBurstIsRefusedAsInvalid() {
        var harness = MachineHarness { $0.admissionBurst = 5 }
        let client = harness.connect(.client, "client")
        let actions = harness.submit((0..<6).map { "a\($0)" }, from: client)
        #expect(actions.refusal?.code == .invalidArgument && actions.refusal?.message.contains("admission burst") == true)
    }

    @Test func anEmptyBatchIsAcknowledgedWithZero() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        #expect(harness.submit([String](), from: client).acknowledged == 0)
    }
}
