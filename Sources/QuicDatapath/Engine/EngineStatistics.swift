/// What an engine did, for benchmarks and `quicxdp echo`.
public struct EngineStatistics: Sendable {
    public var turns: UInt64 = 0
    public var received: UInt64 = 0
    public var transmitted: UInt64 = 0
    /// Times the engine went from busy-polling to a blocking poll(2).
    public var sleeps: UInt64 = 0
    public init() {}
}
