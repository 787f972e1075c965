import ArgumentParser
import Foundation
import PhalanxCore

/// The task ids a command works on: as arguments, or one per line from a file or standard input
/// (`--ids-from -`), which suits scripts and large sets (ArgumentParser is slow with tens of
/// thousands of arguments).
struct TaskIDOptions: ParsableArguments {
    @Argument(help: "Task ids (as `phalanx submit` printed them).")
    var taskIDs: [String] = []

    @Option(help: "Read task ids from this file, one per line ('-' for standard input).")
    var idsFrom: String?

    func validate() throws {
        guard !taskIDs.isEmpty || idsFrom != nil else { throw ValidationError("name at least one task id, or --ids-from FILE") }
        try Self.check(taskIDs)
    }

    /// A task id is 1...256 bytes of UTF-8: anything else cannot name a task.
    static func check(_ ids: [String], from source: String? = nil) throws {
        guard let bad = ids.firstIndex(where: { !(1...TaskLimits.maximumTaskIDBytes).contains($0.utf8.count) }) else { return }
        let id = ids[bad]
        throw ValidationError(
            "a task id is 1-\(TaskLimits.maximumTaskIDBytes) bytes, got \(id.isEmpty ? "an empty one" : "one of \(id.utf8.count) bytes ('\(id.prefix(40).description.terminalSafe)…')")\(source.map { " in \($0) (its id number \(bad + 1), blank lines not counted)" } ?? ""); use the ids `phalanx submit` printed")
    }

    /// The ids from the arguments, then from the file; blank lines are skipped. A file that
    /// cannot be read, or holds a bad id, is a usage error (exit 2; the message says which).
    func load() throws -> [String] {
        do {
            return try read()
        } catch let error as ValidationError {
            printError("error: \(error.message)")
            throw ExitCode(2)
        }
    }

    private func read() throws -> [String] {
        guard let idsFrom else { return taskIDs }
        let text: String
        if idsFrom == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            // Read as a stream: a pipe, FIFO or /dev/stdin works as well as a regular file.
            guard let file = FileHandle(forReadingAtPath: idsFrom) else {
                let why = FileManager.default.fileExists(atPath: idsFrom) ? "it cannot be opened for reading (check its permissions)" : "there is no such file"
                throw ValidationError("cannot read task ids from \(idsFrom): \(why)")
            }
            defer { try? file.close() }
            do {
                text = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
            } catch {
                throw ValidationError("cannot read task ids from \(idsFrom): \(error.localizedDescription)")
            }
        }
        let fromFile = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !taskIDs.isEmpty || !fromFile.isEmpty else { throw ValidationError("\(idsFrom) holds no task ids") }
        try Self.check(fromFile, from: idsFrom == "-" ? "standard input" : idsFrom)
        return taskIDs + fromFile
    }
}
