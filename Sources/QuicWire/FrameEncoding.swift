/// Frame encoders (RFC 9000 §19, RFC 9221 §4). Each frame states its encoded length so a packet
/// builder can check the fit before writing.
extension Frame {
    public var encodedLength: Int {
        switch self {
        case .padding(let count): return count
        case .ping, .handshakeDone: return 1
        case .ack(let frame):
            return AckFrame.encodedLength(ranges: frame.ranges, ackDelay: frame.ackDelay, ecnCounts: frame.ecnCounts)
        case .resetStream(let frame):
            return 1 + VarInt.encodedLength(frame.streamID.rawValue)
                + VarInt.encodedLength(frame.applicationErrorCode) + VarInt.encodedLength(frame.finalSize)
        case .stopSending(let frame):
            return 1 + VarInt.encodedLength(frame.streamID.rawValue) + VarInt.encodedLength(frame.applicationErrorCode)
        case .crypto(let frame):
            return CryptoFrame.headerLength(offset: frame.offset, dataLength: frame.data.count) + frame.data.count
        case .newToken(let token):
            return 1 + VarInt.encodedLength(UInt64(token.count)) + token.count
        case .stream(let frame):
            return StreamFrame.headerLength(
                streamID: frame.streamID, offset: frame.offset, dataLength: frame.data.count,
                explicitLength: frame.hasExplicitLength) + frame.data.count
        case .maxData(let value), .dataBlocked(let value):
            return 1 + VarInt.encodedLength(value)
        case .maxStreamData(let frame):
            return 1 + VarInt.encodedLength(frame.streamID.rawValue) + VarInt.encodedLength(frame.maximumStreamData)
        case .maxStreams(let frame):
            return 1 + VarInt.encodedLength(frame.maximumStreams)
        case .streamDataBlocked(let frame):
            return 1 + VarInt.encodedLength(frame.streamID.rawValue) + VarInt.encodedLength(frame.maximumStreamData)
        case .streamsBlocked(let frame):
            return 1 + VarInt.encodedLength(frame.maximumStreams)
        case .newConnectionID(let frame):
            return 1 + VarInt.encodedLength(frame.sequenceNumber) + VarInt.encodedLength(frame.retirePriorTo) + 1
                + frame.connectionID.length + 16
        case .retireConnectionID(let sequence):
            return 1 + VarInt.encodedLength(sequence)
        case .pathChallenge, .pathResponse:
            return 9
        case .connectionClose(let frame):
            return 1 + VarInt.encodedLength(frame.errorCode)
                + (frame.isApplicationClose ? 0 : VarInt.encodedLength(frame.frameType))
                + VarInt.encodedLength(UInt64(frame.reason.count)) + frame.reason.count
        case .datagram(let frame):
            return DatagramFrame.headerLength(dataLength: frame.data.count, explicitLength: frame.hasExplicitLength)
                + frame.data.count
        }
    }

