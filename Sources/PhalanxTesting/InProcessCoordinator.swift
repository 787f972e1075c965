import Foundation
import InMemoryLogging
import Logging
import NIOCore
import NIOPosix
import PhalanxCluster
import PhalanxCore
import PhalanxStore
import PhalanxTransport

/// A real coordinator on 127.0.0.1 (a free port), run inside the test process, with its logs captured.
/// It is stopped when `with`'s body returns (or throws).
public struct InProcessCoordinator: Sendable {
    public let port: Int
    public let logs: InMemoryLogHandler
    public let limits: ConnectionLimits

    /// Limits for tests of the deadlines themselves: a handshake or a frame that takes 500 ms is cut off.
    public static var shortLimits: ConnectionLimits {
        var limits = testLimits
        limits.handshakeTimeout = .milliseconds(500)
        limits.frameCompletionTimeout = .milliseconds(500)
        return limits
    }

    /// The default: 64 KiB frames, and deadlines that a loaded CI machine (2 cores, suites in
    /// parallel) meets; a 500 ms handshake deadline had failed a connection there now and then.
    public static var testLimits: ConnectionLimits {
        var limits = ConnectionLimits()
        limits.handshakeTimeout = .seconds(5)
        limits.frameCompletionTimeout = .seconds(5)
        limits.idleTimeout = .seconds(30)
        limits.maximumFrameBytes = 64 * 1024
        return limits
    }

    /// Starts a coordinator, runs `body` with it, then stops it.
    @discardableResult
    public static func with<T>(
        files: TLSFiles, limits: ConnectionLimits = testLimits, configure: (inout CoordinatorConfiguration) -> Void = { _ in },
        _ body: (InProcessCoordinator) async throws -> T
    ) async throws -> T {
        let logs = InMemoryLogHandler()
        var logger = Logger(label: "test.coordinator") { _ in logs }
        logger.logLevel = .debug
        var configuration = CoordinatorConfiguration(
            host: "127.0.0.1", port: 0, tls: files, limits: limits,
            dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-coordinator-\(UUID().uuidString)").path)
        configure(&configuration)
        let local = try files.localIdentity()
        let listener = try await PhalanxListener.bind(
            host: "127.0.0.1", port: 0, tlsContext: try files.makeServerContext(), local: local, limits: limits, logger: logger,
            group: MultiThreadedEventLoopGroup.singleton.next())
        let port = listener.channel.localAddress!.port!
        let ledger = try SQLiteTaskLedger(path: "\(configuration.dataDirectory)/tasks.sqlite")
        let coordinator = Coordinator(configuration: configuration, local: local, ledger: ledger, logger: logger, clock: ContinuousClock())
        let running = Task { try await coordinator.run(listener: listener) }
        let serverChannel = listener.channel
        // Stopped gracefully, as the coordinator process stops on SIGTERM: every accepted connection
        // is served and closed. Cancelling the accept loop instead would drop connections accepted
        // but not yet handed to it, and NIO traps on an async channel dropped unfinished.
        func stop() async {
            await coordinator.shutDown()
            try? await serverChannel.close()
            let watchdog = Task {
                try await Task.sleep(for: .seconds(10))
                running.cancel()  // a connection that never ends must not hang the test
            }
            _ = await running.result
            watchdog.cancel()
        }
        do {
            let result = try await body(InProcessCoordinator(port: port, logs: logs, limits: limits))
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }

    /// Whether some log line's metadata or message mentions `text`.
    public func logged(_ text: String) -> Bool {
        logs.entries.contains { entry in
            "\(entry.message)".contains(text) || entry.metadata.values.contains { "\($0)".contains(text) }
        }
    }
}
