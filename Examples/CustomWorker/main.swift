// An example of your own worker executable: the built-in kinds plus one handler of your own.
//
//   swift run custom-worker-example 127.0.0.1 7400 run/certs w9
//   phalanx submit --kind reverse --payload hello --wait
//   phalanx submit --kind quote --payload ACME --count 200 --wait     (a guarded, flaky dependency)
//   phalanx submit --kind checksum --payload 1,2,3,4 --wait           (children in a fail-fast scope)
//   phalanx tx run 'w9:@tickets/book/opera=2' 'w1:alice-=80'         (a transactional resource of its own: TicketOffice.swift)
import Foundation
import PhalanxCluster
import PhalanxResilience
import PhalanxTransport

let arguments = CommandLine.arguments
guard arguments.count == 5, let port = Int(arguments[2]) else {
    print("usage: custom-worker-example HOST PORT CERT_DIR NAME   (NAME.pem must be a worker certificate)")
    exit(2)
}
let (host, directory, name) = (arguments[1], arguments[3], arguments[4])

var handlers = TaskHandlerRegistry.builtIn
// A handler returns the output bytes, or throws: a business failure is returned to the caller
// as is, a system failure may be retried, anything else is reported as INTERNAL.
handlers.register("reverse") { input in
    guard !input.payload.isEmpty else { throw PhalanxError.business("reverse needs a non-empty payload") }
    return Array(input.payload.reversed())
}

// Layers 2 and 3 for a handler's own dependencies. One breaker per dependency, shared by every
// task on this worker; a bulkhead and a rate limiter bound what this worker asks of
// the dependency; retries are budgeted; the whole call has a deadline; when the dependency cannot
// answer in time the handler degrades to a cached answer (withFallback) instead of failing the task.
let clock = ContinuousClock()
var quoteBreakerSettings = CircuitBreakerConfiguration()
quoteBreakerSettings.minimumNumberOfCalls = 10
let quoteBreaker = try CircuitBreaker(name: "quote-service", configuration: quoteBreakerSettings, clock: clock)
let quoteBulkhead = try Bulkhead(name: "quotes", configuration: .init(maxConcurrentCalls: 8, maxWaitingCalls: 32), clock: clock)
let quoteLimiter = try RateLimiter(name: "quotes", capacity: 100, refillInterval: .milliseconds(10), clock: clock)
let retrier = try Retrier(
    policy: RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(20), jitter: .decorrelated),
    budget: RetryBudget(ratio: 0.2, clock: clock), clock: clock)
let connections = ResourceLedger()

/// A stand-in for a remote price service: slow now and then, failing one call in five.
@Sendable func fetchQuote(_ symbol: String) async throws -> String {
    try await Task.sleep(for: .milliseconds(Int.random(in: 1...30)))
    guard Int.random(in: 0..<5) > 0 else { throw PhalanxError.system("the quote service timed out") }
    return "\(symbol) \(Int.random(in: 90...110))"
}

handlers.register("quote") { input in
    let symbol = input.text
    guard !symbol.isEmpty else { throw PhalanxError.business("quote needs a symbol as payload, e.g. ACME") }
    let quote = try await withTimeout(.seconds(1), on: clock) {
        try await withFallback(name: "quotes") {
            try await retrier.run { _ in
                try await quoteLimiter.acquire()
                return try await quoteBulkhead.run {
                    try await quoteBreaker.run {
                        try await withResource(kind: "quote_connection", ledger: connections, acquire: { symbol }, release: { _ in }) {
                            try await fetchQuote($0)
                        }
                    }
                }
            }
        } fallback: { _ in
            "\(symbol) 100 (cached)"  // degraded: the breaker is open, the bulkhead full, or the deadline passed
        }
    }
    return Array(quote.utf8)
}

// Children that never outlive their task: each part is checked concurrently; the first bad part
// cancels the others and fails the task with a business error that names it.
handlers.register("checksum") { input in
    let parts = input.text.split(separator: ",").map(String.init)
    let values = try await withFailFastScope(of: Int.self) { scope in
        for part in parts {
            scope.addChild {
                guard let value = Int(part) else { throw PhalanxError.business("'\(part)' is not an integer") }
                return value
            }
        }
    }
    return Array("\(values.reduce(0, &+))".utf8)
}

let configuration = WorkerConfiguration(
    coordinatorHost: host, coordinatorPort: port,
    tls: TLSFiles(caCertificatePath: "\(directory)/ca.pem", certificatePath: "\(directory)/\(name).pem", privateKeyPath: "\(directory)/\(name)-key.pem"))
do {
    // Transactional resources (TCC) of this worker, besides its built-in store; the example
    // `stock` resource of `phalanx worker` is StockResource in PhalanxCluster.
    let folder = configuration.participantDirectory(for: name)
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let tickets = try TicketOffice(path: "\(folder)/tickets.json")
    try await WorkerRuntime(configuration: configuration, handlers: handlers, resources: [tickets]).run()
} catch {
    print("worker stopped: \(error)")
    exit(1)
}
