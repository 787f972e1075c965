import PhalanxResilience
import Testing

@testable import PhalanxCluster

@Suite struct BuiltinHandlersTests {
    let handlers = TaskHandlerRegistry.builtIn

    func run(_ kind: String, _ payload: String) async throws -> String {
        let handler = try #require(handlers.handler(for: kind))
        let output = try await handler(TaskInput(taskID: "t", attempt: 1, kind: kind, payload: Array(payload.utf8)))
        return String(decoding: output, as: UTF8.self)
    }

    @Test func servesTheSixBuiltInKinds() {
        #expect(handlers.kinds == ["deposit", "echo", "fail", "sha256", "sleep", "tree"])
    }

    @Test func depositRefusesAMalformedPayloadAndNeedsAWorker() async throws {
        await #expect(throws: PhalanxError.self) { try await run("deposit", "w1:acct") }
        await #expect(throws: PhalanxError.self) { try await run("deposit", "w1:acct:x") }
        do {
            _ = try await run("deposit", "w1:acct:5")
            Issue.record("outside a worker there is no coordinator to apply the effect")
        } catch let error as PhalanxError {
            #expect(error.message.contains("need a worker connected to a coordinator"))
        }
    }

    @Test func aTreeOutsideAClusterCannotStartChildrenAndSaysSo() async throws {
        #expect(try await run("tree", "0 2 1") == "1")  // a leaf needs no children
        await #expect(throws: PhalanxError.self) { try await run("tree", "1 2 1") }
        await #expect(throws: PhalanxError.self) { try await run("tree", "9 2 1") }  // depth past 8
    }

    @Test func echoAndSha256() async throws {
        #expect(try await run("echo", "hello") == "hello")
        #expect(try await run("sha256", "0") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(try await run("sha256", "100000").count == 64)
    }

    /// A malformed payload is quoted in the error, cut after 100 bytes: quoted whole, a 4 MiB
    /// payload made an error larger than any result frame, which hid the real cause.
    @Test func aMalformedPayloadIsQuotedAtMost100BytesLong() async throws {
        for kind in ["sha256", "sleep", "deposit", "fail", "tree"] {
            let exact = String(repeating: "x", count: 100)
            await #expect(throws: PhalanxError.self) { try await run(kind, exact) }
            do {
                _ = try await run(kind, String(repeating: "x", count: 100_000))
                Issue.record("\(kind) took 100,000 x's")
            } catch let error as PhalanxError {
                #expect(error.message.contains("got '\(exact)…' (100000 bytes)") && error.message.utf8.count < 400, "\(kind): \(error.message.prefix(300))")
            }
        }
        do {
            _ = try await run("sha256", "12x")
        } catch let error as PhalanxError {
            #expect(error.message.hasSuffix("got '12x'"), "a short payload is quoted whole: \(error.message)")
        }
    }

    @Test func failUsesTheRequestedClass() async throws {
        await #expect { try await run("fail", "business") } throws: { ($0 as? PhalanxError)?.failureClass == .business }
        await #expect { try await run("fail", "system") } throws: { ($0 as? PhalanxError)?.failureClass == .system }
        #expect(try await run("fail", "system:0") == "ok")
    }

    @Test func badPayloadsAreInvalidArgumentsThatSayWhatIsExpected() async throws {
        for (kind, payload) in [("sleep", "soon"), ("sha256", "-1"), ("fail", "fatal"), ("fail", "system:2")] {
            await #expect("\(kind) \(payload)") { try await run(kind, payload) } throws: { error in
                let error = error as? PhalanxError
                return error?.code == .invalidArgument && error?.message.contains(payload.split(separator: ":").last.map(String.init) ?? payload) == true
            }
        }
    }
}
