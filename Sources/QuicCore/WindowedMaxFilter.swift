/// A windowed running maximum over a virtual clock, kept in three samples: Kathleen Nichols'
/// algorithm as Linux implements it (lib/win_minmax.c), which draft-ietf-ccwg-bbr-06 §5.5.5
/// points to. BBR uses it for extra_acked over packet-timed rounds (§5.5.9).
public struct WindowedMaxFilter: Sendable {
    struct Sample: Sendable {
        var time: UInt64
        var value: Int
    }
    var samples = (Sample(time: 0, value: 0), Sample(time: 0, value: 0), Sample(time: 0, value: 0))

    public init() {}

    /// The current maximum.
    public var value: Int { samples.0.value }

    /// Starts over from one sample.
    public mutating func reset(value: Int, time: UInt64) {
        let sample = Sample(time: time, value: value)
        samples = (sample, sample, sample)
    }

    /// Adds `value` measured at `time` and returns the maximum over the last `window` time units.
    @discardableResult
    public mutating func update(value: Int, time: UInt64, window: UInt64) -> Int {
        let sample = Sample(time: time, value: value)
        if value >= samples.0.value || time &- samples.2.time > window {
            reset(value: value, time: time)
            return value
        }
        if value >= samples.1.value {
            samples.1 = sample
            samples.2 = sample
        } else if value >= samples.2.value {
            samples.2 = sample
        }
        // Age out the best samples when they leave the window (minmax_subwin_update).
        let elapsed = time &- samples.0.time
        if elapsed > window {
            samples.0 = samples.1
            samples.1 = samples.2
            samples.2 = sample
            if time &- samples.0.time > window {
                samples.0 = samples.1
                samples.1 = samples.2
                samples.2 = sample
            }
        } else if samples.1.time == samples.0.time && elapsed > window / 4 {
            samples.1 = sample
            samples.2 = sample
        } else if samples.2.time == samples.1.time && elapsed > window / 2 {
            samples.2 = sample
        }
        return samples.0.value
    }
}
