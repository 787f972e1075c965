import Testing

@testable import PhalanxCore

@Suite struct NodeIdentityTests {
    @Test func parsesTheThreeParts() throws {
        let identity = try NodeIdentity.parse(uri: "phalanx://demo/worker/w-1.a")
        #expect(identity == NodeIdentity(cluster: "demo", role: .worker, name: "w-1.a"))
        #expect(identity.uri == "phalanx://demo/worker/w-1.a")
    }

    @Test(arguments: [
        "spiffe://demo/worker/w1", "phalanx://demo/worker", "phalanx://demo/worker/w1/extra", "phalanx://demo/boss/w1",
        "phalanx:///worker/w1", "phalanx://demo/worker/", "phalanx://demo/worker/w 1",
    ])
    func refusesMalformedURIs(uri: String) {
        #expect(throws: NodeIdentity.ParseError.self) { try NodeIdentity.parse(uri: uri) }
    }

    @Test func exactlyOnePhalanxURIMustBePresent() throws {
        #expect(throws: NodeIdentity.ParseError.noPhalanxURI) { try NodeIdentity.fromSubjectAlternativeNameURIs(["https://example.test"]) }
        #expect(throws: NodeIdentity.ParseError.self) {
            try NodeIdentity.fromSubjectAlternativeNameURIs(["phalanx://demo/worker/w1", "phalanx://demo/admin/w1"])
        }
        let identity = try NodeIdentity.fromSubjectAlternativeNameURIs(["https://example.test", "phalanx://demo/client/c"])
        #expect(identity.role == .client)
    }
}
