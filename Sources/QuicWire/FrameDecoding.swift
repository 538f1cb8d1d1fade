/// Decodes the frames of a decrypted packet payload one at a time (RFC 9000 §12.4, §19).
///
/// Every failure is a `WireError` whose code is the connection error the RFC assigns:
/// FRAME_ENCODING_ERROR for malformed or unknown frames, PROTOCOL_VIOLATION for frames the
/// packet type may not carry. Nothing is copied: data frames hold views into `payload`.
public struct FrameReader {
    @usableFromInline var reader: ByteReader
    public let packetType: PacketType

    @inlinable
    public init(payload: UnsafeRawBufferPointer, packetType: PacketType) {
        reader = ByteReader(payload)
        self.packetType = packetType
    }

    /// Offset of the next frame in the payload.
    @inlinable public var offset: Int { reader.offset }
    /// Whether every frame has been read.
    @inlinable public var isAtEnd: Bool { reader.isAtEnd }

    /// The next frame, or nil at the end of the payload.
    @inlinable
    public mutating func next() throws(WireError) -> Frame? {
        guard !reader.isAtEnd else { return nil }
        let typeStart = reader.offset
        let wireType = try reader.readVarIntValue()
        guard let type = FrameType(wireValue: wireType) else {
            throw WireError(.frameEncodingError, .unknownFrameType, frameType: wireType)
        }
        // §12.4: the frame type MUST use the shortest encoding; we reject longer ones.
        guard reader.offset - typeStart == VarInt.encodedLength(wireType) else {
            throw WireError(.protocolViolation, .nonMinimalFrameType, frameType: wireType)
        }
        guard type.isAllowed(in: packetType) else {
            throw WireError(.protocolViolation, .frameNotAllowedInPacketType, frameType: wireType)
        }
        do throws(WireError) {
            return try decodeBody(type: type, wireType: wireType)
        } catch {
            var error = error
            error.frameType = wireType
            throw error
        }
    }

    @inlinable
    mutating func decodeBody(type: FrameType, wireType: UInt64) throws(WireError) -> Frame {
        switch type {
        case .padding:
            var count = 1
            while !reader.isAtEnd, reader.bytes[reader.offset] == 0 {
                reader.offset += 1
                count += 1
            }
            return .padding(count: count)
        case .ping:
            return .ping
        case .ack, .ackECN:
            return .ack(try AckFrame.decodeBody(&reader, withECN: type == .ackECN))
        case .resetStream:
            return .resetStream(
                ResetStreamFrame(
                    streamID: StreamID(rawValue: try reader.readVarIntValue()),
                    applicationErrorCode: try reader.readVarIntValue(), finalSize: try reader.readVarIntValue()))
        case .stopSending:
            return .stopSending(
                StopSendingFrame(
                    streamID: StreamID(rawValue: try reader.readVarIntValue()),
                    applicationErrorCode: try reader.readVarIntValue()))
        case .crypto:
            let offset = try reader.readVarIntValue()
            let data = try readLengthPrefixed()
            guard offset + UInt64(data.count) <= VarInt.max.rawValue else {
                throw WireError(.frameEncodingError, .offsetTooLarge)
            }
            return .crypto(CryptoFrame(offset: offset, data: ByteView(data)))
        case .newToken:
            let token = try readLengthPrefixed()
            guard token.count > 0 else { throw WireError(.frameEncodingError, .emptyToken) }
            return .newToken(ByteView(token))
        case .stream:
            return .stream(try decodeStreamBody(wireType: wireType))
        case .maxData:
            return .maxData(try reader.readVarIntValue())
        case .maxStreamData:
            return .maxStreamData(
                MaxStreamDataFrame(
                    streamID: StreamID(rawValue: try reader.readVarIntValue()),
                    maximumStreamData: try reader.readVarIntValue()))
        case .maxStreamsBidi, .maxStreamsUni:
            let maximum = try reader.readVarIntValue()
            guard maximum <= 1 << 60 else { throw WireError(.frameEncodingError, .invalidValue) }
            return .maxStreams(
                MaxStreamsFrame(
                    direction: type == .maxStreamsBidi ? .bidirectional : .unidirectional, maximumStreams: maximum))
        case .dataBlocked:
            return .dataBlocked(try reader.readVarIntValue())
        case .streamDataBlocked:
            return .streamDataBlocked(
                StreamDataBlockedFrame(
                    streamID: StreamID(rawValue: try reader.readVarIntValue()),
                    maximumStreamData: try reader.readVarIntValue()))
        case .streamsBlockedBidi, .streamsBlockedUni:
            let maximum = try reader.readVarIntValue()
            guard maximum <= 1 << 60 else { throw WireError(.frameEncodingError, .invalidValue) }
            return .streamsBlocked(
                StreamsBlockedFrame(
                    direction: type == .streamsBlockedBidi ? .bidirectional : .unidirectional, maximumStreams: maximum))
        case .newConnectionID:
            let sequence = try reader.readVarIntValue()
            let retirePriorTo = try reader.readVarIntValue()
            let length = Int(try reader.readUInt8())
            guard (1...ConnectionID.maxLength).contains(length) else {
                throw WireError(.frameEncodingError, .invalidConnectionIDLength)
            }
            let id = try reader.readConnectionID(length: length)
            let token = try reader.readStatelessResetToken()
            guard retirePriorTo <= sequence else { throw WireError(.frameEncodingError, .invalidValue) }
            return .newConnectionID(
                NewConnectionIDFrame(
                    sequenceNumber: sequence, retirePriorTo: retirePriorTo, connectionID: id, statelessResetToken: token
                ))
        case .retireConnectionID:
            return .retireConnectionID(sequenceNumber: try reader.readVarIntValue())
        case .pathChallenge:
            return .pathChallenge(try reader.readUInt64())
        case .pathResponse:
            return .pathResponse(try reader.readUInt64())
        case .connectionCloseTransport, .connectionCloseApplication:
            let isApplication = type == .connectionCloseApplication
            let code = try reader.readVarIntValue()
            let frameType = isApplication ? 0 : try reader.readVarIntValue()
            let reason = try readLengthPrefixed()
            return .connectionClose(
                ConnectionCloseFrame(
                    isApplicationClose: isApplication, errorCode: code, frameType: frameType, reason: ByteView(reason)))
        case .handshakeDone:
            return .handshakeDone
        case .datagram:
            return .datagram(DatagramFrame(data: ByteView(reader.readRest()), hasExplicitLength: false))
        case .datagramWithLength:
            return .datagram(DatagramFrame(data: ByteView(try readLengthPrefixed()), hasExplicitLength: true))
        }
    }

