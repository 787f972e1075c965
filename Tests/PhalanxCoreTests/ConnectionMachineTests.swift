import PhalanxResilience
import Testing

@testable import PhalanxCore

@Suite struct ConnectionMachineTests {
    let coordinator = NodeIdentity(cluster: "demo", role: .coordinator, name: "coordinator")
    let worker = NodeIdentity(cluster: "demo", role: .worker, name: "w1")
    let client = NodeIdentity(cluster: "demo", role: .client, name: "c1")

    func hello(for identity: NodeIdentity, version: UInt32 = ProtocolVersion.current, cluster: String? = nil) -> HelloFields {
        HelloFields(protocolVersion: version, cluster: cluster ?? identity.cluster, role: identity.role, node: identity.name)
    }

    func established(_ peer: NodeIdentity) -> ConnectionMachine {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        _ = machine.connected(peer: peer)
        _ = machine.helloReceived(hello(for: peer))
        return machine
    }

    func rejection(_ actions: [ConnectionMachine.Action]) -> ErrorContext? {
        guard actions.count == 1, case .reject(let error) = actions[0] else { return nil }
        return error
    }

    @Test func coordinatorWaitsForHelloThenAnswersWithItsOwn() {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        #expect(machine.connected(peer: worker) == [])
        #expect(machine.state == .awaitingHello(peer: worker))
        #expect(machine.helloReceived(hello(for: worker)) == [.sendHello, .established(peer: worker)])
        #expect(machine.state == .established(peer: worker))
    }

    @Test func dialerSpeaksFirstAndIsEstablishedByTheAnswer() {
        var machine = ConnectionMachine(side: .dialer, local: client)
        #expect(machine.connected(peer: coordinator) == [.sendHello])
        #expect(machine.helloReceived(hello(for: coordinator)) == [.established(peer: coordinator)])
    }

    @Test func dialerRefusesAPeerThatIsNotACoordinator() {
        var machine = ConnectionMachine(side: .dialer, local: client)
        #expect(rejection(machine.connected(peer: worker))?.code == .unauthenticated)
        #expect(machine.state == .closed)
    }

    @Test func coordinatorRefusesAnotherCoordinator() {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        let other = NodeIdentity(cluster: "demo", role: .coordinator, name: "c2")
        #expect(rejection(machine.connected(peer: other))?.code == .permissionDenied)
    }

    @Test func aCertificateFromAnotherClusterIsRefused() {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        let stranger = NodeIdentity(cluster: "prod", role: .worker, name: "w1")
        let error = rejection(machine.connected(peer: stranger))
        #expect(error?.code == .clusterMismatch)
        #expect(error?.message.contains("prod") == true)
    }

    @Test func versionMismatchIsNamed() {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        _ = machine.connected(peer: worker)
        let error = rejection(machine.helloReceived(hello(for: worker, version: 99)))
        #expect(error?.code == .versionMismatch)
        #expect(error?.message.contains("99") == true)
    }

    @Test func clusterMismatchInHelloIsNamed() {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        _ = machine.connected(peer: worker)
        #expect(rejection(machine.helloReceived(hello(for: worker, cluster: "other")))?.code == .clusterMismatch)
    }

    @Test func aHelloMayAnnounceFrameLimitsWithinTheAcceptedRangeOnly() {
        for (bytes, accepted) in [
            (0, true), (FrameLimits.minimumBytes - 1, false), (FrameLimits.minimumBytes, true), (FrameLimits.maximumBytes, true),
            (FrameLimits.maximumBytes + 1, false), (1, false),
        ] {
            var machine = ConnectionMachine(side: .coordinator, local: coordinator)
            _ = machine.connected(peer: worker)
            var announced = hello(for: worker)
            announced.maximumFrameBytes = UInt32(bytes)
            let actions = machine.helloReceived(announced)
            if accepted {
                #expect(actions == [.sendHello, .established(peer: worker)], "\(bytes) bytes")
            } else {
                let error = rejection(actions)
                #expect(error?.code == .invalidArgument && error?.message.contains("\(bytes) bytes") == true, "\(bytes) bytes: \(String(describing: error))")
            }
        }
    }

