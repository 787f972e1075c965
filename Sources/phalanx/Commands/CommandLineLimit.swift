/// The most command-line arguments `phalanx` parses. ArgumentParser's cost per argument grows with
/// the number given (20,000 took 10 s), so past this bound the command is refused at once with the
/// way to pass a long list instead.
enum CommandLineLimit {
    static let maximumArguments = 2_000

    /// Why `arguments` (without the program name) are refused, or nil.
    static func problem(_ arguments: [String]) -> String? {
        guard arguments.count > maximumArguments else { return nil }
        return """
            phalanx takes at most \(maximumArguments) command-line arguments (\(arguments.count) given). \
            For a transaction with many operations, write them to a file, one per line, \
            and run: phalanx tx run --operations-file FILE (or - to read them from standard input)
            """
    }
}
