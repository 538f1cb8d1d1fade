/// Encodes field sections (RFC 9204 §4.5) without the dynamic table: Required Insert Count 0 and
/// Base 0, then for each field the shortest of an indexed static line (§4.5.2), a literal with a
/// static name reference (§4.5.4) or a literal with a literal name (§4.5.6). Strings are Huffman
/// coded when that is shorter. Such sections never block the peer's decoder, whatever table
/// capacity it advertised, and need no encoder-stream instructions.
public enum QPACKEncoder {
    /// Appends the encoded field section for `fields`. Names are lowercased first, as HTTP/3
    /// requires (RFC 9114 §4.2).
    public static func encode(_ fields: [HTTPField], into output: inout [UInt8]) {
        // §4.5.1: Required Insert Count 0 (8-bit prefix), then Sign 0 and Delta Base 0.
        output.append(0x00)
        output.append(0x00)
        for var field in fields {
            if field.name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
                field.name = field.name.lowercased()
            }
            let match = QPACKStaticTable.match(field)
            if let index = match.fullMatch {
                // 1 T=1 Index(6+)
                QPACKPrimitive.encodeInteger(UInt64(index), prefixBits: 6, flags: 0xc0, into: &output)
            } else if let index = match.nameMatch {
                // 0 1 N=0 T=1 NameIndex(4+), value as an 8-bit prefix string.
                QPACKPrimitive.encodeInteger(UInt64(index), prefixBits: 4, flags: 0x50, into: &output)
                QPACKPrimitive.encodeString(field.rawValue, prefixBits: 8, into: &output)
            } else {
                // 0 0 1 N=0 H NameLen(3+), name as a 4-bit prefix string, then the value.
                QPACKPrimitive.encodeString(field.name.utf8, prefixBits: 4, flags: 0x20, into: &output)
                QPACKPrimitive.encodeString(field.rawValue, prefixBits: 8, into: &output)
            }
        }
    }

    public static func encode(_ fields: [HTTPField]) -> [UInt8] {
        var output: [UInt8] = []
        encode(fields, into: &output)
        return output
    }
}
