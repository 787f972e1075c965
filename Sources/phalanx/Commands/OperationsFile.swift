import ArgumentParser
import Foundation

/// Reads `phalanx tx run --operations-file`: one operation per line (LF, CRLF or CR), blank lines skipped, at most
/// `maximumBytes` (so a wrong path such as a device or a huge log is refused, not read whole).
enum OperationsFile {
    static let maximumBytes = 16 * 1024 * 1024

    /// The operations in `path` (`-`: standard input), each line without its line ending.
    static func read(_ path: String) throws(ValidationError) -> [String] {
        let handle: FileHandle
        if path == "-" {
            handle = .standardInput
        } else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw ValidationError("--operations-file \(path) is a directory; give a file with one operation per line")
            }
            guard let opened = FileHandle(forReadingAtPath: path) else {
                throw ValidationError("--operations-file \(path): cannot open it for reading; check the path and its permissions")
            }
            handle = opened
        }
        defer { if path != "-" { try? handle.close() } }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumBytes + 1) ?? Data()
        } catch {
            throw ValidationError("--operations-file \(path): reading failed: \(error.localizedDescription)")
        }
        guard data.count <= maximumBytes else {
            throw ValidationError("--operations-file \(path) has more than \(maximumBytes) bytes; split the transaction")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw ValidationError("--operations-file \(path) is not UTF-8 text; write one operation per line")
        }
        // A byte order mark (editors on Windows write one) is not part of the first operation.
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        // Split the bytes, not the Characters: "\r\n" is one Character, and bytes are much faster.
        // LF, CRLF and a lone CR (old Mac files) all end a line; the empty line between CR and LF is skipped.
        return text.utf8.split(whereSeparator: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }).compactMap { line in
            let operation = String(Substring(line))
            return operation.allSatisfy(\.isWhitespace) ? nil : operation
        }
    }
}
