import Foundation
import Testing

@testable import PhalanxStore

/// SQLite opens a file it cannot write read-only without a word; every write would then fail
/// later, one transaction at a time. A store refuses such a file when it opens, naming the fix,
/// and only a reader (the offline audit) takes it.
@Suite struct ReadOnlyFileTests {
    /// Makes `path` unwritable for this process: the mode for a normal user, the immutable flag
    /// for root (whom the mode does not stop).
    func makeUnwritable(_ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        if geteuid() == 0 { try run("/usr/bin/chattr", ["+i", path]) }
    }

    func makeWritable(_ path: String) {
        if geteuid() == 0 { try? run("/usr/bin/chattr", ["-i", path]) }
        try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
    }

    func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(tool) \(arguments) exited \(process.terminationStatus)")
    }

    /// As when the file is made unwritable under a running worker, which then reopens it after a
    /// write failed: the file is in WAL mode and migrated, so opening it writes nothing.
    @Test func aStoreThatCanOnlyBeReadIsRefusedWhenItOpensNamingWhatToMakeWritable() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-readonly-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        for (file, open) in [
            ("participant.sqlite", { (path: String) throws(LedgerError) -> AnyObject in try ParticipantStore(path: path) }),
            ("tasks.sqlite", { (path: String) throws(LedgerError) -> AnyObject in try SQLiteTaskLedger(path: path) }),
        ] {
            let path = folder.appendingPathComponent(file).path
            let running = try open(path)
            let files = [path, path + "-wal"]
            for file in files { try makeUnwritable(file) }
            defer { for file in files { makeWritable(file) } }
            do {
                _ = try open(path)
                Issue.record("\(file): a store that can only be read was opened for writing")
            } catch {
                #expect(error.message.contains("SQLite could open it only for reading"), "\(error)")
                #expect(error.message.contains("make the file and its -wal and -shm files writable"), "\(error)")
            }
            withExtendedLifetime(running) {}
        }
    }
}
