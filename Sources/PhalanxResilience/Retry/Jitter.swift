/// How a retry delay is randomized so that many callers do not retry in lockstep.
public enum Jitter: String, Sendable, Hashable, CaseIterable {
    /// The exponential delay as computed.
    case none
    /// Uniform in [0, delay].
    case full
    /// Half the delay plus uniform in [0, delay / 2].
    case equal
    /// Uniform in [initial, 3 × previous delay], capped at the maximum (AWS's decorrelated jitter).
    case decorrelated
}
