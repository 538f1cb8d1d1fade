import QuicWire

/// Receives qlog events (draft-ietf-quic-qlog-quic-events-13) from a connection. The core calls
/// it only when set, so an unset sink costs nothing on the packet path.
public protocol QlogSink: AnyObject, Sendable {
    /// One event, as a JSON object text without the record separator.
    func record(_ json: String)
}

/// Builds the JSON of qlog events: the JSON-SEQ header record (main schema §5) and the
/// quic:packet_sent, quic:packet_received, quic:packet_lost and quic:recovery_metrics_updated
/// events the core emits.
public enum QlogEvents {
    public static func header(vantagePoint: Role, groupID: ConnectionID, title: String = "QuicXDP") -> String {
        "{\"file_schema\":\"urn:ietf:params:qlog:file:sequential\",\"serialization_format\":\"application/qlog+json-seq\","
            + "\"title\":\"\(title)\",\"trace\":{\"common_fields\":{\"group_id\":\"\(groupID)\",\"time_format\":\"relative_to_epoch\","
            + "\"reference_time\":{\"clock_type\":\"monotonic\",\"epoch\":\"unknown\"}},"
            + "\"vantage_point\":{\"name\":\"quicxdp\",\"type\":\"\(vantagePoint == .client ? "client" : "server")\"},"
            + "\"event_schemas\":[\"urn:ietf:params:qlog:events:quic\"]}}"
    }

    static func milliseconds(_ time: Instant) -> String {
        let value = Double(time.nanoseconds) / 1e6
        return String(Double(Int64(value * 1000)) / 1000)
    }

    static func packetType(_ type: PacketType) -> String { type.description }

    static func frame(_ frame: SentFrame) -> String {
        switch frame {
        case .ack(let largest): return "{\"frame_type\":\"ack\",\"largest_acknowledged\":\(largest)}"
        case .crypto(let offset, let length): return "{\"frame_type\":\"crypto\",\"offset\":\(offset),\"length\":\(length)}"
        case .stream(let id, let offset, let length, let fin):
            return "{\"frame_type\":\"stream\",\"stream_id\":\(id.rawValue),\"offset\":\(offset),\"length\":\(length),\"fin\":\(fin)}"
        case .resetStream(let id): return "{\"frame_type\":\"reset_stream\",\"stream_id\":\(id.rawValue)}"
        case .stopSending(let id): return "{\"frame_type\":\"stop_sending\",\"stream_id\":\(id.rawValue)}"
        case .maxData: return "{\"frame_type\":\"max_data\"}"
        case .maxStreamData(let id): return "{\"frame_type\":\"max_stream_data\",\"stream_id\":\(id.rawValue)}"
        case .maxStreams(let direction):
            return "{\"frame_type\":\"max_streams\",\"stream_type\":\"\(direction == .bidirectional ? "bidirectional" : "unidirectional")\"}"
        case .dataBlocked: return "{\"frame_type\":\"data_blocked\"}"
        case .streamDataBlocked(let id): return "{\"frame_type\":\"stream_data_blocked\",\"stream_id\":\(id.rawValue)}"
        case .streamsBlocked: return "{\"frame_type\":\"streams_blocked\"}"
        case .newConnectionID(let sequence): return "{\"frame_type\":\"new_connection_id\",\"sequence_number\":\(sequence)}"
        case .retireConnectionID(let sequence): return "{\"frame_type\":\"retire_connection_id\",\"sequence_number\":\(sequence)}"
        case .handshakeDone: return "{\"frame_type\":\"handshake_done\"}"
        case .newToken: return "{\"frame_type\":\"new_token\"}"
        case .ping: return "{\"frame_type\":\"ping\"}"
        case .datagram: return "{\"frame_type\":\"datagram\"}"
        case .pathChallenge: return "{\"frame_type\":\"path_challenge\"}"
        case .pathResponse: return "{\"frame_type\":\"path_response\"}"
        case .connectionClose: return "{\"frame_type\":\"connection_close\"}"
        case .mtuProbe: return "{\"frame_type\":\"ping\"},{\"frame_type\":\"padding\"}"
        }
    }

