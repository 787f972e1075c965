import PhalanxCore
import Testing

@testable import PhalanxWire

/// Store and resource operations read from the wire.
@Suite struct StoreOperationWireTests {
    @Test func keysInTheirTwoUnicodeFormsBecomeOneKey() throws {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(Array(composed.utf8) != Array(decomposed.utf8))
        let read = try StoreOperation.from(wire: StoreOperation.put(key: decomposed, value: .integer(1)).wire).get()
        #expect(Array(read.key.utf8) == Array(composed.utf8), "normalization form C, byte for byte")
        let resource = ResourceOperation(resource: "stock", action: "reserve", key: decomposed, argument: Array("1".utf8))
        guard case .resource(let parsed) = try StoreOperation.from(wire: StoreOperation.resource(resource).wire).get() else {
            Issue.record("expected a resource operation")
            return
        }
        #expect(Array(parsed.key.utf8) == Array(composed.utf8))
        #expect(parsed.argument == Array("1".utf8) && parsed.action == "reserve" && parsed.compensating == false)
    }

    @Test func aResourceKeyIsLimitedAsGivenNotWithItsLockPrefix() {
        func problem(_ key: String) -> String? {
            TransactionLimits.problem(
                id: "t", [ParticipantOperations(participant: "w1", operations: [.resource(ResourceOperation(resource: "stock", action: "restock", key: key))])])
        }
        #expect(problem(String(repeating: "k", count: TransactionLimits.maximumKeyBytes)) == nil)
        let past = problem(String(repeating: "k", count: TransactionLimits.maximumKeyBytes + 1))
        #expect(past?.contains("key 'kkk") == true, "the key as given is named: \(past ?? "")")
    }
}
