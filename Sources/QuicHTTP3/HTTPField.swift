/// One HTTP field line (a header or trailer, or a pseudo-header such as `:path`), as QPACK carries
/// it (RFC 9204 §4.5). The value is kept as the bytes on the wire, since HTTP allows bytes that are
/// not UTF-8 (obs-text, RFC 9110 §5.5); `value` decodes them as UTF-8 for convenience.
public struct HTTPField: Hashable, Sendable, CustomStringConvertible {
    /// The field name. Names we encode are lowercased first (RFC 9114 §4.2); names we decode are
    /// as received and are checked by message validation.
    public var name: String
    /// The field value as bytes.
    public var rawValue: [UInt8]

    public init(name: String, rawValue: [UInt8]) {
        self.name = name
        self.rawValue = rawValue
    }

    public init(_ name: String, _ value: String) {
        self.name = name
        self.rawValue = Array(value.utf8)
    }

    /// The value decoded as UTF-8 (invalid sequences become U+FFFD).
    public var value: String { String(decoding: rawValue, as: UTF8.self) }

    /// Whether this is a pseudo-header field (RFC 9114 §4.3).
    @inlinable public var isPseudo: Bool { name.utf8.first == UInt8(ascii: ":") }

    /// The size this field counts for against SETTINGS_MAX_FIELD_SECTION_SIZE: name and value
    /// lengths plus 32 (RFC 9114 §4.2.2).
    @inlinable public var sectionSize: Int { name.utf8.count + rawValue.count + 32 }

    public var description: String { "\(name): \(value)" }
}

extension Array where Element == HTTPField {
    /// The value of the first field named `name`, decoded as UTF-8.
    public subscript(_ name: String) -> String? {
        first(where: { $0.name == name })?.value
    }

    /// The values of every field named `name`, in order.
    public func values(named name: String) -> [String] {
        filter { $0.name == name }.map(\.value)
    }

    /// The size of the whole section for SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §4.2.2).
    public var sectionSize: Int { reduce(0) { $0 + $1.sectionSize } }
}
