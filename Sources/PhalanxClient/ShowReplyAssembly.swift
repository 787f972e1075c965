import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxWire

/// Puts together a `TxShowReply` the coordinator sent in parts (a history larger than this
/// client's frames), bounded in bytes so a coordinator that never ends one cannot grow memory.
struct ShowReplyAssembly {
    /// The most bytes of one history put together.
    let maximumBytes: Int
    private var partial: [UInt64: Phalanx_V1_TxShowReply] = [:]
    private var refused: Set<UInt64> = []

    init(maximumBytes: Int = 64 * 1024 * 1024) {
        self.maximumBytes = maximumBytes
    }

    /// The whole reply once its last part is in (nil until then, and for the parts of a reply
    /// that was refused as too large, whose last part comes back as an error).
    mutating func add(_ part: Phalanx_V1_TxShowReply) -> Phalanx_V1_TxShowReply? {
        let id = part.requestID
        if refused.contains(id) {
            if !part.more { refused.remove(id) }
            return nil
        }
        var whole = part
        if var earlier = partial.removeValue(forKey: id) {
            earlier.entryJson.append(part.entryJson)
            earlier.sagaJson.append(part.sagaJson)
            whole = earlier
        }
        if whole.entryJson.count + whole.sagaJson.count > maximumBytes {
            if part.more { refused.insert(id) }
            var error = Phalanx_V1_TxShowReply()
            error.requestID = id
            error.error = ErrorContext(
                code: .internal, message: "the history is larger than \(maximumBytes) bytes, more than this client puts together").wire
            return error
        }
        guard part.more else {
            whole.more = false
            return whole
        }
        partial[id] = whole
        return nil
    }
}
