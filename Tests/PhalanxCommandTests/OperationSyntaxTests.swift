import ArgumentParser
import PhalanxCore
import Testing

@testable import phalanx

/// Slips in `NODE:KEY…` are refused with what to write instead, never stored as something else.
@Suite struct OperationSyntaxTests {
    func problem(_ text: String, notBelow: Int64? = nil) -> String? {
        do {
            _ = try OperationSyntax.parse(text, notBelow: notBelow)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func theUsualFormsParse() throws {
        #expect(try OperationSyntax.parse("w1:alice=100", notBelow: 0).operation == .put(key: "alice", value: .integer(100), lowerBound: 0))
        #expect(try OperationSyntax.parse("w1:note=hello world", notBelow: nil).operation == .put(key: "note", value: .bytes(Array("hello world".utf8))))
        #expect(try OperationSyntax.parse("w2:bob-=5", notBelow: 0).operation == .add(key: "bob", amount: -5, lowerBound: 0))
        #expect(try OperationSyntax.parse("w2:my-key", notBelow: nil).operation == .get(key: "my-key"))
    }

    @Test func aDoubleEqualsIsNotStoredAsTextStartingWithEquals() {
        #expect(problem("w1:k==5")?.contains("'==' is not an operation; a put is NODE:KEY=VALUE (e.g. w1:k=5)") == true, "\(problem("w1:k==5") ?? "accepted")")
    }

    @Test func spacesOrControlCharactersAtTheEndsOfANameOrKeyAreRefused() {
        for text in ["w1: k=1", "w1:k =1", " w1:k=1", "w1:k\n", "w1:~ k", "w1 :k+=1"] {
            #expect(problem(text)?.contains("starts or ends with a space or control character") == true, "\(text): \(problem(text) ?? "accepted")")
        }
        #expect(problem("w1:a key=1") == nil, "a space inside a key is the user's choice")
    }

    @Test func aNumberWithSpacesAroundItIsRefusedRatherThanStoredAsText() throws {
        for text in ["w1:k= 5", "w1:k=5 ", "w1:k=\t-5"] {
            #expect(problem(text)?.contains("is a number with spaces around it, which would be stored as text; write w1:k=") == true, "\(text): \(problem(text) ?? "accepted")")
        }
        #expect(problem("w1:k= five") == nil, "text with a space is the user's choice")
        #expect(try OperationSyntax.parse("w1:k=0x10", notBelow: nil).operation == .put(key: "k", value: .bytes(Array("0x10".utf8))), "only decimal integers are numbers; other notations are text")
    }

    @Test func aBoundOnATextPutIsRefusedNotIgnored() {
        #expect(problem("w1:k=abc", notBelow: 0)?.contains("--not-below 0 bounds integers only") == true)
        #expect(problem("w1:k=abc") == nil)
    }
}
