import Testing

@testable import PhalanxCore

@Suite struct AuthorizationTests {
    @Test func theCoordinatorAcceptsEachMessageOnlyFromItsRoles() {
        let expected: [MessageKind: Set<Role>] = [
            .submit: [.client, .admin], .statusRequest: [.client, .admin],
            .register: [.worker], .heartbeat: [.worker], .results: [.worker],
            .submitAck: [], .registered: [], .dispatch: [], .statusReply: [],
        ]
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
    }
}
