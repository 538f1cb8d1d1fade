/// A QUIC frame (RFC 9000 §19, RFC 9221 §4). Data-carrying frames hold views into the packet.
public enum Frame: Equatable {
    /// One or more consecutive PADDING bytes (§19.1).
    case padding(count: Int)
    case ping
    case ack(AckFrame)
    case resetStream(ResetStreamFrame)
    case stopSending(StopSendingFrame)
    case crypto(CryptoFrame)
    /// NEW_TOKEN (§19.7); the token is never empty.
    case newToken(ByteView)
    case stream(StreamFrame)
    case maxData(UInt64)
    case maxStreamData(MaxStreamDataFrame)
    case maxStreams(MaxStreamsFrame)
    case dataBlocked(UInt64)
    case streamDataBlocked(StreamDataBlockedFrame)
    case streamsBlocked(StreamsBlockedFrame)
    case newConnectionID(NewConnectionIDFrame)
    case retireConnectionID(sequenceNumber: UInt64)
    /// PATH_CHALLENGE's 8 bytes of data (§19.17).
    case pathChallenge(UInt64)
    case pathResponse(UInt64)
    case connectionClose(ConnectionCloseFrame)
    case handshakeDone
    case datagram(DatagramFrame)

    /// The frame's base type.
    public var type: FrameType {
        switch self {
        case .padding: return .padding
        case .ping: return .ping
        case .ack(let ack): return ack.ecnCounts == nil ? .ack : .ackECN
        case .resetStream: return .resetStream
        case .stopSending: return .stopSending
        case .crypto: return .crypto
        case .newToken: return .newToken
        case .stream: return .stream
        case .maxData: return .maxData
        case .maxStreamData: return .maxStreamData
        case .maxStreams(let frame): return frame.direction == .bidirectional ? .maxStreamsBidi : .maxStreamsUni
        case .dataBlocked: return .dataBlocked
        case .streamDataBlocked: return .streamDataBlocked
        case .streamsBlocked(let frame):
            return frame.direction == .bidirectional ? .streamsBlockedBidi : .streamsBlockedUni
        case .newConnectionID: return .newConnectionID
        case .retireConnectionID: return .retireConnectionID
        case .pathChallenge: return .pathChallenge
        case .pathResponse: return .pathResponse
        case .connectionClose(let frame):
            return frame.isApplicationClose ? .connectionCloseApplication : .connectionCloseTransport
        case .handshakeDone: return .handshakeDone
        case .datagram(let frame): return frame.hasExplicitLength ? .datagramWithLength : .datagram
        }
    }
}

/// ECN counts carried by an ACK frame of type 0x03 (§19.3.2).
@frozen
public struct ECNCounts: Hashable, Sendable {
    public var ect0: UInt64
    public var ect1: UInt64
    public var ce: UInt64
    @inlinable public init(ect0: UInt64 = 0, ect1: UInt64 = 0, ce: UInt64 = 0) {
        self.ect0 = ect0
        self.ect1 = ect1
        self.ce = ce
    }
}

/// RESET_STREAM (§19.4).
public struct ResetStreamFrame: Hashable, Sendable {
    public var streamID: StreamID
    public var applicationErrorCode: UInt64
    public var finalSize: UInt64
    public init(streamID: StreamID, applicationErrorCode: UInt64, finalSize: UInt64) {
        self.streamID = streamID
        self.applicationErrorCode = applicationErrorCode
        self.finalSize = finalSize
    }
}

/// STOP_SENDING (§19.5).
public struct StopSendingFrame: Hashable, Sendable {
    public var streamID: StreamID
    public var applicationErrorCode: UInt64
    public init(streamID: StreamID, applicationErrorCode: UInt64) {
        self.streamID = streamID
        self.applicationErrorCode = applicationErrorCode
    }
}

/// CRYPTO (§19.6).
public struct CryptoFrame: Equatable {
    public var offset: UInt64
    public var data: ByteView
    public init(offset: UInt64, data: ByteView) {
        self.offset = offset
        self.data = data
    }
}

/// STREAM (§19.8).
public struct StreamFrame: Equatable {
    public var streamID: StreamID
    public var offset: UInt64
    public var data: ByteView
    public var fin: Bool
    /// Whether the frame carries a Length field (LEN bit); without one it runs to the packet's end.
    public var hasExplicitLength: Bool
    public init(streamID: StreamID, offset: UInt64, data: ByteView, fin: Bool, hasExplicitLength: Bool = true) {
        self.streamID = streamID
        self.offset = offset
        self.data = data
        self.fin = fin
        self.hasExplicitLength = hasExplicitLength
    }
}

/// MAX_STREAM_DATA (§19.10).
public struct MaxStreamDataFrame: Hashable, Sendable {
    public var streamID: StreamID
    public var maximumStreamData: UInt64
    public init(streamID: StreamID, maximumStreamData: UInt64) {
        self.streamID = streamID
        self.maximumStreamData = maximumStreamData
    }
}

/// MAX_STREAMS (§19.11).
public struct MaxStreamsFrame: Hashable, Sendable {
    public var direction: StreamDirection
    public var maximumStreams: UInt64
    public init(direction: StreamDirection, maximumStreams: UInt64) {
        self.direction = direction
        self.maximumStreams = maximumStreams
    }
}

/// STREAM_DATA_BLOCKED (§19.13).
public struct StreamDataBlockedFrame: Hashable, Sendable {
    public var streamID: StreamID
    public var maximumStreamData: UInt64
    public init(streamID: StreamID, maximumStreamData: UInt64) {
        self.streamID = streamID
        self.maximumStreamData = maximumStreamData
    }
}

/// STREAMS_BLOCKED (§19.14).
public struct StreamsBlockedFrame: Hashable, Sendable {
    public var direction: StreamDirection
    public var maximumStreams: UInt64
    public init(direction: StreamDirection, maximumStreams: UInt64) {
        self.direction = direction
        self.maximumStreams = maximumStreams
    }
}

/// NEW_CONNECTION_ID (§19.15).
public struct NewConnectionIDFrame: Hashable, Sendable {
    public var sequenceNumber: UInt64
    public var retirePriorTo: UInt64
    public var connectionID: ConnectionID
    public var statelessResetToken: StatelessResetToken
    public init(
        sequenceNumber: UInt64, retirePriorTo: UInt64, connectionID: ConnectionID,
        statelessResetToken: StatelessResetToken
    ) {
        self.sequenceNumber = sequenceNumber
        self.retirePriorTo = retirePriorTo
        self.connectionID = connectionID
        self.statelessResetToken = statelessResetToken
    }
}

/// CONNECTION_CLOSE (§19.19): type 0x1c for transport errors, 0x1d for application errors.
public struct ConnectionCloseFrame: Equatable {
    public var isApplicationClose: Bool
    public var errorCode: UInt64
    /// The frame type that caused a transport error (0 when unknown); absent in 0x1d.
    public var frameType: UInt64
    public var reason: ByteView

    public init(isApplicationClose: Bool, errorCode: UInt64, frameType: UInt64 = 0, reason: ByteView = .empty) {
        self.isApplicationClose = isApplicationClose
        self.errorCode = errorCode
        self.frameType = frameType
        self.reason = reason
    }
}

/// DATAGRAM (RFC 9221 §4).
public struct DatagramFrame: Equatable {
    public var data: ByteView
    public var hasExplicitLength: Bool
    public init(data: ByteView, hasExplicitLength: Bool = true) {
        self.data = data
        self.hasExplicitLength = hasExplicitLength
    }
}
