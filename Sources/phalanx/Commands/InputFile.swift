import ArgumentParser
import Foundation

/// Reads a file a command was given (`-`: standard input), at most `maximumBytes` of it: a wrong
/// path such as a device or a huge log is refused, not read whole.
enum InputFile {
    /// The bytes of `path`, given as `option` (named in every error); `tooLarge` says what to do
    /// when it holds more than `maximumBytes`.
    static func bytes(_ path: String, option: String, maximumBytes: Int, tooLarge: String) throws(ValidationError) -> Data {
        let handle: FileHandle
        if path == "-" {
            handle = .standardInput
        } else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw ValidationError("\(option) \(path) is a directory; give a file")
            }
            guard let opened = FileHandle(forReadingAtPath: path) else {
                throw ValidationError("\(option) \(path): cannot open it for reading; check the path and its permissions")
            }
            handle = opened
        }
        defer { if path != "-" { try? handle.close() } }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumBytes + 1) ?? Data()
        } catch {
            let what = path == "-" ? "standard input cannot be read (is it closed, or a directory?)" : "\(path): reading failed"
            throw ValidationError("\(option) \(what): \(error.localizedDescription)")
        }
        guard data.count <= maximumBytes else {
            throw ValidationError("\(option) \(path) has more than \(maximumBytes) bytes; \(tooLarge)")
        }
        return data
    }
}
