import Foundation
import PhalanxClient
import PhalanxTesting

/// Real `phalanx` processes on 127.0.0.1 for end-to-end tests: a coordinator on a free port and
/// workers, each with its own certificate. It kills only the processes it started, by pid, when
/// the test ends (also when it fails).
final class ClusterProcesses: @unchecked Sendable {
    static let repositoryRoot = CertificateFactory.repositoryRoot

    /// The `phalanx` binary built next to the test bundle (or PHALANX_BINARY).
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["PHALANX_BINARY"] { return path }
        let testBundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBundle.deletingLastPathComponent().appendingPathComponent("phalanx").path
    }()

    let directory: URL
    private(set) var port = 0
    private var processes: [String: Process] = [:]
    private let lock = NSLock()

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try CertificateFactory.generate(
            in: directory.appendingPathComponent("certs").path, cluster: "demo",
            nodes: ["coordinator:coordinator", "w1:worker", "w2:worker", "client:client"])
    }

    deinit { stopAll() }

    var commonArguments: [String] {
        ["--config", Self.repositoryRoot.appendingPathComponent("cluster.conf").path,
         "--set", "tls.dir=\(directory.appendingPathComponent("certs").path)",
         "--set", "coordinator.heartbeat_interval_ms=200", "--set", "log.level=warning"]
    }

    /// Starts the coordinator on a free port and waits until it listens.
    func startCoordinator() async throws {
        let portFile = directory.appendingPathComponent("port").path
        try start("coordinator", ["coordinator"] + commonArguments + ["--set", "coordinator.port=0", "--port-file", portFile])
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = value
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw SetupError("the coordinator did not write its port; see \(directory.path)/coordinator.log")
    }

    /// Starts worker `name`.
    func startWorker(_ name: String, capacity: Int = 16) throws {
        try start(name, ["worker"] + commonArguments + ["--set", "coordinator.port=\(port)", "--name", name, "--capacity", "\(capacity)"])
    }

    /// Sends SIGKILL to the named process (as `kill -9` would) and waits for it to be gone.
    func kill(_ name: String) {
        guard let process = lock.withLock({ processes.removeValue(forKey: name) }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends `signal` (e.g. SIGSTOP, SIGCONT) to the named process.
    func signal(_ name: String, _ signal: Int32) {
        guard let process = lock.withLock({ processes[name] }) else { return }
        Foundation.kill(process.processIdentifier, signal)
    }

    /// A client connected with the client certificate.
    func client() async throws -> PhalanxClient {
        try await PhalanxClient.connect(
            host: "127.0.0.1", port: port, tls: CertificateFactory.files(in: directory.appendingPathComponent("certs").path, node: "client"))
    }

    /// Waits until the coordinator reports `count` registered workers.
    func waitForWorkers(_ count: Int, using client: PhalanxClient) async throws {
        for _ in 0..<300 {
            if try await client.status().workers.count >= count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw SetupError("fewer than \(count) workers registered; see logs in \(directory.path)")
    }

    func stopAll() {
        let running = lock.withLock { () -> [Process] in
            defer { processes.removeAll() }
            return Array(processes.values)
        }
        for process in running where process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)  // also ends a stopped (SIGSTOP) process
        }
        for process in running { process.waitUntilExit() }
    }

    /// Runs `phalanx` with `arguments` to completion: exit status and standard error.
    static func runToCompletion(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    private func start(_ name: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        let log = directory.appendingPathComponent("\(name).log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw SetupError("cannot create \(log.path)") }
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        lock.withLock { processes[name] = process }
    }

    struct SetupError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
