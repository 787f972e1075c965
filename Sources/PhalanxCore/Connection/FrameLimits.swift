/// The frame limits a node may be configured with (`limits.max_frame_bytes`) and may announce in
/// its Hello. The floor leaves room for every reply a peer must be able to receive (a status, an
/// error that replaces a result too large for it) besides the frame reserve around a payload.
public enum FrameLimits {
    public static let minimumBytes = 32 * 1024
    public static let maximumBytes = 256 * 1024 * 1024
    /// The limits accepted, in bytes.
    public static var accepted: ClosedRange<Int> { minimumBytes...maximumBytes }
}
