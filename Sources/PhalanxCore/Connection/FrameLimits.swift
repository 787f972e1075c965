/// The frame limits a node may be configured with (`limits.max_frame_bytes`) and may announce in
/// its Hello. The floor leaves room for the frame reserve around a payload and for the error that
/// replaces a result too large for the peer. (A status reply is not cut to it: a cluster whose
/// workers register thousands of kinds can answer one larger than the floor.)
public enum FrameLimits {
    public static let minimumBytes = 32 * 1024
    public static let maximumBytes = 256 * 1024 * 1024
    /// The limits accepted, in bytes.
    public static var accepted: ClosedRange<Int> { minimumBytes...maximumBytes }
}
