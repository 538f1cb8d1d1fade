import Foundation
import QuicHTTP3
import Testing

/// The RFC text in the project's shared folder (`../shared/rfc` beside the package), when present.
let rfc9204Text: String? = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let path = root.deletingLastPathComponent().appendingPathComponent("shared/rfc/rfc9204.txt").path
    return try? String(contentsOfFile: path, encoding: .utf8)
}()

@Suite("QPACK static table against the RFC 9204 text")
struct StaticTableTextTests {
    /// Every row of Appendix A as printed (cells wrapped over several lines are joined: xml2rfc
    /// breaks after '-' and '/' without a space, elsewhere at a space), compared with all 99
    /// entries of our table.
    @Test("all 99 entries equal Appendix A", .enabled(if: rfc9204Text != nil, "needs ../shared/rfc/rfc9204.txt"))
    func allEntries() throws {
        let text = try #require(rfc9204Text)
        let heading = "Appendix A.  Static Table"
        let first = try #require(text.range(of: heading))
        let appendix = try #require(text.range(of: heading, range: first.upperBound..<text.endIndex))
        let end = try #require(text.range(of: "Table 4: Static Table", range: appendix.upperBound..<text.endIndex))
        var rows: [(index: Int, name: String, value: String)] = []
        for line in text[appendix.upperBound..<end.lowerBound].split(separator: "\n") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count == 5, cells[0].isEmpty, cells[4].isEmpty else { continue }
            if let index = Int(cells[1]) {
                rows.append((index, cells[2], cells[3]))
            } else if cells[1].isEmpty, !rows.isEmpty, !cells[3].isEmpty {
                let previous = rows[rows.count - 1].value
                let joiner = previous.hasSuffix("-") || previous.hasSuffix("/") ? "" : " "
                rows[rows.count - 1].value = previous + joiner + cells[3]
            }
        }
        #expect(rows.map(\.index) == Array(0..<99))
        #expect(QPACKStaticTable.count == rows.count)
        for row in rows {
            #expect(QPACKStaticTable.entry(row.index) == HTTPField(row.name, row.value), "index \(row.index)")
        }
    }
}
