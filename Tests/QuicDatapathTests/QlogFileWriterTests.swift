import Foundation
import QuicCore
import QuicDatapath
import QuicWire
import Testing

@Suite("qlog file writer")
struct QlogFileWriterTests {
    @Test("JSON-SEQ: each record is RS + one JSON object + LF, the header first")
    func jsonSequence() throws {
        let path = NSTemporaryDirectory() + "qlog-\(getpid())-\(UInt32.random(in: 0..<UInt32.max)).sqlog"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try QlogFileWriter(path: path)
        writer.record(QlogEvents.header(vantagePoint: .client, groupID: ConnectionID(bytes: [1, 2, 3, 4])!))
        writer.record(QlogEvents.packetSent(time: Instant(nanoseconds: 1_500_000), type: .initial, number: 0, length: 1200, frames: [.crypto(offset: 0, length: 300), .ping]))
        writer.record(QlogEvents.packetLost(time: Instant(nanoseconds: 2_000_000), type: .oneRTT, number: 7, trigger: "time_threshold"))
        writer.close()

        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let records = data.split(separator: 0x1e, omittingEmptySubsequences: true)
        #expect(records.count == 3)
        #expect(data.first == 0x1e)
        var names: [String] = []
        for record in records {
            #expect(record.last == 0x0a)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(record.dropLast())) as? [String: Any])
            if let name = object["name"] as? String { names.append(name) }
            if let schema = object["file_schema"] as? String { #expect(schema == "urn:ietf:params:qlog:file:sequential") }
        }
        #expect(names == ["quic:packet_sent", "quic:packet_lost"])
    }

    @Test("a directory that does not exist is an error naming the fix")
    func missingDirectory() {
        #expect(throws: DatapathError.self) { try QlogFileWriter(path: "/nonexistent-dir-\(getpid())/x.sqlog") }
        do {
            _ = try QlogFileWriter(path: "/nonexistent-dir-\(getpid())/x.sqlog")
        } catch {
            #expect(error.description.contains("--qlog-dir"))
        }
    }
}
