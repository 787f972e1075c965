import NIOCore
import SwiftProtobuf

extension Phalanx_V1_Envelope {
    /// Decodes a frame body; the error says why the bytes are not an Envelope with a body.
    public static func decode(frame: ByteBuffer) throws(FrameError) -> Phalanx_V1_Envelope {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = 32
        let envelope: Phalanx_V1_Envelope
        do {
            envelope = try frame.withUnsafeReadableBytes { bytes in
                try Phalanx_V1_Envelope(serializedBytes: Array(bytes), options: options)
            }
        } catch {
            throw .undecodable(String(describing: error))
        }
        guard envelope.body != nil else { throw .undecodable("the Envelope has no body (unknown or missing message)") }
        return envelope
    }
}
