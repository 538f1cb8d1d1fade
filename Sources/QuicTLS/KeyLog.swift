import QuicCrypto

/// NSS key log labels (the SSLKEYLOGFILE format read by Wireshark and others).
enum KeyLogLabel: String {
    case clientEarlyTrafficSecret = "CLIENT_EARLY_TRAFFIC_SECRET"
    case clientHandshakeTrafficSecret = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
    case serverHandshakeTrafficSecret = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
    case clientTrafficSecret0 = "CLIENT_TRAFFIC_SECRET_0"
    case serverTrafficSecret0 = "SERVER_TRAFFIC_SECRET_0"
    case exporterSecret = "EXPORTER_SECRET"

    /// "<label> <client random hex> <secret hex>".
    func line(clientRandom: [UInt8], secret: [UInt8]) -> String {
        "\(rawValue) \(hexEncoded(clientRandom)) \(hexEncoded(secret))"
    }
}

func hexEncoded(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
}
