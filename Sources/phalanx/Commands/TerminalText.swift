import PhalanxResilience

extension String {
    /// The text with control characters (newlines, ESC, BEL, CR, …) written as escapes, so that a
    /// task's payload or error message printed to a terminal or a text log can neither forge lines
    /// nor send terminal control sequences.
    var terminalSafe: String {
        guard unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return self }
        var safe = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": safe += "\\n"
            case "\r": safe += "\\r"
            case "\t": safe += "\\t"
            default:
                if scalar.properties.generalCategory == .control {
                    safe += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    safe.unicodeScalars.append(scalar)
                }
            }
        }
        return safe
    }
}

extension ErrorContext {
    /// `description` for a terminal: each error's own text made safe (a peer's message cannot move
    /// the cursor or forge a line), its causes on lines of their own, indented.
    var terminalDescription: String {
        var own = self
        own.causes = []
        var text = own.description.terminalSafe
        for cause in causes { text += "\n  caused by: " + cause.terminalDescription.replacingOccurrences(of: "\n", with: "\n  ") }
        return text
    }
}
