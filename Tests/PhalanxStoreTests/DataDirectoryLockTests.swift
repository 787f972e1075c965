import Foundation
import Testing

@testable import PhalanxStore

@Suite struct DataDirectoryLockTests {
    @Test func aSecondLockOnTheSameDirectoryIsRefusedNamingTheHolderAndFreedWhenTheFirstGoes() throws {
        let directory = (temporaryLedgerPath() as NSString).deletingLastPathComponent
        var first: DataDirectoryLock? = try DataDirectoryLock(directory: directory)
        #expect {
            try DataDirectoryLock(directory: directory)
        } throws: { error in
            "\(error)".contains("another coordinator (pid \(getpid()))") && "\(error)".contains("coordinator.data_dir")
        }
        #expect(first != nil)
        first = nil
        _ = try DataDirectoryLock(directory: directory)
    }
}
