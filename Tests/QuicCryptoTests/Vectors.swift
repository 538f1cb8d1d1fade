import Foundation
import QuicWire

/// Reads the `name = hex` vector files under Resources/ (copied from ../shared/vectors, which
/// cite RFC 9001 Appendix A, RFC 9369 Appendix A and RFC 9000 Appendix A).
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
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            values[key] = value
        }
        self.values = values
    }

    func hex(_ key: String) throws -> [UInt8] {
        guard let text = values[key] else { throw VectorError(message: "no vector named \(key)") }
        return try decodeHex(text)
    }

    func string(_ key: String) throws -> String {
        guard let text = values[key] else { throw VectorError(message: "no vector named \(key)") }
        return text
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
    bytes.reserveCapacity(digits.count / 2)
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else {
            throw VectorError(message: "bad hex digit in \(text)")
        }
        bytes.append(high << 4 | low)
    }
    return bytes
}

private func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
    default: return nil
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