    public static func packetSent(time: Instant, type: PacketType, number: UInt64, length: Int, frames: [SentFrame]) -> String {
        "{\"time\":\(milliseconds(time)),\"name\":\"quic:packet_sent\",\"data\":{\"header\":{\"packet_type\":\"\(packetType(type))\","
            + "\"packet_number\":\(number)},\"raw\":{\"length\":\(length)},\"frames\":[" + frames.map(frame).joined(separator: ",") + "]}}"
    }

    public static func packetReceived(time: Instant, type: PacketType, number: UInt64, length: Int, frameTypes: [String]) -> String {
        "{\"time\":\(milliseconds(time)),\"name\":\"quic:packet_received\",\"data\":{\"header\":{\"packet_type\":\"\(packetType(type))\","
            + "\"packet_number\":\(number)},\"raw\":{\"length\":\(length)},\"frames\":["
            + frameTypes.map { "{\"frame_type\":\"\($0)\"}" }.joined(separator: ",") + "]}}"
    }

    public static func packetLost(time: Instant, type: PacketType, number: UInt64, trigger: String) -> String {
        "{\"time\":\(milliseconds(time)),\"name\":\"quic:packet_lost\",\"data\":{\"header\":{\"packet_type\":\"\(packetType(type))\","
            + "\"packet_number\":\(number)},\"trigger\":\"\(trigger)\"}}"
    }

    /// quic:ecn_state_updated (draft-ietf-quic-qlog-quic-events-13 §7.6).
    public static func ecnStateUpdated(time: Instant, old: ECNValidation.State, new: ECNValidation.State) -> String {
        "{\"time\":\(milliseconds(time)),\"name\":\"quic:ecn_state_updated\",\"data\":{\"old\":\"\(old)\",\"new\":\"\(new)\"}}"
    }

    /// quic:connection_id_updated (§4.4): the peer's connection ID we send to changed.
    public static func connectionIDUpdated(time: Instant, initiator: String, old: ConnectionID, new: ConnectionID) -> String {
        "{\"time\":\(milliseconds(time)),\"name\":\"quic:connection_id_updated\",\"data\":{\"initiator\":\"\(initiator)\","
            + "\"old\":\"\(old)\",\"new\":\"\(new)\"}}"
    }

    /// TupleEndpointInfo (§8.5): "a.b.c.d" or the IPv6 text without brackets, and the port.
    static func tupleEndpoint(_ address: SocketAddress) -> String {
        switch address.family {
        case .ipv4:
            let ip = address.addressBytes.map(String.init).joined(separator: ".")
            return "{\"ip_v4\":\"\(ip)\",\"port_v4\":\(address.port)}"
        case .ipv6:
            let host = address.description.dropFirst().prefix(while: { $0 != "]" })
            return "{\"ip_v6\":\"\(host)\",\"port_v6\":\(address.port)}"
        }
    }

    /// quic:tuple_assigned (§4.7): a path's addresses; none when the path is abandoned.
    public static func tupleAssigned(time: Instant, id: Int, remote: SocketAddress?, local: SocketAddress?) -> String {
        var data = "\"tuple_id\":\"\(id == 0 ? "" : String(id))\""
        if let remote { data += ",\"tuple_remote\":" + tupleEndpoint(remote) }
        if let local { data += ",\"tuple_local\":" + tupleEndpoint(local) }
        return "{\"time\":\(milliseconds(time)),\"name\":\"quic:tuple_assigned\",\"data\":{\(data)}}"
    }

