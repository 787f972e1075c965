import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxWire
import Testing

@testable import PhalanxCluster

/// A participant's snapshot cut into frame-sized parts and read back whole, whatever the size of
/// one item.
@Suite struct SnapshotSplitTests {
    static func readBack(_ parts: [Data], node: String = "w1") throws -> ParticipantSnapshot {
        var reader = SnapshotStream.Reader(node: node)
        for part in parts { try reader.append(part) }
        return try reader.finish()
    }

    @Test func manyReservationsOfAResourceArriveInPartsThatFitAndAddUpToTheReport() throws {
        let reserved = (0..<25_000).map { "transaction-\($0)" }
        let report = ResourceAuditReport(resource: "stock", reserved: reserved, problems: ["one problem"])
        let snapshot = ParticipantSnapshot(node: "w1", values: ["k": StoredValue(.integer(1))], prepared: [], applied: [], resources: [report])
        let limit = 64 * 1024
        let parts = SnapshotStream.parts(of: snapshot, maximumBytes: limit)
        #expect(parts.count > 1 && parts.allSatisfy { $0.count <= limit }, "\(parts.map(\.count))")
        #expect(try Self.readBack(parts) == snapshot)
    }

    @Test func aWriteLargerThanAPartSpansPartsAndComesBackWhole() throws {
        let big = StoredValue(.bytes([UInt8](repeating: 7, count: 100_000)))
        let write = KeyWrite(key: "blob", before: big, after: StoredValue(.integer(3)))
        let applied = AppliedTransaction(id: "t1", committed: true, writes: [write], sequence: 1, appliedUnixMilliseconds: 5)
        let snapshot = ParticipantSnapshot(node: "w1", values: ["blob": big, "n": StoredValue(.integer(2))], prepared: [], applied: [applied], resources: [])
        let limit = 16 * 1024
        let parts = SnapshotStream.parts(of: snapshot, maximumBytes: limit)
        #expect(parts.count > 2 * 100_000 / limit, "both copies of the value span parts: \(parts.count) parts")
        #expect(parts.dropLast().allSatisfy { $0.count == limit } && parts.last!.count <= limit)
        var expected = snapshot
        expected.resources = nil  // an empty list sends no item
        #expect(try Self.readBack(parts) == expected)
    }

    @Test func aLongHistoryKeepsItsOrderAndAResourcesProblemsAreBounded() throws {
        let applied = (0..<2_000).map { index in
            AppliedTransaction(
                id: "t\(index)", committed: index % 3 != 0, writes: [KeyWrite(key: "k\(index % 7)", before: nil, after: StoredValue(.integer(Int64(index))))],
                sequence: Int64(index), appliedUnixMilliseconds: 1_000 + Int64(index))
        }
        let problems = (0..<1_100).map { _ in String(repeating: "p", count: 1_100) }
        let report = ResourceAuditReport(resource: "stock", reserved: [], problems: problems)
        let snapshot = ParticipantSnapshot(node: "w2", values: [:], prepared: [], applied: applied, resources: [report])
        let back = try Self.readBack(SnapshotStream.parts(of: snapshot, maximumBytes: 4_096), node: "w2")
        #expect(back.applied == applied)
        let problemsBack = try #require(back.resources?.first?.problems)
        #expect(problemsBack.count == SnapshotStream.maximumProblems && problemsBack.allSatisfy { $0.count == SnapshotStream.maximumProblemCharacters })
    }

    @Test func aStreamCutShortOrGarbledIsAnErrorNotAPartialSnapshot() throws {
        let snapshot = ParticipantSnapshot(node: "w1", values: ["a": StoredValue(.integer(1)), "b": StoredValue(.integer(2))], prepared: [], applied: [])
        let parts = SnapshotStream.parts(of: snapshot, maximumBytes: 10)
        #expect(throws: ErrorContext.self) { try Self.readBack(Array(parts.dropLast())) }
        #expect(throws: ErrorContext.self) { try Self.readBack([Data([0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])]) }
        #expect(throws: ErrorContext.self) { try Self.readBack([Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])]) }
        #expect(try Self.readBack(parts) == snapshot)
    }
}
