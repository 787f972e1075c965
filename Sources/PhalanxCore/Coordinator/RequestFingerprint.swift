/// What a task asks for, as a number: FNV-1a (64 bits) over its kind and payload. Stable across
/// processes and restarts (unlike `Hasher`), so that a coordinator can tell, also after a
/// restart, whether a reused idempotency key comes with the same request.
public enum RequestFingerprint {
    public static func of(kind: String, payload: some Collection<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        for byte in kind.utf8 { mix(byte) }
        mix(0)  // kind "ab" + payload "c" differs from kind "a" + payload "bc"
        for byte in payload { mix(byte) }
        return hash
    }
}
