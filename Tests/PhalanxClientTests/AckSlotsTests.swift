import Testing

@testable import PhalanxClient

/// Acknowledgements of pipelined submit frames: none is lost when it arrives before its waiter.
@Suite struct AckSlotsTests {
    struct Closed: Error {}

    @Test func anAcknowledgementThatArrivesBeforeItsWaiterIsKeptForIt() async throws {
        var slots = AckSlots<Int>()
        slots.open(1)
        slots.open(2)
        let kept = slots.arrived(2, 20)
        #expect(kept)
        let early = try await withCheckedThrowingContinuation { waiter in
            if let ack = slots.take(2, orWait: waiter) { waiter.resume(returning: ack) }
        }
        #expect(early == 20)
        #expect(slots.count == 1)
    }

    @Test func aWaiterGetsTheAcknowledgementWhenItArrives() async throws {
        let slots = Slots()
        await slots.open(7)
        async let ack = slots.wait(7)
        try await slots.eventuallyWaiting(7)
        #expect(await slots.arrive(7, 70))
        #expect(try await ack == 70)
    }

    @Test func aStrayOrRepeatedAcknowledgementIsRefused() {
        var slots = AckSlots<Int>()
        let stray = slots.arrived(9, 1)  // never opened
        slots.open(3)
        let first = slots.arrived(3, 30)
        let repeated = slots.arrived(3, 31)  // already there
        #expect(!stray && first && !repeated)
    }

    @Test func theEndOfTheConnectionFailsEveryWaiter() async throws {
        let slots = Slots()
        await slots.open(1)
        let ack = Task { try await slots.wait(1) }
        try await slots.eventuallyWaiting(1)
        await slots.failAll()
        await #expect(throws: Closed.self) { try await ack.value }
    }

    /// An actor around the slots, as in the client.
    actor Slots {
        var slots = AckSlots<Int>()
        var waiting: Set<UInt64> = []

        func open(_ id: UInt64) { slots.open(id) }
        func arrive(_ id: UInt64, _ ack: Int) -> Bool { slots.arrived(id, ack) }
        func failAll() { slots.failAll(Closed()) }

        func wait(_ id: UInt64) async throws -> Int {
            try await withCheckedThrowingContinuation { waiter in
                waiting.insert(id)
                if let ack = slots.take(id, orWait: waiter) { waiter.resume(returning: ack) }
            }
        }

        func eventuallyWaiting(_ id: UInt64) async throws {
            while !waiting.contains(id) { try await Task.sleep(for: .milliseconds(1)) }
        }
    }
}
