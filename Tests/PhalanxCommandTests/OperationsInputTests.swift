import ArgumentParser
import Foundation
import Testing

@testable import phalanx

/// Long operation lists: the command line is bounded before ArgumentParser (whose cost grows with
/// the square of the arguments) sees it, and `--operations-file` carries any number up to the limit.
@Suite struct OperationsInputTests {
    @Test func theCommandLineIsRefusedJustPastItsLimitWithTheWayToPassALongList() throws {
        #expect(CommandLineLimit.problem(Array(repeating: "w1:k+=1", count: CommandLineLimit.maximumArguments)) == nil)
        let problem = try #require(CommandLineLimit.problem(Array(repeating: "w1:k+=1", count: CommandLineLimit.maximumArguments + 1)))
        #expect(problem.contains("at most 2000") && problem.contains("2001 given") && problem.contains("--operations-file"), "\(problem)")
    }

    @Test func aFileHoldsOneOperationPerLineWithBlankLinesAndCarriageReturnsSkipped() throws {
        let path = try temporaryFile(Data("w1:a+=1\r\n\n  \nw2:b=hello world\nw1:~c".utf8))
        #expect(try OperationsFile.read(path) == ["w1:a+=1", "w2:b=hello world", "w1:~c"])
    }

    @Test func aByteOrderMarkAtTheStartOfAFileIsNotPartOfTheFirstOperation() throws {
        let path = try temporaryFile(Data([0xEF, 0xBB, 0xBF] + Array("w1:a=1\r\nw2:b=2\r\n".utf8)))
        #expect(try OperationsFile.read(path) == ["w1:a=1", "w2:b=2"])
    }

    @Test func aLoneCarriageReturnEndsALineTooRatherThanJoiningTwoOperations() throws {
        let path = try temporaryFile(Data("w1:q7=5\rw1:q8=6\r\r\nw1:q9=7".utf8))
        #expect(try OperationsFile.read(path) == ["w1:q7=5", "w1:q8=6", "w1:q9=7"])
    }

    @Test func repeatedFilesAreReadInOrderAndStandardInputOnlyOnce() throws {
        let first = try temporaryFile(Data("w1:a=1\n".utf8))
        let second = try temporaryFile(Data("w2:b=2\n".utf8))
        let command = try TransactionRunCommand.parse(["w1:c=3", "--operations-file", first, "--operations-file", second])
        #expect(command.operationsFile == [first, second])
        let error = #expect(throws: (any Error).self) { try TransactionRunCommand.parse(["--operations-file", "-", "--operations-file", "-"]) }
        #expect(error.map { TransactionRunCommand.message(for: $0) }?.contains("can be read only once") == true)
    }

    /// Keys are counted as the coordinator reads them, in Unicode normalization form C.
    @Test func aKeysLengthIsCountedInNormalizationFormCAsTheCoordinatorCountsIt() throws {
        let prefix = String(repeating: "k", count: 254)
        let decomposedFits = "w1:\(prefix)e\u{0301}=1"  // 257 bytes as given, 256 composed
        #expect(throws: Never.self) { try TransactionRunCommand.parse([decomposedFits]) }
        let growsPast = "w1:\(prefix)\u{0344}=1"  // 256 bytes as given, 258 in form C
        let error = #expect(throws: (any Error).self) { try TransactionRunCommand.parse([growsPast]) }
        let message = error.map { TransactionRunCommand.message(for: $0) } ?? ""
        #expect(message.contains("in Unicode normalization form C") && message.contains("this one is 258"), "\(message)")
    }

    @Test func aFileAtTheByteLimitIsReadAndOneByteMoreIsRefused() throws {
        let line = Data("w1:k+=1\n".utf8)
        var atLimit = Data(capacity: OperationsFile.maximumBytes + 1)
        while atLimit.count + line.count <= OperationsFile.maximumBytes { atLimit.append(line) }
        atLimit.append(Data(repeating: UInt8(ascii: "\n"), count: OperationsFile.maximumBytes - atLimit.count))
        #expect(atLimit.count == OperationsFile.maximumBytes)
        #expect(try OperationsFile.read(temporaryFile(atLimit)).count == OperationsFile.maximumBytes / line.count)
        atLimit.append(UInt8(ascii: "\n"))
        let error = #expect(throws: ValidationError.self) { try OperationsFile.read(try temporaryFile(atLimit)) }
        #expect(error?.message.contains("more than 16777216 bytes") == true, "\(String(describing: error))")
    }

    @Test func aMissingOrBinaryFileIsAClearUsageError() throws {
        let missing = #expect(throws: ValidationError.self) { try OperationsFile.read("/nonexistent/phalanx-ops") }
        #expect(missing?.message.contains("cannot open it for reading") == true)
        let binary = #expect(throws: ValidationError.self) { try OperationsFile.read(try temporaryFile(Data([0xFF, 0xFE, 0x00]))) }
        #expect(binary?.message.contains("not UTF-8") == true)
    }

    @Test func aRunWithMoreOperationsThanATransactionMayHoldIsRefusedBeforeConnecting() throws {
        let text = String(repeating: "w1:k+=1\n", count: 100_001)
        let path = try temporaryFile(Data(text.utf8))
        let error = #expect(throws: (any Error).self) { try TransactionRunCommand.parse(["--operations-file", path]) }
        let message = error.map { TransactionRunCommand.message(for: $0) } ?? ""
        #expect(message.contains("at most 100000 operations (100001 given)"), "\(message)")
    }

    private func temporaryFile(_ data: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-ops-\(UUID().uuidString)").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }
}
