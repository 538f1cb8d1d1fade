/// Splits the bytes of one stream into HTTP/3 frames (RFC 9114 §7.1) as they arrive, in chunks
/// of any size down to one byte. After each frame header the owner decides what happens to the
/// payload: streamed as ranges of the input (DATA: never copied here), gathered into one buffer
/// (HEADERS, SETTINGS, ...: the owner bounds the length first), or skipped (unknown types, §9).
public struct HTTP3FrameReader: Sendable {
    public enum Output: Hashable, Sendable {
        /// A frame header; call `readPayload(as:)` before calling `next` again.
        case header(type: UInt64, length: UInt64)
        /// Part of a streamed payload: offsets into the input given to this `next` call.
        case payloadChunk(Range<Int>)
        /// A gathered payload, complete.
        case payload(type: UInt64, bytes: [UInt8])
    }

    public enum PayloadMode: Sendable {
        case stream, gather, skip
    }

    enum State: Sendable {
        case header
        case awaitingMode(type: UInt64, length: UInt64)
        case stream(remaining: UInt64)
        case gather(type: UInt64, remaining: Int, bytes: [UInt8])
        case skip(remaining: UInt64)
    }

    var state: State = .header
    /// Header bytes received so far when a header is split across inputs.
    var pending = VarIntPairAccumulator()

    public init() {}

    /// True between frames: a stream may end cleanly here and nowhere else (§7.1).
    public var isAtFrameBoundary: Bool {
        if case .header = state { return pending.isEmpty }
        return false
    }

    /// Chooses what to do with the payload of the frame whose header `next` just returned.
    /// `gather` is for payloads the owner has already bounded.
    public mutating func readPayload(as mode: PayloadMode) {
        guard case .awaitingMode(let type, let length) = state else {
            preconditionFailure("readPayload(as:) must follow a .header output")
        }
        switch mode {
        case .stream: state = .stream(remaining: length)
        case .skip: state = .skip(remaining: length)
        case .gather:
            precondition(length <= UInt64(Int.max), "gathered payload length must be bounded by the caller")
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Int(length))
            state = .gather(type: type, remaining: Int(length), bytes: bytes)
        }
    }

    /// The next thing found in `input` from `offset` on, which moves past what was consumed; nil
    /// when `input` is used up. A zero-length payload completes without needing more input.
    public mutating func next(_ input: UnsafeRawBufferPointer, offset: inout Int) -> Output? {
        while true {
            switch state {
            case .header:
                while offset < input.count, !pending.isComplete {
                    pending.append(input[offset])
                    offset += 1
                }
                guard pending.isComplete else { return nil }
                let (type, length) = pending.values
                pending = VarIntPairAccumulator()
                state = .awaitingMode(type: type, length: length)
                return .header(type: type, length: length)

            case .awaitingMode:
                preconditionFailure("call readPayload(as:) after a .header output")

            case .stream(let remaining):
                if remaining == 0 {
                    state = .header
                    continue
                }
                guard offset < input.count else { return nil }
                let take = Int(min(remaining, UInt64(input.count - offset)))
                state = .stream(remaining: remaining - UInt64(take))
                defer { offset += take }
                return .payloadChunk(offset..<(offset + take))

            case .skip(let remaining):
                if remaining == 0 {
                    state = .header
                    continue
                }
                guard offset < input.count else { return nil }
                let take = Int(min(remaining, UInt64(input.count - offset)))
                state = .skip(remaining: remaining - UInt64(take))
                offset += take

            case .gather(let type, let remaining, var bytes):
                if remaining == 0 {
                    state = .header
                    return .payload(type: type, bytes: bytes)
                }
                guard offset < input.count else { return nil }
                let take = min(remaining, input.count - offset)
                // Release the array from `state` before appending so it is not copied.
                state = .header
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[offset..<(offset + take)]))
                offset += take
                state = .gather(type: type, remaining: remaining - take, bytes: bytes)
            }
        }
    }
}

/// Gathers two QUIC varints (RFC 9000 §16) one byte at a time: a frame's Type and Length.
struct VarIntPairAccumulator: Sendable {
    private var bytes: (UInt64, UInt64) = (0, 0)
    private var firstLength = 0
    private var secondLength = 0
    private var count = 0

    var isEmpty: Bool { count == 0 }
    var isComplete: Bool { secondLength > 0 && count == firstLength + secondLength }

    mutating func append(_ byte: UInt8) {
        if count == 0 {
            firstLength = 1 << Int(byte >> 6)
            bytes.0 = UInt64(byte & 0x3f)
        } else if count < firstLength {
            bytes.0 = bytes.0 << 8 | UInt64(byte)
        } else if count == firstLength {
            secondLength = 1 << Int(byte >> 6)
            bytes.1 = UInt64(byte & 0x3f)
        } else {
            bytes.1 = bytes.1 << 8 | UInt64(byte)
        }
        count += 1
    }

    var values: (UInt64, UInt64) { bytes }
}

/// Gathers one QUIC varint one byte at a time (a unidirectional stream's type, §6.2).
struct VarIntAccumulator: Sendable {
    private var value: UInt64 = 0
    private var length = 0
    private var count = 0

    var isEmpty: Bool { count == 0 }
    var isComplete: Bool { length > 0 && count == length }

    mutating func append(_ byte: UInt8) {
        if count == 0 {
            length = 1 << Int(byte >> 6)
            value = UInt64(byte & 0x3f)
        } else {
            value = value << 8 | UInt64(byte)
        }
        count += 1
    }

    var result: UInt64 { value }
}
