import Foundation
import PhalanxCore
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

    /// The log holds committed changes until a checkpoint: deleted under an open store, it is
    /// named, nothing more is written, and closing the store (SIGTERM) still saves what it held.
    @Test func aDeletedWriteAheadLogIsNamedAndWhatItHeldSurvivesAClose() async throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("participant.sqlite").path
        let put = ParticipantChange.outcome(
            id: "t1", committed: true, writes: [KeyWrite(key: "k", before: nil, after: StoredValue(.integer(7)))], unixMilliseconds: 0)
        do {
            let store = try ParticipantStore(path: path)
            try await store.apply([put])
            #expect(store.replacedProblem() == nil)
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
            try FileManager.default.removeItem(atPath: path + "-wal")
            #expect(store.replacedProblem()?.contains("write-ahead log") == true, "\(String(describing: store.replacedProblem()))")
            await #expect(throws: LedgerError.self) { try await store.apply([abort]) }
        }  // closed: SQLite checkpoints the open log into the file
        let reopened = try ParticipantStore(path: path)
        #expect(try await reopened.load().values["k"] == StoredValue(.integer(7)))
    }

    /// Deleted before anything was written: SQLite goes on writing to the deleted log it holds
    /// open, so the path never shows a log again; that is noticed too.
    @Test func aWriteAheadLogDeletedRightAfterOpeningIsNamedBeforeAnythingIsWrittenToIt() async throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("participant.sqlite").path
        let store = try ParticipantStore(path: path)
        #expect(FileManager.default.fileExists(atPath: path + "-wal"), "the pool opened its log")
        try FileManager.default.removeItem(atPath: path + "-wal")
        #expect(store.replacedProblem()?.contains("write-ahead log") == true, "\(String(describing: store.replacedProblem()))")
        await #expect(throws: LedgerError.self) { try await store.apply([abort]) }
    }

    @Test func aStoreBelongsToTheFirstWorkerThatClaimsIt() throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("participant.sqlite").path
        let first = try ParticipantStore(path: path).claim(for: "w1")
        let again = try ParticipantStore(path: path).claim(for: "w1")
        #expect(first == again)
        let error = #expect(throws: LedgerError.self) { try ParticipantStore(path: path).claim(for: "w2") }
        #expect(error?.message.contains("belongs to worker w1, not to w2") == true, "\(String(describing: error))")
    }

    @Test func aStoreKeepsItsIdentityAndANewFileGetsAnother() throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("participant.sqlite").path
        let first = try ParticipantStore(path: path).claim(for: "w1")
        #expect(try ParticipantStore(path: path).claim(for: "w1") == first, "reopening keeps the identity")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let recreated = try ParticipantStore(path: path).claim(for: "w1")
        #expect(recreated.id != first.id, "a store made again in the same place is another store")
        #expect(recreated.createdUnixMilliseconds >= first.createdUnixMilliseconds)
    }

    @Test func aStoreCountsItsDurableWritesForLifeAndAnOlderCopyHoldsFewer() async throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("participant.sqlite").path
        let copy = root.appendingPathComponent("copy.sqlite").path
        do {
            let store = try ParticipantStore(path: path)
            #expect(try store.claim(for: "w1").writes == 0)
            try await store.apply([.outcome(id: "t1", committed: false, writes: [], unixMilliseconds: 1)])
            #expect(store.durableWrites == 1)
            try await store.apply([.outcome(id: "t2", committed: false, writes: [], unixMilliseconds: 2), .outcome(id: "t3", committed: false, writes: [], unixMilliseconds: 3)])
            #expect(store.durableWrites == 3)
            #expect(try await store.pruneHistory(before: 10) == 3, "history goes, the count stays")
        }
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        do {
            let store = try ParticipantStore(path: path)
            #expect(try store.claim(for: "w1").writes == 3)
            try await store.apply([.outcome(id: "t4", committed: false, writes: [], unixMilliseconds: 4)])
        }
        #expect(try ParticipantStore(path: path).claim(for: "w1").writes == 4)
        let older = try ParticipantStore(path: copy).claim(for: "w1")
        let newest = try ParticipantStore(path: path).claim(for: "w1")
        #expect(older.writes == 3 && older.id == newest.id, "an older copy: the same id, fewer writes")
    }

    /// A checkpoint puts everything in the main file while the store is still open (the worker
    /// does one when a session ends): that file alone, copied, holds the identity and the values.
    @Test func aCheckpointLeavesTheMainFileCompleteWhileTheStoreIsOpen() async throws {
        let root = folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("participant.sqlite").path
        let copy = root.appendingPathComponent("copy.sqlite").path
        let store = try ParticipantStore(path: path)
        let identity = try store.claim(for: "w1")
        try await store.apply([.outcome(
            id: "t1", committed: true, writes: [KeyWrite(key: "k", before: nil, after: StoredValue(.integer(7)))], unixMilliseconds: 0)])
        func logBytes() throws -> Int { try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? -1 }
        #expect(try logBytes() > 0, "the changes are in the -wal")
        try store.checkpoint()
        #expect(try logBytes() == 0)
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let copied = try ParticipantStore(path: copy)
        #expect(try copied.claim(for: "w1") == ParticipantStoreIdentity(id: identity.id, createdUnixMilliseconds: identity.createdUnixMilliseconds, writes: 1))
        #expect(try await copied.load().values["k"] == StoredValue(.integer(7)))
        try await store.apply([abort])  // the store goes on after it
        #expect(store.durableWrites == 2)
    }
}
