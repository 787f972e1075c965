import Foundation
import PhalanxCore
import PhalanxWire
import Testing

@testable import PhalanxCluster

/// A participant's snapshot cut into frame-sized parts keeps what its resources report whole.
@Suite struct SnapshotSplitTests {
    @Test func manyReservationsOfAResourceArriveInPartsThatFitAndAddUpToTheReport() throws {
        let reserved = (0..<25_000).map { "transaction-\($0)" }
        let report = ResourceAuditReport(resource: "stock", reserved: reserved, problems: ["one problem"])
        let snapshot = ParticipantSnapshot(node: "w1", values: ["k": StoredValue(.integer(1))], prepared: [], applied: [], resources: [report])
        let limit = 512 * 1024
        let parts = Participant.split(snapshot, maximumBytes: limit)
        #expect(parts.allSatisfy { $0.count <= limit }, "\(parts.map(\.count))")
        let pieces = try parts.map { try WireJSON.decode(ParticipantSnapshot.self, from: $0) }
        let reports = pieces.flatMap { $0.resources ?? [] }
        #expect(reports.count == 3, "10,000 ids a part")
        #expect(reports.flatMap(\.reserved) == reserved)
        #expect(reports.flatMap(\.problems) == ["one problem"], "problems once")
        #expect(Set(reports.map(\.resource)) == ["stock"])
    }
}
