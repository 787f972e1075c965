import NIOSSL
@testable import PhalanxTransport
import Testing

/// `http://HOST[:PORT]/PATH` for the Loki push URL, and the bounded TLS failure labels.
@Suite struct HTTPEndpointTests {
    @Test func aFullURLIsParsedIntoHostPortAndPath() throws {
        let endpoint = try HTTPEndpoint.parse("http://127.0.0.1:3100/loki/api/v1/push")
        #expect(endpoint == HTTPEndpoint(host: "127.0.0.1", port: 3100, path: "/loki/api/v1/push"))
        #expect(endpoint?.description == "http://127.0.0.1:3100/loki/api/v1/push")
    }

    @Test func withoutPortOrPathItIsPort80AndTheRoot() throws {
        #expect(try HTTPEndpoint.parse("http://loki.internal") == HTTPEndpoint(host: "loki.internal", port: 80, path: "/"))
        #expect(try HTTPEndpoint.parse("http://loki.internal/") == HTTPEndpoint(host: "loki.internal", port: 80, path: "/"))
        #expect(try HTTPEndpoint.parse("http://h:8080/a:b")?.path == "/a:b", "a colon in the path is not a port")
    }

    @Test func credentialsAndUnbalancedBracketsAreRefusedWithAReason() throws {
        #expect(throws: HTTPEndpointError.self) { try HTTPEndpoint.parse("http://user:pw@127.0.0.1:3100/loki/api/v1/push") }
        do {
            _ = try HTTPEndpoint.parse("http://[::1")
            Issue.record("an unbalanced bracket was accepted")
        } catch {
            #expect(error.message.contains("IPv6"), "\(error)")
        }
        let v6 = try #require(try HTTPEndpoint.parse("http://[::1]:3100/push"))
        #expect(v6.host == "::1" && v6.port == 3100 && v6.path == "/push")
        #expect(v6.description == "http://[::1]:3100/push")
        let v6WithoutPort = try #require(try HTTPEndpoint.parse("http://[::1]/push"))
        #expect(v6WithoutPort.host == "::1" && v6WithoutPort.port == 80)
        #expect(throws: HTTPEndpointError.self) { try HTTPEndpoint.parse("http://[::1]x:3100/push") }
    }

    @Test func anEmptyStringIsNoEndpoint() throws {
        #expect(try HTTPEndpoint.parse("") == nil)
    }

    @Test func aMissingSchemeIsRefusedWithAnExample() {
        #expect {
            try HTTPEndpoint.parse("127.0.0.1:3100/loki/api/v1/push")
        } throws: { error in
            let message = (error as? HTTPEndpointError)?.message ?? ""
            return message.contains("'127.0.0.1:3100/loki/api/v1/push' is not an http:// URL") && message.contains("e.g. http://")
        }
    }

    @Test func httpsIsRefused() {
        #expect(throws: HTTPEndpointError.self) { try HTTPEndpoint.parse("https://loki.internal:3100/loki/api/v1/push") }
    }

    @Test func portsOutside1To65535OrNotNumbersAreRefused() throws {
        for bad in ["http://h:0/", "http://h:65536/", "http://h:-1/", "http://h:abc/", "http://h:/", "http://h:99999999999999999999/"] {
            #expect(throws: HTTPEndpointError.self, "\(bad)") { try HTTPEndpoint.parse(bad) }
        }
        #expect(try HTTPEndpoint.parse("http://h:1/")?.port == 1)
        #expect(try HTTPEndpoint.parse("http://h:65535/")?.port == 65_535)
    }

    @Test func aMissingHostIsRefused() {
        for bad in ["http://", "http:///push", "http://:3100/push"] {
            #expect(throws: HTTPEndpointError.self, "\(bad)") { try HTTPEndpoint.parse(bad) }
        }
    }
}

@Suite struct TLSFailureReasonTests {
    struct Described: Error, CustomStringConvertible {
        let description: String
    }

    @Test func knownTLSErrorTextsGetTheirLabels() {
        let cases: [(String, String)] = [
            ("handshakeFailed(sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED]))", "untrusted_certificate"),
            ("handshakeFailed(sslError([SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE]))", "no_client_certificate"),
            ("sslError([SSL routines:OPENSSL_internal:TLSV13_ALERT_CERTIFICATE_REQUIRED])", "no_client_certificate"),
            ("sslError([SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA])", "rejected_by_peer"),
            ("sslError([SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER])", "not_tls"),
            ("sslError([SSL routines:OPENSSL_internal:HTTP_REQUEST])", "not_tls"),
            ("sslError([SSL routines:OPENSSL_internal:UNSUPPORTED_PROTOCOL])", "old_tls_version"),
            ("SSL: something nobody has seen", "other"),
        ]
        for (text, label) in cases {
            #expect(TLSFailureReason.label(Described(description: text)) == label, "\(text)")
            #expect(TLSFailureReason.labels.contains(label))
            #expect(TLSFailureReason.describe(Described(description: text)) != nil)
        }
    }

    @Test func anUncleanShutdownDuringTheHandshakeIsClosedDuringHandshake() {
        #expect(TLSFailureReason.label(NIOSSLError.uncleanShutdown) == "closed_during_handshake")
        let eof = Described(description: "handshakeFailed(NIOSSL.BoringSSLError.sslError([Error:  EOF during handshake]))")
        #expect(TLSFailureReason.label(eof) == "closed_during_handshake" && TLSFailureReason.isClosedDuringHandshake(eof))
        #expect(!TLSFailureReason.isClosedDuringHandshake(Described(description: "sslError([SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED])")))
        #expect(TLSFailureReason.describe(NIOSSLError.uncleanShutdown)?.contains("closed the connection") == true)
    }

    @Test func anErrorThatIsNotAboutTLSHasNoLabel() {
        #expect(TLSFailureReason.label(Described(description: "connection refused (errno: 111)")) == nil)
        #expect(TLSFailureReason.describe(Described(description: "connection refused (errno: 111)")) == nil)
    }

    @Test func theLabelsAreBoundedAndDistinct() {
        #expect(Set(TLSFailureReason.labels).count == TLSFailureReason.labels.count)
        #expect(TLSFailureReason.labels.contains("other") && TLSFailureReason.labels.contains("timeout") && TLSFailureReason.labels.contains("identity"))
    }
}
