import Testing

@testable import PhalanxCore
@testable import PhalanxResilience

/// The audit's judgement of what registered resources report.
@Suite struct ResourceAuditTests {
    let now: Int64 = 1_000_000

    func snapshot(prepared: [String], reports: [ResourceAuditReport]?) -> ParticipantSnapshot {
        let records = prepared.map {
            ParticipantMachine.Prepared(id: $0, writes: [], reads: [:], voteDeadlineUnixMilliseconds: 0, preparedUnixMilliseconds: now, durable: true)
        }
        return ParticipantSnapshot(node: "w1", values: [:], prepared: records, applied: [], resources: reports)
    }

    func violations(_ snapshot: ParticipantSnapshot) -> [AuditViolation] {
        TransactionAudit.run(TransactionAudit.Input(log: [], participants: [snapshot], nowUnixMilliseconds: now)).violations
    }

    @Test func aReservationOfAPreparedTransactionIsFine() {
        let report = ResourceAuditReport(resource: "stock", reserved: ["t1"], problems: [])
        #expect(violations(snapshot(prepared: ["t1"], reports: [report])) == [])
    }

    @Test func aReservationWithoutAPreparedTransactionIsALeakNamedWithTheResource() throws {
        let report = ResourceAuditReport(resource: "stock", reserved: ["t1", "ghost"], problems: [])
        let found = violations(snapshot(prepared: ["t1"], reports: [report]))
        let leak = try #require(found.first)
        #expect(found.count == 1)
        #expect(leak.kind == .resourceReservationLeaked)
        #expect(leak.transaction == "ghost" && leak.node == "w1" && leak.key == "@stock")
        #expect(leak.detail.contains("not in the decision log"))
    }

    @Test func aProblemTheResourceReportsIsABrokenInvariant() throws {
        let report = ResourceAuditReport(resource: "stock", reserved: [], problems: ["sku-2 has -4 on hand, below 0"])
        let found = violations(snapshot(prepared: [], reports: [report]))
        #expect(found.map(\.kind) == [.resourceInvariantBroken])
        #expect(found.first?.detail.contains("sku-2 has -4 on hand") == true)
    }

    @Test func noReportsMeanNothingToJudge() {
        #expect(violations(snapshot(prepared: [], reports: nil)) == [])
    }
}
