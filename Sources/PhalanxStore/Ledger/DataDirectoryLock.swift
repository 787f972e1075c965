import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on a node's data directory (`flock` on `DIR/coordinator.lock` or
/// `DIR/participant.lock`), held for the life of the process: a second coordinator on the same
/// directory would run every task twice, a second worker of the same name would apply its
/// transactions twice, so it is refused. The kernel releases the lock when the process ends, also
/// on `kill -9`.
public final class DataDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Int32

    /// Takes the lock, creating the directory and the lock file if needed; throws naming the
    /// process that holds it.
    public init(
        directory: String, owner: String = "coordinator", setting: String = "coordinator.data_dir",
        why: String = "two coordinators on one task ledger would run every task twice", advice: String? = nil
    ) throws(LedgerError) {
        path = "\(directory)/\(owner).lock"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LedgerError("cannot create the data directory \(directory): \(error); check \(setting)")
        }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw LedgerError("cannot open \(path): \(String(cString: strerror(errno))); check \(setting)")
        }
        guard Self.lock(descriptor) else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw LedgerError(
                "another \(owner)\(holder.isEmpty ? "" : " (pid \(holder))") uses the data directory \(directory): \(why); \(advice ?? "stop it, or give this one its own \(setting)")")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
        self.descriptor = descriptor
    }

    /// Takes the lock, trying again for up to about 200 ms: a lock just released can still be
    /// held for a moment by a child process being started elsewhere in this process (it holds a
    /// copy of the descriptor until it executes its program). A node that runs holds it for good.
    private static func lock(_ descriptor: Int32) -> Bool {
        for attempt in 0..<20 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            guard errno == EWOULDBLOCK, attempt < 19 else { return false }
            usleep(10_000)
        }
        return false
    }

    deinit {
        close(descriptor)  // releases the lock
    }
}
