extension Phalanx_V1_TaskRef {
    /// A reference to attempt `attempt` of the task dispatched as `dispatchID`.
    public init(dispatchID: UInt64, attempt: UInt32) {
        self.init()
        self.dispatchID = dispatchID
        self.attempt = attempt
    }
}
