#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Why an established connection failed, in words: NIO's `IOError` description reads
/// "read(descriptor:pointer:size:): Connection reset by peer) (errno: 104)", with a stray
/// parenthesis and the system call first; this says "connection reset by peer (errno 104, in read)".
public enum ConnectionErrorText {
    public static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            let reason = String(cString: strerror(io.errnoCode))
            let call = String(describing: io).split(separator: "(", maxSplits: 1).first.map(String.init) ?? ""
            return "\(reason.prefix(1).lowercased() + reason.dropFirst()) (errno \(io.errnoCode)\(call.isEmpty ? "" : ", in \(call)"))"
        }
        return TLSFailureReason.describeAfterHandshake(error) ?? "\(error)"
    }
}
