import Dispatch
import Foundation

/// What `submit` says when it is interrupted (SIGINT, SIGTERM) before it has printed its tasks'
/// outcomes or ids: which ids its tasks have, so the ones already accepted (they run to their end)
/// can still be collected with `phalanx result`. Then it exits 128 + the signal's number, as the
/// signal itself would have.
enum InterruptionNotice {
    /// Starts listening; keep the returned sources for as long as the notice should be given.
    static func install(_ notice: String) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)  // the source below handles it instead
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("\(notice)\n".utf8))
                exit(128 + number)
            }
            source.resume()
            return source
        }
    }

    /// Stops listening: the signals act as they did before (they end the process).
    static func uninstall(_ sources: [any DispatchSourceSignal]) {
        for source in sources { source.cancel() }
        for number in [SIGINT, SIGTERM] { signal(number, SIG_DFL) }
    }
}
