import Foundation
import PhalanxClient
import PhalanxTransport
import PhalanxWire

/// Real `phalanx` processes on 127.0.0.1 for end-to-end tests: a coordinator on a free port and
/// workers, each with its own certificate. It kills only the processes it started, by pid, when
/// the test ends (also when it fails): call ``stopAll()`` in a `defer`.
public final class ClusterProcesses: @unchecked Sendable {
    public static let repositoryRoot = CertificateFactory.repositoryRoot

    /// The `phalanx` binary built next to the test bundle (or PHALANX_BINARY).
    public static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["PHALANX_BINARY"] { return path }
        let testBundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBundle.deletingLastPathComponent().appendingPathComponent("phalanx").path
    }()

    public let directory: URL
    public var certificates: String { directory.appendingPathComponent("certs").path }
    public private(set) var port = 0
    private let settings: [String]
    private var processes: [String: Process] = [:]
    private let lock = NSLock()

    /// Makes certificates for a coordinator, workers w1–w3, a client and an admin. `settings` are
    /// extra `section.key=value` overrides for every process (e.g. a short idle timeout).
    public init(settings: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try CertificateFactory.generate(
            in: directory.appendingPathComponent("certs").path, cluster: "demo",
            nodes: ["coordinator:coordinator", "w1:worker", "w2:worker", "w3:worker", "client:client", "admin:admin"])
        self.settings = settings
    }

    deinit { stopAll() }

    /// Arguments every process gets: the repository's cluster.conf, this cluster's certificates,
    /// fast heartbeats, quiet logs, and the test's own settings.
    public var commonArguments: [String] {
        ["--config", Self.repositoryRoot.appendingPathComponent("cluster.conf").path,
         "--set", "tls.dir=\(certificates)", "--set", "coordinator.data_dir=\(directory.path)/coordinator",
         "--set", "worker.data_dir=\(directory.path)/workers",
         "--set", "coordinator.heartbeat_interval_ms=200", "--set", "log.level=info",
         "--set", "metrics.coordinator_address=127.0.0.1:0", "--set", "metrics.worker_address=127.0.0.1:0"]
            + settings.flatMap { ["--set", $0] }
    }

    /// Where the coordinator writes its metrics endpoint's port.
    public var metricsPortFile: String { directory.appendingPathComponent("metrics-port").path }

    /// The coordinator's metrics endpoint (`/metrics`, `/healthz`, `/readyz`, the status page) once it listens.
    public func coordinatorMetricsPort() -> Int? {
        (try? String(contentsOfFile: metricsPortFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Arguments for a client command against the running coordinator.
    public var clientArguments: [String] { commonArguments + ["--set", "coordinator.port=\(port)"] }

    /// Starts the coordinator on a free port and waits until it listens.
    public func startCoordinator(_ extra: [String] = [], environment: [String: String] = [:]) async throws {
        let portFile = directory.appendingPathComponent("port").path
        try? FileManager.default.removeItem(atPath: portFile)
        try? FileManager.default.removeItem(atPath: metricsPortFile)
        try start(
            "coordinator",
            ["coordinator"] + commonArguments + ["--set", "coordinator.port=\(port)", "--port-file", portFile, "--metrics-port-file", metricsPortFile]
                + extra, environment: environment)
        try await eventually("the coordinator writes its port (see \(directory.path)/coordinator.log)", within: .seconds(10)) {
            guard let text = try? String(contentsOfFile: portFile, encoding: .utf8),
                let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { return false }
            port = value
            return true
        }
    }

    /// Starts worker `name` (its log is `<name>.log`, or `<logName>.log`). Its prefetch is 0
    /// unless asked, so that tests of dispatch see `capacity` as the whole window.
    public func startWorker(
        _ name: String, capacity: Int = 16, prefetch: Int = 0, logName: String? = nil, _ extra: [String] = [], environment: [String: String] = [:]
    ) throws {
        try start(
            logName ?? name,
            ["worker"] + commonArguments
                + ["--set", "coordinator.port=\(port)", "--name", name, "--capacity", "\(capacity)", "--prefetch", "\(prefetch)"] + extra,
            environment: environment)
    }

    /// Sends SIGKILL to the named process (as `kill -9` would) and waits for it to be gone.
    public func kill(_ name: String) {
        guard let process = lock.withLock({ processes.removeValue(forKey: name) }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends `signal` (e.g. SIGTERM, SIGSTOP, SIGCONT) to the named process.
    public func signal(_ name: String, _ signal: Int32) {
        guard let process = lock.withLock({ processes[name] }) else { return }
        Foundation.kill(process.processIdentifier, signal)
    }

    /// Waits up to `timeout` for the named process to exit; its exit status, or nil if it still runs.
    public func waitForExit(_ name: String, within timeout: Duration) async throws -> Int32? {
        guard let process = lock.withLock({ processes[name] }) else { return nil }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard !process.isRunning else { return nil }
        lock.withLock { processes[name] = nil }
        return process.terminationStatus
    }

    /// The named process's resident memory in bytes (from /proc), if it runs.
    public func residentBytes(_ name: String) -> Int? {
        guard let process = lock.withLock({ processes[name] }),
            let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1_024 }
    }

    /// What the named process wrote to standard error so far.
    public func log(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }

    /// A client connected with certificate `name` (client or admin).
    public func client(_ name: String = "client", settings: PhalanxClient.Settings = .init(), limits: ConnectionLimits = ConnectionLimits()) async throws -> PhalanxClient {
        try await PhalanxClient.connect(
            host: "127.0.0.1", port: port, tls: CertificateFactory.files(in: certificates, node: name), limits: limits, settings: settings)
    }

    /// A raw TLS peer with certificate `name` that has exchanged Hellos with the coordinator.
    public func rawPeer(_ name: String = "client") async throws -> RawTLSPeer {
        let files = CertificateFactory.files(in: certificates, node: name)
        let peer = try await RawTLSPeer.connect(port: port, tls: try files.makeClientContext())
        try await peer.sendHello(as: try files.localIdentity())
        guard await peer.waitFor(within: .seconds(5), { if case .hello = $0.body { true } else { false } }) != nil else {
            throw SetupError("the coordinator did not answer \(name)'s Hello within 5 s")
        }
        return peer
    }

    /// Starts the coordinator and the named workers, connects a client with certificate `client`
    /// and returns it once every worker has registered: the set-up of most end-to-end tests.
    public func startWithWorkers(_ names: [String], capacity: Int = 16, prefetch: Int = 0, client name: String = "client") async throws -> PhalanxClient {
        try await startCoordinator()
        for worker in names { try startWorker(worker, capacity: capacity, prefetch: prefetch) }
        let connected = try await client(name)
        try await waitForWorkers(names.count, using: connected)
        return connected
    }

    /// Waits until the coordinator reports `count` registered workers.
    public func waitForWorkers(_ count: Int, using client: PhalanxClient) async throws {
        try await eventually("\(count) workers register (logs in \(directory.path))") {
            try await client.status().workers.count >= count
        }
    }

    /// Waits until the coordinator no longer lists worker `name` (after a kill, before a restart
    /// under the same name: until then the new process is refused as a duplicate and backs off).
    public func waitUntilGone(_ name: String, using client: PhalanxClient) async throws {
        try await eventually("the coordinator lets go of \(name) (logs in \(directory.path))") {
            try await !client.status().workers.contains { $0.name == name }
        }
    }

    public func stopAll() {
        let running = lock.withLock { () -> [Process] in
            defer { processes.removeAll() }
            return Array(processes.values)
        }
        for process in running where process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)  // also ends a stopped (SIGSTOP) process
        }
        for process in running { process.waitUntilExit() }
    }

    /// Runs `phalanx` with `arguments` to completion: exit status, standard output and standard error.
    /// A process still running after `timeout` is killed (SIGKILL) and reported with status -1.
    @discardableResult
    public static func runToCompletion(
        _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(20)
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-run-\(UUID().uuidString)")
        let errors = output.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        let timedOut = process.isRunning
        if timedOut { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let standardError = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        return (
            timedOut ? -1 : process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "",
            timedOut ? "[killed: still running after \(timeout)]\n" + standardError : standardError
        )
    }

    /// Starts `phalanx ARGUMENTS` (e.g. a `submit --wait`) in the background as `name`; its standard
    /// output goes to ``output(_:)``, its standard error to ``log(_:)``.
    public func startCommand(_ name: String, _ arguments: [String]) throws {
        try start(name, arguments, captureOutput: true)
    }

    /// What the named process wrote to standard output so far (for processes started with ``startCommand(_:_:)``).
    public func output(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("\(name).out"), encoding: .utf8)) ?? ""
    }

    private func start(_ name: String, _ arguments: [String], captureOutput: Bool = false, environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let log = directory.appendingPathComponent("\(name).log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw SetupError("cannot create \(log.path)") }
        process.standardError = try FileHandle(forWritingTo: log)
        if captureOutput {
            let output = directory.appendingPathComponent("\(name).out")
            guard FileManager.default.createFile(atPath: output.path, contents: nil) else { throw SetupError("cannot create \(output.path)") }
            process.standardOutput = try FileHandle(forWritingTo: output)
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        try process.run()
        lock.withLock { processes[name] = process }
    }

    /// The harness could not set up what a test needs.
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}
