import QuicHTTP3
import QuicWire

/// SplitMix64: a small seeded generator so random tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// Bytes from hex text; spaces are ignored ("0000 510b" as the RFCs print it).
func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd number of hex digits")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0..<($0 + 2)]), radix: 16)! }
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// An event with DATA ranges replaced by the bytes they name, so tests can compare events after
/// the input buffer is gone. Adjacent data for one stream is merged.
enum Seen: Hashable {
    case settings(HTTP3Settings)
    case request(StreamID, [HTTPField])
    case response(StreamID, [HTTPField])
    case data(StreamID, [UInt8])
    case trailers(StreamID, [HTTPField])
    case end(StreamID)
    case goaway(UInt64)
    case reset(StreamID, UInt64)
    case streamError(StreamID, HTTP3ErrorCode)
    case stopReading(StreamID, HTTP3ErrorCode)
}

extension StreamID {
    static func clientBidi(_ index: UInt64) -> StreamID {
        StreamID(index: index, initiator: .client, direction: .bidirectional)
    }
    static func clientUni(_ index: UInt64) -> StreamID {
        StreamID(index: index, initiator: .client, direction: .unidirectional)
    }
    static func serverUni(_ index: UInt64) -> StreamID {
        StreamID(index: index, initiator: .server, direction: .unidirectional)
    }
    static func serverBidi(_ index: UInt64) -> StreamID {
        StreamID(index: index, initiator: .server, direction: .bidirectional)
    }
}

/// Feeds `bytes` to `connection` in chunks whose sizes `chunk` picks (1 ... remaining), with `fin`
/// on the last call, and returns what it saw.
func feed(
    _ connection: inout HTTP3Connection, _ stream: StreamID, _ bytes: [UInt8], fin: Bool = false,
    chunk: (Int) -> Int = { $0 }
) throws(HTTP3Error) -> [Seen] {
    var seen: [Seen] = []
    var offset = 0
    repeat {
        let count = max(0, min(bytes.count - offset, chunk(bytes.count - offset)))
        let slice = Array(bytes[offset..<(offset + count)])
        offset += count
        let last = offset == bytes.count
        var events: [HTTP3Event] = []
        try withBytes(slice) { (raw) throws(HTTP3Error) in
            try connection.handleStreamData(stream, raw, fin: fin && last, into: &events)
        }
        for event in events { append(event, from: slice, to: &seen) }
    } while offset < bytes.count
    return seen
}

func append(_ event: HTTP3Event, from input: [UInt8], to seen: inout [Seen]) {
    switch event {
    case .settings(let settings): seen.append(.settings(settings))
    case .request(let stream, let fields): seen.append(.request(stream, fields))
    case .response(let stream, let fields): seen.append(.response(stream, fields))
    case .data(let stream, let range):
        if case .data(let last, var bytes)? = seen.last, last == stream {
            seen.removeLast()
            bytes.append(contentsOf: input[range])
            seen.append(.data(stream, bytes))
        } else {
            seen.append(.data(stream, Array(input[range])))
        }
    case .trailers(let stream, let fields): seen.append(.trailers(stream, fields))
    case .end(let stream): seen.append(.end(stream))
    case .goaway(let id): seen.append(.goaway(id))
    case .reset(let stream, let code): seen.append(.reset(stream, code))
    case .streamError(let error): seen.append(.streamError(error.stream!, error.code))
    case .stopReading(let stream, let code): seen.append(.stopReading(stream, code))
    }
}

func withBytes<R, E: Error>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    let result = array.withUnsafeBytes { raw in Result { () throws(E) -> R in try body(raw) } }
    return try result.get()
}

/// The error `body` throws, or nil.
func connectionError(_ body: () throws(HTTP3Error) -> Void) -> HTTP3Error? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

/// The control stream of a peer: type 0x00 and an empty SETTINGS frame, plus `frames`.
func peerControlStream(_ frames: [UInt8] = []) -> [UInt8] { [0x00, 0x04, 0x00] + frames }

/// A HEADERS frame for `fields`.
func headersFrame(_ fields: [HTTPField]) -> [UInt8] {
    let section = QPACKEncoder.encode(fields)
    return HTTP3Frame.headers(section).encoded
}

func dataFrame(_ bytes: [UInt8]) -> [UInt8] { HTTP3Frame.data(bytes).encoded }

let getRequest = [
    HTTPField(":method", "GET"), HTTPField(":scheme", "https"), HTTPField(":authority", "example.com"),
    HTTPField(":path", "/"),
]
