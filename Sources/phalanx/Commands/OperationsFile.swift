import ArgumentParser
import Foundation

/// Reads `phalanx tx run --operations-file`: one operation per line (LF, CRLF or CR), blank lines
/// skipped, at most `maximumBytes` (``InputFile``).
enum OperationsFile {
    static let maximumBytes = 16 * 1024 * 1024

    /// The operations in `path` (`-`: standard input), each line without its line ending.
    static func read(_ path: String) throws(ValidationError) -> [String] {
        let data = try InputFile.bytes(path, option: "--operations-file", maximumBytes: maximumBytes, tooLarge: "split the transaction")
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