    /// Writes the frame; the writer must have `encodedLength` bytes left.
    public func encode(into writer: inout ByteWriter) {
        switch self {
        case .padding(let count):
            writer.writeZeros(count)
        case .ping:
            writer.writeVarInt(FrameType.ping.rawValue)
        case .handshakeDone:
            writer.writeVarInt(FrameType.handshakeDone.rawValue)
        case .ack(let frame):
            AckFrame.encode(ranges: frame.ranges, ackDelay: frame.ackDelay, ecnCounts: frame.ecnCounts, into: &writer)
        case .resetStream(let frame):
            writer.writeVarInt(FrameType.resetStream.rawValue)
            writer.writeVarInt(frame.streamID.rawValue)
            writer.writeVarInt(frame.applicationErrorCode)
            writer.writeVarInt(frame.finalSize)
        case .stopSending(let frame):
            writer.writeVarInt(FrameType.stopSending.rawValue)
            writer.writeVarInt(frame.streamID.rawValue)
            writer.writeVarInt(frame.applicationErrorCode)
        case .crypto(let frame):
            CryptoFrame.encodeHeader(offset: frame.offset, dataLength: frame.data.count, into: &writer)
            writer.writeBytes(frame.data.bytes)
        case .newToken(let token):
            writer.writeVarInt(FrameType.newToken.rawValue)
            writer.writeVarInt(UInt64(token.count))
            writer.writeBytes(token.bytes)
        case .stream(let frame):
            StreamFrame.encodeHeader(
                streamID: frame.streamID, offset: frame.offset, dataLength: frame.data.count, fin: frame.fin,
                explicitLength: frame.hasExplicitLength, into: &writer)
            writer.writeBytes(frame.data.bytes)
        case .maxData(let value):
            writer.writeVarInt(FrameType.maxData.rawValue)
            writer.writeVarInt(value)
        case .dataBlocked(let value):
            writer.writeVarInt(FrameType.dataBlocked.rawValue)
            writer.writeVarInt(value)
        case .maxStreamData(let frame):
            writer.writeVarInt(FrameType.maxStreamData.rawValue)
            writer.writeVarInt(frame.streamID.rawValue)
            writer.writeVarInt(frame.maximumStreamData)
        case .maxStreams(let frame):
            writer.writeVarInt(
                (frame.direction == .bidirectional ? FrameType.maxStreamsBidi : FrameType.maxStreamsUni).rawValue)
            writer.writeVarInt(frame.maximumStreams)
        case .streamDataBlocked(let frame):
            writer.writeVarInt(FrameType.streamDataBlocked.rawValue)
            writer.writeVarInt(frame.streamID.rawValue)
            writer.writeVarInt(frame.maximumStreamData)
        case .streamsBlocked(let frame):
            writer.writeVarInt(
                (frame.direction == .bidirectional ? FrameType.streamsBlockedBidi : FrameType.streamsBlockedUni)
                    .rawValue)
            writer.writeVarInt(frame.maximumStreams)
        case .newConnectionID(let frame):
            writer.writeVarInt(FrameType.newConnectionID.rawValue)
            writer.writeVarInt(frame.sequenceNumber)
            writer.writeVarInt(frame.retirePriorTo)
            writer.writeConnectionIDWithLength(frame.connectionID)
            writer.writeStatelessResetToken(frame.statelessResetToken)
        case .retireConnectionID(let sequence):
            writer.writeVarInt(FrameType.retireConnectionID.rawValue)
            writer.writeVarInt(sequence)
        case .pathChallenge(let data):
            writer.writeVarInt(FrameType.pathChallenge.rawValue)
            writer.writeUInt64(data)
        case .pathResponse(let data):
            writer.writeVarInt(FrameType.pathResponse.rawValue)
            writer.writeUInt64(data)
        case .connectionClose(let frame):
            writer.writeVarInt(
                (frame.isApplicationClose ? FrameType.connectionCloseApplication : .connectionCloseTransport).rawValue)
            writer.writeVarInt(frame.errorCode)
            if !frame.isApplicationClose { writer.writeVarInt(frame.frameType) }
            writer.writeVarInt(UInt64(frame.reason.count))
            writer.writeBytes(frame.reason.bytes)
        case .datagram(let frame):
            DatagramFrame.encodeHeader(dataLength: frame.data.count, explicitLength: frame.hasExplicitLength, into: &writer)
            writer.writeBytes(frame.data.bytes)
        }
    }
}

extension StreamFrame {
    /// Bytes of a STREAM frame's type, ID, offset (omitted when 0) and optional length.
    @inlinable
    public static func headerLength(streamID: StreamID, offset: UInt64, dataLength: Int, explicitLength: Bool) -> Int {
        1 + VarInt.encodedLength(streamID.rawValue) + (offset == 0 ? 0 : VarInt.encodedLength(offset))
            + (explicitLength ? VarInt.encodedLength(UInt64(dataLength)) : 0)
    }

    /// Writes a STREAM frame's header; the caller copies the data right after it, straight from
    /// the stream's send buffer into the packet.
    @inlinable
    public static func encodeHeader(
        streamID: StreamID, offset: UInt64, dataLength: Int, fin: Bool, explicitLength: Bool,
        into writer: inout ByteWriter
    ) {
        var type = FrameType.stream.rawValue
        if offset != 0 { type |= 0x04 }
        if explicitLength { type |= 0x02 }
        if fin { type |= 0x01 }
        writer.writeVarInt(type)
        writer.writeVarInt(streamID.rawValue)
        if offset != 0 { writer.writeVarInt(offset) }
        if explicitLength { writer.writeVarInt(UInt64(dataLength)) }
    }
}

extension CryptoFrame {
    @inlinable
    public static func headerLength(offset: UInt64, dataLength: Int) -> Int {
        1 + VarInt.encodedLength(offset) + VarInt.encodedLength(UInt64(dataLength))
    }

    @inlinable
    public static func encodeHeader(offset: UInt64, dataLength: Int, into writer: inout ByteWriter) {
        writer.writeVarInt(FrameType.crypto.rawValue)
        writer.writeVarInt(offset)
        writer.writeVarInt(UInt64(dataLength))
    }
}

extension DatagramFrame {
    @inlinable
    public static func headerLength(dataLength: Int, explicitLength: Bool) -> Int {
        1 + (explicitLength ? VarInt.encodedLength(UInt64(dataLength)) : 0)
    }

    @inlinable
    public static func encodeHeader(dataLength: Int, explicitLength: Bool, into writer: inout ByteWriter) {
        writer.writeVarInt((explicitLength ? FrameType.datagramWithLength : FrameType.datagram).rawValue)
        if explicitLength { writer.writeVarInt(UInt64(dataLength)) }
    }
}
