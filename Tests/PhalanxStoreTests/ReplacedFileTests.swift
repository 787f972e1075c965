import Foundation
import Testing

@testable import PhalanxStore

/// A store whose file is deleted or replaced while it is open refuses to write: what it wrote to
/// the old file would be gone at the next open. It claims its worker, and refuses another.
@Suite struct ReplacedFileTests {
    let abort = ParticipantChange.outcome(id: "t1", committed: false, writes: [], unixMilliseconds: 0)

    func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-replaced-\(UUID().uuidString)")
    }

    @Test func aDeletedOrReplacedFileIsNamedAndNotWrittenTo() async throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("participant.sqlite").path
        let store = try ParticipantStore(path: path)
        try await store.apply([abort])
        #expect(store.replacedProblem() == nil)
        try FileManager.default.removeItem(atPath: path)
        #expect(store.replacedProblem()?.contains("was deleted while the worker ran") == true)
        let deleted = await #expect(throws: LedgerError.self) { try await store.apply([abort]) }
        #expect(deleted?.message.contains("was deleted") == true, "\(String(describing: deleted))")

        let other = root.appendingPathComponent("other.sqlite").path
        _ = try ParticipantStore(path: other)
        try FileManager.default.moveItem(atPath: other, toPath: path)
        #expect(store.replacedProblem()?.contains("was replaced by another file") == true)
        #expect(throws: LedgerError.self) { try store.applyBlocking([ParticipantStore.encode(abort)]) }
    }

    @Test func aStoreBelongsToTheFirstWorkerThatClaimsIt() throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("participant.sqlite").path
        try ParticipantStore(path: path).claim(for: "w1")
        try ParticipantStore(path: path).claim(for: "w1")
        let error = #expect(throws: LedgerError.self) { try ParticipantStore(path: path).claim(for: "w2") }
        #expect(error?.message.contains("belongs to worker w1, not to w2") == true, "\(String(describing: error))")
    }
}
