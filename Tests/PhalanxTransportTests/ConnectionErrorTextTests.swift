import NIOCore
import PhalanxTransport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A reset connection is described in words, without NIO's stray parenthesis.
@Suite struct ConnectionErrorTextTests {
    @Test func anIOErrorSaysWhatHappenedItsErrnoAndTheCall() {
        let text = ConnectionErrorText.describe(IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)"))
        #expect(text == "connection reset by peer (errno \(ECONNRESET), in read)", "\(text)")
    }

    @Test func anyOtherErrorIsItsOwnDescription() {
        struct Odd: Error, CustomStringConvertible { var description: String { "odd" } }
        #expect(ConnectionErrorText.describe(Odd()) == "odd")
    }
}
