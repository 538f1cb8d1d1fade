import QuicCrypto
import QuicWire

@testable import QuicTLS

/// Handshake bytes in flight from one endpoint to the other at one encryption level.
struct Flight {
    var from: Role
    var level: EncryptionLevel
    var data: [UInt8]

    /// The handshake messages in this flight: (type, whole encoding).
    var messages: [(type: UInt8, bytes: [UInt8])] {
        get {
            var result: [(type: UInt8, bytes: [UInt8])] = []
            var offset = 0
            while offset + 4 <= data.count {
                let length = Int(data[offset + 1]) << 16 | Int(data[offset + 2]) << 8 | Int(data[offset + 3])
                let end = min(data.count, offset + 4 + length)
                result.append((data[offset], Array(data[offset..<end])))
                offset = end
            }
            return result
        }
        set { data = newValue.flatMap(\.bytes) }
    }

    /// Replaces the first message of `type` with `transform` of it.
    mutating func rewrite(_ type: HandshakeType, _ transform: ([UInt8]) -> [UInt8]) {
        var list = messages
        guard let index = list.firstIndex(where: { $0.type == type.rawValue }) else { return }
        list[index].bytes = transform(list[index].bytes)
        messages = list
    }
}

/// A client and a server TLSConnection joined in memory (the quinn-proto `Pair` idea): every
/// output is delivered to the other side at once, in order, until neither has anything to send
/// or one side raises an alert.
final class HandshakePair {
    let client: TLSConnection
    let server: TLSConnection
    private(set) var clientEvents: [TLSEvent] = []
    private(set) var serverEvents: [TLSEvent] = []
    private(set) var clientAlert: TLSAlert?
    private(set) var serverAlert: TLSAlert?
    /// Everything delivered, after `intercept` ran.
    private(set) var flights: [Flight] = []
    /// Sees (and may rewrite) each flight before delivery.
    var intercept: ((inout Flight) -> Void)?
    /// Deliver flights one byte per `handle` call.
    var byteByByte = false

    static let clientParameters: [UInt8] = [0x01, 0x02, 0x43, 0xe8]
    static let serverParameters: [UInt8] = [0x03, 0x02, 0x45, 0xc0, 0x04, 0x04, 0x80, 0x10, 0x00, 0x00]

    init(
        client clientConfiguration: TLSConfiguration, server serverConfiguration: TLSConfiguration,
        serverName: String? = "server.test", earlyDataContext: [UInt8] = [],
        ticketContext: (client: [UInt8], server: [UInt8]) = ([], [])
    ) {
        client = TLSConnection(
            role: .client, configuration: clientConfiguration, localTransportParameters: Self.clientParameters,
            serverName: serverName, ticketContext: ticketContext.client)
        server = TLSConnection(
            role: .server, configuration: serverConfiguration, localTransportParameters: Self.serverParameters,
            ticketContext: ticketContext.server, earlyDataContext: earlyDataContext)
    }

    var failed: Bool { clientAlert != nil || serverAlert != nil }

    @discardableResult
    func run() -> Self {
        do { try client.start() } catch { clientAlert = error }
        drainEvents()
        var moved = true
        while moved && !failed {
            moved = false
            while !failed, let (level, data) = client.pollOutput() {
                moved = true
                deliver(Flight(from: .client, level: level, data: data))
            }
            while !failed, let (level, data) = server.pollOutput() {
                moved = true
                deliver(Flight(from: .server, level: level, data: data))
            }
        }
        return self
    }

    private func deliver(_ original: Flight) {
        var flight = original
        intercept?(&flight)
        flights.append(flight)
        let receiver = flight.from == .client ? server : client
        do {
            if byteByByte {
                for byte in flight.data { try receiver.handle([byte], at: flight.level) }
            } else {
                try receiver.handle(flight.data, at: flight.level)
            }
        } catch {
            if flight.from == .client { serverAlert = error } else { clientAlert = error }
        }
        drainEvents()
    }

    private func drainEvents() {
        while let event = client.pollEvent() { clientEvents.append(event) }
        while let event = server.pollEvent() { serverEvents.append(event) }
    }

    /// The secret an endpoint installed for reading or writing at `level`.
    func secret(_ role: Role, write: Bool, _ level: EncryptionLevel) -> [UInt8]? {
        for event in role == .client ? clientEvents : serverEvents {
            switch event {
            case .readSecret(let l, _, let secret) where !write && l == level: return secret
            case .writeSecret(let l, _, let secret) where write && l == level: return secret
            default: continue
            }
        }
        return nil
    }

    /// Each level's client write secret equals the server's read secret and vice versa.
    func secretsAgree(at level: EncryptionLevel) -> Bool {
        guard let clientWrite = secret(.client, write: true, level),
            let serverRead = secret(.server, write: false, level)
        else { return false }
        if level == .zeroRTT { return clientWrite == serverRead }
        guard let serverWrite = secret(.server, write: true, level),
            let clientRead = secret(.client, write: false, level)
        else { return false }
        return clientWrite == serverRead && serverWrite == clientRead && clientWrite != serverWrite
    }

    /// Handshake message types an endpoint sent, in order.
    func sentMessageTypes(by role: Role) -> [UInt8] {
        flights.filter { $0.from == role }.flatMap { $0.messages.map(\.type) }
    }
}
