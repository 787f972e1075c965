import Testing

@testable import PhalanxCore

@Suite struct AuthorizationTests {
    @Test func theCoordinatorAcceptsEachMessageOnlyFromItsRoles() {
        let expected: [MessageKind: Set<Role>] = [
            .submit: [.client, .admin], .statusRequest: [.client, .admin], .resultRequest: [.client, .admin], .cancelRequest: [.client, .admin],
            .register: [.worker], .results: [.worker], .draining: [.worker], .handBack: [.worker], .spawnChildren: [.worker],
            .heartbeat: [.worker, .client, .admin],  // liveness for workers, the keep-alive for clients
            .breakerCommand: [.admin], .drainRequest: [.admin], .deadLetterRequest: [.admin],
            .submitAck: [], .registered: [], .dispatch: [], .statusReply: [], .drain: [], .breakerReply: [], .drainReply: [],
            .resultReply: [], .cancelReply: [], .cancelAttempts: [], .deadLetterReply: [], .spawnReply: [], .childResults: [],
            .txRequest: [.client, .admin, .worker], .txShowRequest: [.client, .admin], .sagaRequest: [.client, .admin], .sagaReply: [], .auditRequest: [.admin],
            .txVote: [.worker], .txAck: [.worker], .txInquiry: [.worker], .snapshotPart: [.worker],
            .txReply: [], .txPrepare: [], .txDecision: [], .txShowReply: [], .auditReply: [], .snapshotRequest: [],
        ]
        #expect(Set(expected.keys).union([.hello, .error]) == Set(MessageKind.allCases), "every kind is covered")
        for (kind, roles) in expected {
            for role in Role.allCases {
                #expect(Authorization.mayCoordinatorAccept(kind, from: role) == roles.contains(role), "\(kind) from \(role)")
            }
        }
    }

    @Test func dialersAcceptOnlyWhatTheirRoleExpects() {
        #expect(Authorization.mayArriveFromCoordinator(.dispatch, at: .worker))
        #expect(!Authorization.mayArriveFromCoordinator(.dispatch, at: .client))
        #expect(Authorization.mayArriveFromCoordinator(.results, at: .client))
        #expect(!Authorization.mayArriveFromCoordinator(.results, at: .worker))
        #expect(!Authorization.mayArriveFromCoordinator(.submit, at: .admin))
        #expect(Authorization.mayArriveFromCoordinator(.drain, at: .worker))
        #expect(!Authorization.mayArriveFromCoordinator(.drain, at: .client))
        #expect(Authorization.mayArriveFromCoordinator(.breakerReply, at: .admin))
        #expect(!Authorization.mayArriveFromCoordinator(.breakerReply, at: .client))
        for role in Role.allCases { #expect(Authorization.mayArriveFromCoordinator(.heartbeat, at: role)) }
        #expect(Authorization.mayArriveFromCoordinator(.childResults, at: .worker) && !Authorization.mayArriveFromCoordinator(.childResults, at: .client))
        #expect(Authorization.mayArriveFromCoordinator(.spawnReply, at: .worker) && !Authorization.mayArriveFromCoordinator(.spawnReply, at: .admin))
    }
}
