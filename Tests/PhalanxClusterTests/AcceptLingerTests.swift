import PhalanxCore
import PhalanxWire
import Testing

@testable import PhalanxCluster

/// The accept of a step lingers for its tasks' results only when everything the step persists is
/// the accept (and dispatch) of tasks the step also dispatches: a result, a retry or anything
/// else is written at once.
@Suite struct AcceptLingerTests {
    typealias Shell = Coordinator<ContinuousClock>
    let key = TaskKey(client: "app", taskID: "t1")
    let worker = ConnectionID(7)

    @Test func anAcceptDispatchedInTheSameStepLingers() {
        let changes: [TaskChange<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>] = [.accepted(key, Phalanx_V1_TaskSpec()), .dispatched(key, attempt: 1)]
        #expect(Shell.acceptsWhatItDispatches(changes, [.persist(changes), .dispatch(worker, [])]))
    }

    @Test func anAcceptThatWaitsInTheQueueOrAStepWithOtherChangesDoesNot() {
        let accepted: [TaskChange<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>] = [.accepted(key, Phalanx_V1_TaskSpec())]
        #expect(!Shell.acceptsWhatItDispatches(accepted, [.persist(accepted)]), "nothing was dispatched: no result comes soon")
        let withResult = accepted + [.finished(TaskKey(client: "app", taskID: "t0"), TaskDelivery(taskID: "t0", attempt: 1, worker: "w1", outcome: .reported(Phalanx_V1_TaskResult())))]
        #expect(!Shell.acceptsWhatItDispatches(withResult, [.persist(withResult), .dispatch(worker, [])]), "a result is delivered once durable: at once")
        let dispatchOnly: [TaskChange<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>] = [.dispatched(key, attempt: 2)]
        #expect(!Shell.acceptsWhatItDispatches(dispatchOnly, [.persist(dispatchOnly), .dispatch(worker, [])]), "no accept")
    }
}
