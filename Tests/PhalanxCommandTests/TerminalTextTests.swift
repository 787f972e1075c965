import Foundation
import PhalanxResilience
import PhalanxClient
import Testing

@testable import phalanx

/// What the CLI prints of a task (payload fragments in messages, ids) cannot forge lines or send
/// terminal control sequences.
@Suite struct TerminalTextTests {
    @Test func controlCharactersAreEscapedAndPlainTextIsKept() {
        #expect("plain text, ünïcode ✓".terminalSafe == "plain text, ünïcode ✓")
        #expect("line\nFAKE CRITICAL forged".terminalSafe == "line\\nFAKE CRITICAL forged")
        #expect("\u{1B}]0;TITLE\u{07}\u{1B}[2J\r".terminalSafe == "\\u{1b}]0;TITLE\\u{7}\\u{1b}[2J\\r")
        #expect("tab\there".terminalSafe == "tab\\there")
    }

    @Test func aTextLogLineWithAForgedLineInItsMessageStaysOneLine() {
        let line = NodeLogHandler.text(
            time: Date(timeIntervalSince1970: 0), level: .info, node: "w1", message: "task failed: got 'x\n1970-01-01T00:00:00.000Z CRITICAL w3 forged'",
            fields: ["detail": "a\u{1B}[2Jb"])
        #expect(!line.contains("\n") && !line.contains("\u{1B}"), "\(line)")
        #expect(line.contains("\\n1970-01-01") && line.contains("detail=a\\u{1b}[2Jb"), "\(line)")
    }

    @Test func anErrorsCausesAreOnLinesOfTheirOwnWhileItsMessagesStayOneLineEach() {
        let leaf = ErrorContext(code: .internal, message: "leaf\nFORGED", originNode: "w2")
        let middle = ErrorContext(code: .unavailable, message: "middle", causes: [leaf])
        let top = ErrorContext(code: .workerLost, message: "top\u{1B}[2J", originNode: "coordinator", causes: [middle])
        let lines = top.terminalDescription.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3, "\(top.terminalDescription)")
        #expect(lines[0].hasPrefix("WORKER_LOST") && lines[0].contains("top\\u{1b}[2J") && !lines[0].contains("\u{1B}"))
        #expect(lines[1] == "  caused by: UNAVAILABLE (system): middle")
        #expect(lines[2].hasPrefix("    caused by: INTERNAL") && lines[2].contains("leaf\\nFORGED"), "\(lines[2])")
    }

    @Test func earlierAttemptsAreCountedAsFailedOrLostAndAnUnknownWorkerIsAQuestionMark() {
        let error = ErrorContext(code: .unavailable, message: "x")
        #expect(OutcomeReport.earlierAttempts([]) == "")
        let history = [
            TaskOutcome.FailedAttempt(attempt: 1, worker: "w1", error: error),
            TaskOutcome.FailedAttempt(attempt: 2, worker: "w2", error: error, lost: true),
            TaskOutcome.FailedAttempt(attempt: 3, worker: "", error: error, lost: true),
        ]
        #expect(OutcomeReport.earlierAttempts(history) == ", after 1 failed and 2 interrupted attempt(s) on w1, w2, a worker not recorded (the coordinator restarted)")
        #expect(OutcomeReport.earlierAttempts([history[1]]) == ", after 1 interrupted attempt(s) on w2")
    }

    @Test func submittedIndicesAreShownAsRangesOfConsecutiveOnes() {
        #expect(SubmitCommand.ranges(of: []) == [])
        #expect(SubmitCommand.ranges(of: [5, 0, 2, 1, 5]) == [0...2, 5...5])
        #expect(SubmitCommand.ranges(of: [7]) == [7...7])
    }
}
