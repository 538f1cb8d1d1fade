/// Checks that decide whether a received header or trailer section is malformed (RFC 9114
/// §4.1.2, §4.2, §4.3). Each returns nil when the section is acceptable, or a sentence saying what
/// is wrong; a malformed message is a stream error of type H3_MESSAGE_ERROR.
public enum MessageValidation {
    /// Fields that only make sense for a hop-by-hop connection and must not appear (§4.2).
    static let connectionSpecific: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
    ]

    /// A request header section (§4.3.1): :method, :scheme, :authority, :path, each at most once,
    /// before any regular field; :method, :scheme and :path required except for CONNECT (§4.4);
    /// an authority (:authority or host) for http and https, non-empty and consistent.
    public static func checkRequest(_ fields: [HTTPField]) -> String? {
        var method: [UInt8]?
        var scheme: [UInt8]?
        var authority: [UInt8]?
        var path: [UInt8]?
        var sawRegular = false
        var host: [UInt8]?
        for field in fields {
            if let problem = checkField(field) { return problem }
            if field.isPseudo {
                if sawRegular { return "pseudo-header \(field.name) follows a regular field" }
                switch field.name {
                case ":method":
                    if method != nil { return "repeated :method" }
                    method = field.rawValue
                case ":scheme":
                    if scheme != nil { return "repeated :scheme" }
                    scheme = field.rawValue
                case ":authority":
                    if authority != nil { return "repeated :authority" }
                    authority = field.rawValue
                case ":path":
                    if path != nil { return "repeated :path" }
                    path = field.rawValue
                default: return "pseudo-header \(field.name) is not defined for requests"
                }
            } else {
                sawRegular = true
                if let problem = checkRegularField(field, inRequest: true) { return problem }
                if field.name == "host" {
                    if host != nil { return "repeated host" }
                    host = field.rawValue
                }
            }
        }
        guard let method, !method.isEmpty else { return "missing :method" }
        if method == Array("CONNECT".utf8) {
            // §4.4: :scheme and :path omitted, :authority present.
            if scheme != nil || path != nil { return "CONNECT request carries :scheme or :path" }
            if authority == nil || authority!.isEmpty { return "CONNECT request without :authority" }
            return nil
        }
        guard let scheme, !scheme.isEmpty else { return "missing :scheme" }
        guard let path else { return "missing :path" }
        let lowerScheme = scheme.map { $0 | 0x20 }
        if lowerScheme == Array("http".utf8) || lowerScheme == Array("https".utf8) {
            if path.isEmpty { return ":path is empty" }
            if authority == nil && host == nil {
                return "no :authority or host for an \(String(decoding: scheme, as: UTF8.self)) request"
            }
            if let authority, authority.isEmpty { return ":authority is empty" }
            if let authority, authority.contains(UInt8(ascii: "@")) { return ":authority carries userinfo" }
            if let host, host.isEmpty { return "host is empty" }
            if let authority, let host, authority != host { return ":authority and host differ" }
        }
        return nil
    }

    /// A response header section (§4.3.2): exactly one :status, three digits, not 101 (§4.5),
    /// before any regular field.
    public static func checkResponse(_ fields: [HTTPField]) -> String? {
        var status: [UInt8]?
        var sawRegular = false
        for field in fields {
            if let problem = checkField(field) { return problem }
            if field.isPseudo {
                if sawRegular { return "pseudo-header \(field.name) follows a regular field" }
                guard field.name == ":status" else { return "pseudo-header \(field.name) is not defined for responses" }
                if status != nil { return "repeated :status" }
                status = field.rawValue
            } else {
                sawRegular = true
                if let problem = checkRegularField(field, inRequest: false) { return problem }
            }
        }
        guard let status else { return "missing :status" }
        guard status.count == 3, status.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            status[0] != UInt8(ascii: "0")
        else { return ":status \(String(decoding: status, as: UTF8.self)) is not a three-digit status code" }
        if status == Array("101".utf8) { return "101 Switching Protocols is not allowed in HTTP/3" }
        return nil
    }

    /// A trailer section: no pseudo-headers (§4.3).
    public static func checkTrailers(_ fields: [HTTPField]) -> String? {
        for field in fields {
            if let problem = checkField(field) { return problem }
            if field.isPseudo { return "pseudo-header \(field.name) in a trailer section" }
            if let problem = checkRegularField(field, inRequest: false) { return problem }
        }
        return nil
    }

    /// The value of content-length when present and valid; `.invalid` when present but not one
    /// number (repeated identical values are accepted, RFC 9110 §8.6).
    enum ContentLength: Equatable { case absent, value(UInt64), invalid }

    static func contentLength(_ fields: [HTTPField]) -> ContentLength {
        var result: UInt64?
        for field in fields where field.name == "content-length" {
            for part in field.rawValue.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                let digits = part.drop(while: { $0 == 0x20 || $0 == 0x09 }).reversed().drop(while: {
                    $0 == 0x20 || $0 == 0x09
                }).reversed()
                guard !digits.isEmpty, digits.count <= 19,
                    digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
                else { return .invalid }
                let value = digits.reduce(UInt64(0)) { $0 * 10 + UInt64($1 - UInt8(ascii: "0")) }
                if let result, result != value { return .invalid }
                result = value
            }
        }
        return result.map { .value($0) } ?? .absent
    }

    /// Name syntax (a lowercase token, or ':' and a token for pseudo-headers) and value syntax
    /// (field-content of RFC 9110 §5.5: no NUL, CR, LF or other controls but HTAB, no leading or
    /// trailing whitespace) (§4.2, §10.3).
    static func checkField(_ field: HTTPField) -> String? {
        let name = field.name.utf8
        let token = field.isPseudo ? name.dropFirst() : name[...]
        guard !token.isEmpty else { return "empty field name" }
        for byte in token where !isLowercaseTokenByte(byte) {
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { return "uppercase field name \(field.name)" }
            return "invalid character 0x\(String(byte, radix: 16)) in field name"
        }
        let value = field.rawValue
        for byte in value where byte != 0x09 && (byte < 0x20 || byte == 0x7f) {
            return "invalid character 0x\(String(byte, radix: 16)) in the value of \(field.name)"
        }
        if let first = value.first, first == 0x20 || first == 0x09 {
            return "leading whitespace in the value of \(field.name)"
        }
        if let last = value.last, last == 0x20 || last == 0x09 {
            return "trailing whitespace in the value of \(field.name)"
        }
        return nil
    }

    static func checkRegularField(_ field: HTTPField, inRequest: Bool) -> String? {
        if connectionSpecific.contains(field.name) { return "connection-specific field \(field.name)" }
        if field.name == "te" {
            // §4.2: TE may appear in a request, and only as "trailers".
            guard inRequest, field.rawValue == Array("trailers".utf8) else { return "te other than \"trailers\"" }
        }
        return nil
    }

    /// tchar of RFC 9110 §5.6.2 without uppercase letters.
    static func isLowercaseTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}
