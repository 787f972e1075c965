#if canImport(Glibc)
import Glibc
#endif

/// Gives the memory an audit freed back to the system. An online audit holds every snapshot and
/// the whole decision log for a moment (hundreds of MB with a long history); glibc keeps what was
/// freed in its arenas, so without this the coordinator's RSS stays at the audit's peak.
enum FreedMemory {
    static func returnToSystem() {
        #if canImport(Glibc)
        // malloc_trim is glibc's (malloc.h, not in Swift's Glibc module): looked up by name.
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
        #endif
    }
}