    @Test func aHelloThatContradictsTheCertificateIsRejected() {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        _ = machine.connected(peer: worker)
        let claim = HelloFields(protocolVersion: ProtocolVersion.current, cluster: "demo", role: .admin, node: "w1")
        let error = rejection(machine.helloReceived(claim))
        #expect(error?.code == .unauthenticated)
        #expect(error?.message.contains("admin/w1") == true && error?.message.contains("worker/w1") == true)
    }

    @Test func messagesBeforeHelloAreProtocolErrors() {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        #expect(rejection(machine.messageReceived(.submit))?.code == .protocolError)
        var waiting = ConnectionMachine(side: .coordinator, local: coordinator)
        _ = waiting.connected(peer: client)
        #expect(rejection(waiting.messageReceived(.submit))?.code == .protocolError)
    }

    @Test func aSecondHelloIsAProtocolError() {
        var machine = established(worker)
        #expect(rejection(machine.helloReceived(hello(for: worker)))?.code == .protocolError)
    }

    @Test func helloBeforeTLSIsAProtocolError() {
        var machine = ConnectionMachine(side: .coordinator, local: coordinator)
        #expect(rejection(machine.helloReceived(hello(for: worker)))?.code == .protocolError)
    }

    @Test func rolesAreAuthorizedPerMessage() {
        var workerConnection = established(worker)
        #expect(workerConnection.messageReceived(.results) == [.deliver])
        let denied = rejection(workerConnection.messageReceived(.submit))
        #expect(denied?.code == .permissionDenied)
        #expect(denied?.message.contains("worker") == true && denied?.message.contains("submit") == true)

        var clientConnection = established(client)
        #expect(clientConnection.messageReceived(.submit) == [.deliver])
        let register = rejection(clientConnection.messageReceived(.register))
        #expect(register?.code == .permissionDenied && register?.message.contains("admin") == false, "no admin hint where an admin may not either")
        var auditing = established(client)
        let audit = rejection(auditing.messageReceived(.auditRequest))
        #expect(audit?.code == .permissionDenied && audit?.message.contains("only an admin certificate may (the CLI: --name admin") == true, "\(String(describing: audit))")
    }

    @Test func afterCloseEverythingIsIgnored() {
        var machine = established(client)
        _ = machine.messageReceived(.register)
        #expect(machine.state == .closed)
        #expect(machine.messageReceived(.submit) == [.ignore])
        #expect(machine.helloReceived(hello(for: client)) == [.ignore])
        #expect(machine.decodeFailed(ErrorContext(code: .malformedFrame, message: "x")) == [.ignore])
    }

    @Test func handshakeDeadlineClosesSilentlyBeforeTLSAndWithAnErrorAfter() {
        var beforeTLS = ConnectionMachine(side: .coordinator, local: coordinator)
        guard case .closeSilently(let silent) = beforeTLS.handshakeDeadlinePassed().first else {
            Issue.record("expected a silent close before TLS")
            return
        }
        #expect(silent.code == .deadlineExceeded)
        var beforeHello = ConnectionMachine(side: .coordinator, local: coordinator)
        _ = beforeHello.connected(peer: worker)
        #expect(rejection(beforeHello.handshakeDeadlinePassed())?.code == .deadlineExceeded)
        var done = established(worker)
        #expect(done.handshakeDeadlinePassed() == [])
    }

    @Test func aPeerErrorClosesTheConnection() {
        var machine = established(client)
        let error = ErrorContext(code: .overloaded, message: "busy")
        #expect(machine.errorReceived(error) == [.peerFailed(error)])
        #expect(machine.state == .closed)
    }

    @Test func decodeFailuresRejectWithTheirContextAndThisNodeAsOrigin() {
        var machine = established(worker)
        let error = ErrorContext(code: .frameTooLarge, message: "too big")
        var expected = error
        expected.originNode = machine.local.name
        #expect(machine.decodeFailed(error) == [.reject(expected)])
        #expect(machine.state == .closed)
    }
}