    /// The next frame if it is a STREAM frame this packet type may carry, decoded without
    /// building a `Frame` (the receive loop's fast path for the frame that carries nearly all
    /// data); nil, having read nothing, for any other frame or at the end. Errors are those
    /// `next()` gives for the same bytes.
    @inlinable
    public mutating func nextStreamFrame() throws(WireError) -> StreamFrame? {
        guard reader.offset < reader.bytes.count else { return nil }
        let wireType = reader.bytes[reader.offset]
        // Types 0x08–0x0f in one byte, in 0-RTT or 1-RTT packets (§12.4 Table 3).
        guard wireType & 0xf8 == 0x08, packetType == .oneRTT || packetType == .zeroRTT else { return nil }
        reader.offset += 1
        do throws(WireError) {
            return try decodeStreamBody(wireType: UInt64(wireType))
        } catch {
            var error = error
            error.frameType = UInt64(wireType)
            throw error
        }
    }

    /// STREAM (§19.8) after its type: the OFF, LEN and FIN bits come from `wireType`.
    @inlinable
    mutating func decodeStreamBody(wireType: UInt64) throws(WireError) -> StreamFrame {
        let hasOffset = wireType & 0x04 != 0
        let hasLength = wireType & 0x02 != 0
        let fin = wireType & 0x01 != 0
        let id = StreamID(rawValue: try reader.readVarIntValue())
        let offset = hasOffset ? try reader.readVarIntValue() : 0
        let data = hasLength ? try readLengthPrefixed() : reader.readRest()
        guard offset + UInt64(data.count) <= VarInt.max.rawValue else {
            throw WireError(.frameEncodingError, .offsetTooLarge)
        }
        return StreamFrame(streamID: id, offset: offset, data: ByteView(data), fin: fin, hasExplicitLength: hasLength)
    }

    @inlinable
    mutating func readLengthPrefixed() throws(WireError) -> UnsafeRawBufferPointer {
        let length = try reader.readVarIntValue()
        guard length <= UInt64(reader.remaining) else { throw WireError(.frameEncodingError, .lengthPastEnd) }
        return try reader.readBytes(Int(length))
    }
}

extension FrameReader {
    /// Decodes every frame of `payload` into an array (allocates; for tests and diagnostics).
    /// A packet with no frames is a PROTOCOL_VIOLATION (§12.4).
    public static func decodeAll(_ payload: UnsafeRawBufferPointer, packetType: PacketType) throws(WireError)
        -> [Frame]
    {
        guard !payload.isEmpty else { throw WireError(.protocolViolation, .emptyPayload) }
        var reader = FrameReader(payload: payload, packetType: packetType)
        var frames: [Frame] = []
        while let frame = try reader.next() { frames.append(frame) }
        return frames
    }
}
