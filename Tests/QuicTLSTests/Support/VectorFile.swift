import Foundation

/// Reads the `name = hex` vector file under Resources/ (a copy of
/// ../shared/vectors/tls13-rfc8448-simple-1rtt.txt, RFC 8448 §3, whose header cites its sources).
struct VectorFile {
    let values: [String: String]

    init(_ name: String) throws {
        guard let url = Bundle.module.url(forResource: "Resources/\(name)", withExtension: "txt") else {
            throw VectorError(message: "vector file \(name).txt is missing from the test bundle")
        }
        var values: [String: String] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            values[key] = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        self.values = values
    }

    func hex(_ key: String) throws -> [UInt8] {
        guard let text = values[key] else { throw VectorError(message: "no vector named \(key)") }
        return try decodeHex(text)
    }
}

struct VectorError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

func decodeHex(_ text: String) throws -> [UInt8] {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { throw VectorError(message: "odd-length hex: \(text)") }
    var bytes: [UInt8] = []
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let value = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else {
            throw VectorError(message: "bad hex digit in \(text)")
        }
        bytes.append(value)
    }
    return bytes
}
