/// 64-bit words as lower-case hex, 16 digits each, written straight into a string's storage: ids
/// are made for every task and transaction, and building them from `String(_:radix:)` pieces took
/// a few percent of a client's CPU.
public enum LowerHex {
    /// `first` (and `second`) as 16 digits each.
    public static func string(_ first: UInt64, _ second: UInt64? = nil) -> String {
        let count = second == nil ? 16 : 32
        return String(unsafeUninitializedCapacity: count) { buffer in
            write(first, into: buffer, at: 0)
            if let second { write(second, into: buffer, at: 16) }
            return count
        }
    }

    private static func write(_ word: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        for index in 0..<16 {
            let nibble = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * index)) & 0xF
            buffer[offset + index] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
        }
    }
}
