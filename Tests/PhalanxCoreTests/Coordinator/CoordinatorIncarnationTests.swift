import PhalanxResilience
import Testing

@testable import PhalanxCore

/// Worker incarnations: every start of a worker process registers a newer one. An older
/// incarnation is refused for good; the same incarnation connecting again replaces its old
/// connection at once; a newer one waits while the old one is alive (it may be a twin).
@Suite struct CoordinatorIncarnationTests {
    @Test func theSameProcessConnectingAgainReplacesItsOldConnectionAtOnceAndItsTasksRunAgain() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let (old, _) = harness.worker("w1", incarnation: 100)
        let first = harness.submit(["a", "b"], from: client).dispatched(to: old)
        #expect(first.count == 2)

        // Its connection dropped on the worker's side; the coordinator has not noticed yet.
        let (new, actions) = harness.worker("w1", incarnation: 100)
        #expect(actions.closed(new) == nil)
        #expect(actions.closed(old)?.code == .unavailable)
        #expect(harness.machine.workers[old] == nil && harness.machine.workers[new] != nil)
        let again = actions.dispatched(to: new)
        #expect(again.map(\.attempt) == [2, 2])  // the tasks of the abandoned connection, attempt + 1

        // A late result over the old connection counts for nothing.
        _ = harness.succeed(first, on: old)
        #expect(harness.machine.staleResultCount == 2)
        #expect(harness.succeed(again, on: new).delivered(to: client).count == 2)
    }

    @Test func anOlderIncarnationIsRefusedAsSupersededEvenAfterTheNewerOneIsGone() {
        var harness = MachineHarness()
        let (newer, _) = harness.worker("w1", incarnation: 200)
        _ = harness.machine.disconnected(newer, now: harness.now)

        // The old process was frozen (SIGSTOP) and comes back after its restart registered.
        let (old, refused) = harness.worker("w1", incarnation: 100)
        let error = refused.closed(old)
        #expect(error?.code == .superseded)
        #expect(error?.message.contains("incarnation 100 is older than incarnation 200") == true)
        #expect(harness.machine.workers.isEmpty)

        // The newest one (and any newer) may come back.
        let (back, accepted) = harness.worker("w1", incarnation: 200)
        #expect(accepted.closed(back) == nil)
    }

    @Test func aNewerIncarnationWaitsWhileTheOldOneIsAliveBecauseItMayBeATwin() {
        var harness = MachineHarness()
        let (old, _) = harness.worker("w1", incarnation: 100)
        let (twin, refused) = harness.worker("w1", incarnation: 300)
        #expect(refused.closed(twin)?.code == .conflict)
        #expect(harness.machine.workers[old] != nil)
        // Refused registrations do not raise the newest incarnation: the old one keeps working.
        let (again, accepted) = harness.worker("w1", incarnation: 100)
        #expect(accepted.closed(again) == nil && accepted.closed(old)?.code == .unavailable)
    }

    @Test func workersThatDoNotSayTheirIncarnationAreJudgedByConnectionAlone() {
        var harness = MachineHarness()
        let (first, _) = harness.worker("w1")
        let (second, refused) = harness.worker("w1")
        #expect(refused.closed(second)?.code == .conflict && harness.machine.workers[first] != nil)
    }

    @Test func theParticipantStoreAWorkerReportsIsRecordedAndToldAtItsNextRegistration() {
        var harness = MachineHarness()
        let (w1, first) = harness.worker("w1", incarnation: 100)
        #expect(Self.toldStore(first) == .some(nil), "nothing known yet")
        let a = KnownParticipantStore(id: "store-a", writes: 10)

        let reported = harness.machine.heartbeat(from: w1, participantStore: a, now: harness.now)
        #expect(reported.persisted.contains { if case .workerParticipantStore("w1", a) = $0 { true } else { false } })
        #expect(!reported.contains { if case .participantStoreReplaced = $0 { true } else { false } }, "a first record replaces nothing")
        #expect(harness.machine.heartbeat(from: w1, participantStore: a, now: harness.now).persisted.isEmpty, "recorded once")
        #expect(harness.machine.heartbeat(from: w1, participantStore: nil, now: harness.now).persisted.isEmpty, "no store open: nothing changes")
        let wrote = harness.machine.heartbeat(from: w1, participantStore: KnownParticipantStore(id: "store-a", writes: 25), now: harness.now)
        #expect(wrote.persisted.count == 1 && !wrote.contains { if case .participantStoreReplaced = $0 { true } else { false } }, "more writes: recorded quietly")
        #expect(!wrote.contains { if case .log = $0 { true } else { false } })

        _ = harness.machine.disconnected(w1, now: harness.now)
        let (_, again) = harness.worker("w1", incarnation: 200)
        #expect(Self.toldStore(again) == .some(KnownParticipantStore(id: "store-a", writes: 25)))
    }

    @Test func aStoreRememberedFromTheLedgerIsToldAndAnotherAcceptedByTheWorkerReplacesIt() {
        var harness = MachineHarness()
        harness.machine.rememberParticipantStores(["w1": KnownParticipantStore(id: "store-a", writes: 50)])
        let (w1, registered) = harness.worker("w1", incarnation: 100)
        #expect(Self.toldStore(registered) == .some(KnownParticipantStore(id: "store-a", writes: 50)))
        let other = KnownParticipantStore(id: "store-b", writes: 0)
        let replaced = harness.machine.heartbeat(from: w1, participantStore: other, now: harness.now)
        #expect(replaced.persisted.contains { if case .workerParticipantStore("w1", other) = $0 { true } else { false } })
        let previous = KnownParticipantStore(id: "store-a", writes: 50)
        #expect(
            replaced.persisted.contains { if case .participantStoreLossAccepted("w1", previous, other) = $0 { true } else { false } },
            "the accepted loss is recorded with the new store, for the audit")
        let again = harness.machine.heartbeat(from: w1, participantStore: KnownParticipantStore(id: "store-b", writes: 3), now: harness.now)
        #expect(!again.persisted.contains { if case .participantStoreLossAccepted = $0 { true } else { false } }, "the same store again is no loss")
        #expect(replaced.contains { if case .log(let entry) = $0 { entry.level == .warning && entry.message.contains("another participant store") } else { false } }, "\(replaced)")
        #expect(replaced.contains { if case .participantStoreReplaced(worker: "w1") = $0 { true } else { false } }, "decisions stop waiting for the old store")
        // A heartbeat from a connection that is not a registered worker records nothing.
        let client = harness.connect(.client, "client")
        #expect(harness.machine.heartbeat(from: client, participantStore: KnownParticipantStore(id: "store-c", writes: 1), now: harness.now).persisted.isEmpty)
    }

    @Test func votesAndAcknowledgementsRaiseTheCountWhichTheNextHeartbeatRecordsAndALowerOneNeverLowers() {
        var harness = MachineHarness()
        let (w1, _) = harness.worker("w1", incarnation: 100)
        _ = harness.machine.heartbeat(from: w1, participantStore: KnownParticipantStore(id: "store-a", writes: 10), now: harness.now)
        harness.machine.participantStoreWrote("w1", writes: 30)  // a vote, after the heartbeat was read
        harness.machine.participantStoreWrote("w1", writes: 20)  // an older acknowledgement: no change
        harness.machine.participantStoreWrote("w9", writes: 99)  // no store known for it: nothing
        // A heartbeat read before that vote says less: the larger count is kept and recorded.
        let stale = harness.machine.heartbeat(from: w1, participantStore: KnownParticipantStore(id: "store-a", writes: 25), now: harness.now)
        #expect(stale.persisted.contains { if case .workerParticipantStore("w1", KnownParticipantStore(id: "store-a", writes: 30)) = $0 { true } else { false } }, "\(stale)")
        #expect(!stale.contains { if case .participantStoreReplaced = $0 { true } else { false } }, "the same store, not an older copy")
        #expect(harness.machine.heartbeat(from: w1, participantStore: KnownParticipantStore(id: "store-a", writes: 30), now: harness.now).persisted.isEmpty, "recorded already")
        _ = harness.machine.disconnected(w1, now: harness.now)
        let (_, again) = harness.worker("w1", incarnation: 200)
        #expect(Self.toldStore(again) == .some(KnownParticipantStore(id: "store-a", writes: 30)))
    }

    /// The store a registration's confirmation told the worker (nil inside: none), or nil without a confirmation.
    private static func toldStore(_ actions: [MachineHarness.Machine.Action]) -> KnownParticipantStore?? {
        for case .confirmRegistration(_, _, _, let store) in actions { return .some(store) }
        return nil
    }
}