    /// quic:migration_state_updated (§5.20).
    public static func migrationStateUpdated(
        time: Instant, state: String, tupleID: Int, remote: SocketAddress, local: SocketAddress?
    ) -> String {
        var data = "\"new\":\"\(state)\",\"tuple_id\":\"\(tupleID == 0 ? "" : String(tupleID))\",\"tuple_remote\":" + tupleEndpoint(remote)
        if let local { data += ",\"tuple_local\":" + tupleEndpoint(local) }
        return "{\"time\":\(milliseconds(time)),\"name\":\"quic:migration_state_updated\",\"data\":{\(data)}}"
    }

    /// quic:mtu_updated (§4.8).
    public static func mtuUpdated(time: Instant, old: Int, new: Int, done: Bool) -> String {
        "{\"time\":\(milliseconds(time)),\"name\":\"quic:mtu_updated\",\"data\":{\"old\":\(old),\"new\":\(new),\"done\":\(done)}}"
    }

    /// Eight lowercase hex digits, as qlog writes QUIC versions.
    static func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// quic:version_information (draft-ietf-quic-qlog-quic-events §5.1), once the version is settled.
    public static func versionInformation(
        time: Instant, serverVersions: [QuicVersion]?, clientVersions: [QuicVersion]?, chosen: QuicVersion
    ) -> String {
        func list(_ versions: [QuicVersion]) -> String {
            "[" + versions.map { "\"" + hex8($0.rawValue) + "\"" }.joined(separator: ",") + "]"
        }
        var data = ""
        if let serverVersions { data += "\"server_versions\":\(list(serverVersions))," }
        if let clientVersions { data += "\"client_versions\":\(list(clientVersions))," }
        data += "\"chosen_version\":\"" + hex8(chosen.rawValue) + "\""
        return "{\"time\":\(milliseconds(time)),\"name\":\"quic:version_information\",\"data\":{\(data)}}"
    }

    public static func metricsUpdated(
        time: Instant, rtt: RTTEstimator, congestionWindow: Int, bytesInFlight: Int, ssthresh: Int?, ptoCount: Int
    ) -> String {
        func ms(_ span: TimeSpan) -> String { String(Double(span.microseconds) / 1000) }
        var data = "\"min_rtt\":\(ms(rtt.minRTT)),\"smoothed_rtt\":\(ms(rtt.smoothedRTT)),\"latest_rtt\":\(ms(rtt.latestRTT)),"
        data += "\"rtt_variance\":\(ms(rtt.rttVariance)),\"pto_count\":\(ptoCount),\"congestion_window\":\(congestionWindow),"
        data += "\"bytes_in_flight\":\(bytesInFlight)"
        if let ssthresh { data += ",\"ssthresh\":\(ssthresh)" }
        return "{\"time\":\(milliseconds(time)),\"name\":\"quic:recovery_metrics_updated\",\"data\":{\(data)}}"
    }
}

/// Frame type names for qlog (draft-ietf-quic-qlog-quic-events §8.13).
extension FrameType {
    var qlogName: String {
        switch self {
        case .padding: return "padding"
        case .ping: return "ping"
        case .ack, .ackECN: return "ack"
        case .resetStream: return "reset_stream"
        case .stopSending: return "stop_sending"
        case .crypto: return "crypto"
        case .newToken: return "new_token"
        case .stream: return "stream"
        case .maxData: return "max_data"
        case .maxStreamData: return "max_stream_data"
        case .maxStreamsBidi, .maxStreamsUni: return "max_streams"
        case .dataBlocked: return "data_blocked"
        case .streamDataBlocked: return "stream_data_blocked"
        case .streamsBlockedBidi, .streamsBlockedUni: return "streams_blocked"
        case .newConnectionID: return "new_connection_id"
        case .retireConnectionID: return "retire_connection_id"
        case .pathChallenge: return "path_challenge"
        case .pathResponse: return "path_response"
        case .connectionCloseTransport, .connectionCloseApplication: return "connection_close"
        case .handshakeDone: return "handshake_done"
        case .datagram, .datagramWithLength: return "datagram"
        }
    }
}
