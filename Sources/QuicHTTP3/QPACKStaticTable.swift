/// The QPACK static table (RFC 9204 §3.1, Appendix A), indexed from 0.
public enum QPACKStaticTable {
    /// Number of entries (99).
    public static var count: Int { entries.count }

    /// The entry at `index`, or nil past the end.
    public static func entry(_ index: Int) -> HTTPField? {
        guard index >= 0, index < entries.count else { return nil }
        return fields[index]
    }

    /// What the encoder can reference for a field: an index whose name and value match, or
    /// failing that an index whose name matches.
    public static func match(_ field: HTTPField) -> (fullMatch: Int?, nameMatch: Int?) {
        guard let candidates = Lookup.shared.byName[field.name] else { return (nil, nil) }
        for candidate in candidates where fields[candidate].rawValue == field.rawValue {
            return (candidate, candidates[0])
        }
        return (nil, candidates[0])
    }

    static let fields: [HTTPField] = entries.map { HTTPField($0.name, $0.value) }

    final class Lookup: Sendable {
        static let shared = Lookup()
        /// Indices of each name, lowest first.
        let byName: [String: [Int]]
        init() {
            var byName: [String: [Int]] = [:]
            for (index, entry) in QPACKStaticTable.entries.enumerated() {
                byName[entry.name, default: []].append(index)
            }
            self.byName = byName
        }
    }
}
