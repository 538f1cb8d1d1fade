import Glibc
import QuicCore

/// Writes a connection's qlog events to a file as JSON Text Sequences (RFC 7464, the qlog main
/// schema's "sequential" file: draft-ietf-quic-qlog-main-schema §5): each record is RS, JSON, LF.
/// Buffered; flushed when the buffer fills and on `close()` / deinit.
public final class QlogFileWriter: QlogSink, @unchecked Sendable {
    public let path: String
    private var file: UnsafeMutablePointer<FILE>?

    /// Creates (truncates) `path`. Throws a message naming the path and the cause.
    public init(path: String) throws(DatapathError) {
        self.path = path
        guard let file = fopen(path, "w") else {
            throw DatapathError(.io, "cannot write the qlog file \(path); check that the --qlog-dir directory exists and is writable", errno: .current)
        }
        setvbuf(file, nil, _IOFBF, 1 << 16)
        self.file = file
    }

    /// A file named after the connection's original destination connection ID in `directory`
    /// (`<odcid>.sqlog`, as qvis and the interop runner expect).
    public convenience init(directory: String, connectionID: String, role: String) throws(DatapathError) {
        try self.init(path: "\(directory)/\(connectionID)_\(role).sqlog")
    }

    public func record(_ json: String) {
        guard let file else { return }
        fputc(0x1e, file)
        fputs(json, file)
        fputc(0x0a, file)
    }

    public func close() {
        guard let file else { return }
        fclose(file)
        self.file = nil
    }

    deinit { close() }
}
