import Foundation
import Logging
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxTransport
import PhalanxWire

/// Opens a worker's ``Participant`` for each session with the coordinator and closes it when the
/// session ends, holding the store's directory lock only meanwhile.
///
/// Two processes of one worker name must never apply transactions to one store; but a restarted
/// worker must take over from a frozen old process (which the coordinator refuses as superseded
/// when it wakes). So the lock is taken when the worker registers, not at start: while another
/// process holds it, or the store cannot be opened (a damaged file, a read-only folder), this one
/// runs tasks but votes NO (`UNAVAILABLE`) on transactions, acknowledges ABORTs (safe under
/// presumed abort: a transaction prepared in the store it cannot read aborts when it asks later),
/// answers an audit with the reason, reports the reason in its heartbeats and on /readyz, and
/// tries again on the next transaction message.
actor ParticipantHost {
    let node: String
    let directory: String
    let retention: Duration
    let resources: [any TransactionalResource]
    private let logger: Logger
    private var participant: Participant?
    private var lock: DataDirectoryLock?
    private var lastFailure: String?
    /// The store file this process first opened: later sessions open it again, or none.
    private var storeFile: FileIdentity?
    /// The store being opened: callers meanwhile wait for it instead of opening it twice.
    private var opening: Task<Void, Never>?
    /// Told whether each attempt to open the store succeeded (the worker's metric).
    private let availability: @Sendable (Bool) -> Void

    /// The store the coordinator knows for this worker (nil: none, or not told yet).
    private var expectedStore: KnownParticipantStore?
    /// Whether a store other than ``expectedStore`` is used anyway (`--accept-new-store`).
    private let acceptsNewStore: Bool
    /// The open store as heartbeats report it (its id and its durable writes so far): a participant
    /// is kept only once its store was judged against the coordinator's.
    var reportedStore: KnownParticipantStore? { participant?.reportedStore }

    /// A heartbeat that reports `store` (the coordinator records it for this worker).
    static func heartbeat(reporting store: KnownParticipantStore?) -> Phalanx_V1_Heartbeat {
        var heartbeat = Phalanx_V1_Heartbeat()
        if let store {
            heartbeat.participantStore = store.id
            heartbeat.participantStoreWrites = UInt64(clamping: store.writes)
        }
        return heartbeat
    }

    init(
        node: String, directory: String, resources: [any TransactionalResource], retention: Duration, acceptsNewStore: Bool = false,
        logger: Logger, availability: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        self.acceptsNewStore = acceptsNewStore
        self.availability = availability
        self.node = node
        self.resources = resources
        self.directory = directory
        self.retention = retention
        self.logger = logger
    }

    /// Why the store is not available: opening it failed, or writing it did (nil: it is open and
    /// writes, or opening was not tried yet).
    func problem() async -> String? {
        await retryIfDue()
        if let replaced = replacedProblem() { return String(replaced.prefix(1_000)) }
        if let participant, let failure = await participant.writeFailure { return String("cannot write the participant store: \(failure)".prefix(1_000)) }
        return participant == nil ? lastFailure.map { String($0.prefix(1_000)) } : nil
    }

    /// A participant whose store stopped taking writes is closed and the store opened again from
    /// what is on disk (what failed to be written was never voted or acknowledged); until that
    /// succeeds, this host answers as for a store it cannot open.
    private func replaceIfFailed(over link: any PeerLink) async {
        guard let failed = participant, let failure = await failed.writeFailure else { return }
        if let replaced = failed.replacedProblem() {
            fileChecked = (ContinuousClock.now, replaced)  // not reopened: the path names another file, or none
            return
        }
        participant = nil
        await failed.close()
        lastFailure = "cannot write the participant store: \(failure)"
        availability(false)
        logger.error("reopening the participant store after a write failure", metadata: ["reason": "\(failure)"])
        await open(over: link)
    }

    /// When the store's file was last checked, and what was found: a `stat` per message cost
    /// several percent of a worker's transaction throughput, so it is checked at most every 50 ms.
    private var fileChecked: (at: ContinuousClock.Instant, problem: String?)?

    /// Why the open store's file is not the one opened (``Participant/replacedProblem()``), checked at most every 50 ms.
    private func replacedProblem() -> String? {
        guard let participant else { return nil }
        let now = ContinuousClock.now
        if let checked = fileChecked, now - checked.at < .milliseconds(50) { return checked.problem }
        let problem = participant.replacedProblem()
        fileChecked = (now, problem)
        return problem
    }

    /// The session's link, while there is one: the store is tried again without traffic.
    private var sessionLink: (any PeerLink)?
    private var lastRetry: ContinuousClock.Instant?

    /// A store that is not available is tried again every 2 s while the worker is connected, with
    /// its heartbeats and readiness probes: without transactions (which also try) it would stay
    /// "not available" after it was repaired.
    private func retryIfDue() async {
        guard let link = sessionLink, opening == nil else { return }
        let failed: Bool
        if let participant { failed = await participant.writeFailure != nil } else { failed = lastFailure != nil }
        let now = ContinuousClock.now
        guard failed, lastRetry.map({ now - $0 >= .seconds(2) }) ?? true else { return }
        lastRetry = now
        await reopenIfUnavailable(over: link)
    }

    /// A participant whose writes failed is replaced, and a store that is not open is opened (each
    /// only if it can be).
    private func reopenIfUnavailable(over link: any PeerLink) async {
        await replaceIfFailed(over: link)
        if participant == nil { await open(over: link) }
    }

    /// The coordinator told which store it knows for this worker (at registration).
    func expect(store: KnownParticipantStore?) {
        expectedStore = store
    }

    /// What to do with the store just opened, judged against the one the coordinator knows.
    private enum StoreVerdict {
        case use
        /// Not this worker's store as the coordinator knows it: why.
        case refuse(String)
        /// An older copy of its own store, accepted (`--accept-new-store`): it gets a new id, so
        /// that another copy of the old one is not taken for it later.
        case useUnderNewID
    }

    /// Whether `opened` may be used as this worker's store: a store the coordinator does not know
    /// for it (another id), or an older copy of the one it knows (fewer durable writes), lacks
    /// values and in-doubt transactions it expects. Without this check a store lost while its
    /// worker was down was replaced by an empty one without a word, and the decisions the
    /// coordinator resent to it were acknowledged and lost.
    private func verdict(on opened: ParticipantStoreIdentity, path: String) -> StoreVerdict {
        guard let expected = expectedStore else {
            if opened.writes > 0 {
                // Not refused: a coordinator of an earlier version recorded no stores. But after a
                // lost ledger nothing can tell this store from another, and in-doubt transactions
                // are presumed aborted.
                logger.warning(
                    "the coordinator knows no participant store for this worker although this one holds changes: it is new, of an earlier version, or lost its ledger (then the transactions this store holds in doubt are presumed aborted)",
                    metadata: ["store": "\(opened.id)", "writes": "\(opened.writes)", "path": "\(path)"])
            }
            return .use
        }
        let created = WireTime.iso8601(unixMilliseconds: opened.createdUnixMilliseconds)
        let older = expected.id == opened.id
        let problem: String
        if !older {
            problem = "the participant store \(path) is not the one the coordinator knows for worker \(node): this file is store \(opened.id), made \(created); the coordinator last saw store \(expected.id). Its values and in-doubt transactions are not here (was the file deleted or replaced while the worker was down, or is worker.data_dir not the folder it used before?)"
        } else if opened.writes < expected.writes {
            problem = "the participant store \(path) is an older copy of worker \(node)'s store \(opened.id): it holds \(opened.writes) changes, and the store had made at least \(expected.writes) durable by what it last told the coordinator. The newer ones are not here (put back from an older backup, or the main file without its -wal file?)"
        } else {
            return .use
        }
        guard acceptsNewStore else {
            return .refuse(problem + ". Stop the worker, put its newest store back (participant.sqlite with its -wal file), and start it again; or start it with --accept-new-store to go on with this one and accept the loss (phalanx audit then shows what is missing)")
        }
        logger.warning(
            older
                ? "going on with an older copy of this worker's participant store, as --accept-new-store asks: the changes it lacks are lost; it gets a new id"
                : "going on with a participant store the coordinator does not know for this worker, as --accept-new-store asks: what the previous store held is lost",
            metadata: ["store": "\(opened.id)", "writes": "\(opened.writes)", "previous_store": "\(expected.id)", "previous_writes": "\(expected.writes)", "path": "\(path)"])
        return older ? .useUnderNewID : .use
    }

    /// Why this process refused the store it opened (``verdict(on:path:)``): it is not opened again
    /// until the worker restarts. Opened again on its own, a store put back file by file while the
    /// worker runs was taken half restored (the main file without its -wal, an older state).
    private var refusedStore: String?

    /// Opens the store (if this process can hold it) and tells the participant it is connected.
    func open(over link: any PeerLink) async {
        sessionLink = link
        guard refusedStore == nil else { return }
        if let participant {
            await participant.connected(link)
            return
        }
        if let opening {
            await opening.value
            return
        }
        let task = Task { await self.openStore(over: link) }
        opening = task
        await task.value
        opening = nil
    }

    private func openStore(over link: any PeerLink) async {
        do throws(LedgerError) {
            // Reopened after a write failure, this process still holds the lock (flock is per open file: a second one would fail).
            let lock: DataDirectoryLock
            if let held = self.lock {
                lock = held
            } else {
                lock = try DataDirectoryLock(
                    directory: directory, owner: "participant", setting: "worker.data_dir",
                    why: "two processes of worker \(node) on one participant store would apply its transactions twice")
            }
            // Once this process opened its store, a later session (after the coordinator restarted)
            // opens that file or none: a path deleted or replaced meanwhile would give an empty or a
            // foreign store.
            let path = "\(directory)/participant.sqlite"
            if let known = storeFile, let problem = ParticipantStore.identityProblem(path: path, opened: known) { throw LedgerError(problem) }
            let opened = try await Participant(node: node, path: path, resources: resources, retention: retention, logger: logger)
            switch verdict(on: opened.identity, path: path) {
            case .use:
                break
            case .refuse(let problem):
                await opened.close()
                refusedStore = problem
                throw LedgerError(problem)
            case .useUnderNewID:
                do throws(LedgerError) {
                    try opened.renewStoreIdentity()
                } catch {
                    await opened.close()
                    throw error
                }
            }
            storeFile = storeFile ?? opened.storeFile
            self.lock = lock
            participant = opened
            fileChecked = nil
            lastFailure = nil
            availability(true)
            await opened.connected(link)
            // The coordinator records which store this is now, not at the next heartbeat: a store
            // lost in between would not be told from this one.
            link.write(Phalanx_V1_Envelope(.heartbeat(Self.heartbeat(reporting: opened.reportedStore))))
            link.flush()
        } catch {
            if lastFailure != error.message {
                logger.error("the participant store is not available; transactions get NO until it is", metadata: ["reason": "\(error.message)"])
            }
            lastFailure = error.message
            availability(false)
        }
    }

    func received(_ envelope: Phalanx_V1_Envelope, over link: any PeerLink) async {
        await reopenIfUnavailable(over: link)
        // A file deleted or replaced under the store: nothing more is written to it (it would be
        // lost: the store refuses each write once it sees that) nor is it reopened (that would take
        // the wrong file); the worker must be restarted.
        if let replaced = replacedProblem() {
            if replaced != lastFailure {
                logger.critical("the participant store's file is not the one opened; transactions get NO until the worker is restarted", metadata: ["reason": "\(replaced)"])
                lastFailure = replaced
                availability(false)
            }
            return answerUnavailable(envelope, reason: replaced, over: link)
        }
        if participant != nil, lastFailure != nil, await participant?.writeFailure == nil {
            lastFailure = nil  // its own file was put back while it ran
            availability(true)
        }
        if let participant {
            await participant.received(envelope)
            return
        }
        answerUnavailable(envelope, reason: lastFailure ?? "unknown reason", over: link)
    }

    /// Answers `envelope` as a participant whose store is not available, for `reason`.
    private func answerUnavailable(_ envelope: Phalanx_V1_Envelope, reason: String, over link: any PeerLink) {
        let unavailable = ErrorContext(code: .unavailable, message: "the participant store of \(node) is not available: \(reason)", originNode: node)
        switch envelope.body {
        case .txPrepare(let prepare):
            var vote = Phalanx_V1_TxVote()
            vote.txID = prepare.txID
            vote.error = unavailable.wire
            link.write(Phalanx_V1_Envelope(.txVote(vote)))
        case .txDecision(let decision) where !decision.commit:
            // Presumed abort: whatever the unreadable store holds for it, the outcome is abort.
            var ack = Phalanx_V1_TxAck()
            ack.txID = decision.txID
            link.write(Phalanx_V1_Envelope(.txAck(ack)))
        case .snapshotRequest(let request):
            var part = Phalanx_V1_SnapshotPart()
            part.auditID = request.auditID
            part.last = true
            part.error = unavailable.wire
            link.write(Phalanx_V1_Envelope(.snapshotPart(part)))
        default:
            return  // a COMMIT is resent until the store is back; the audit reports it meanwhile
        }
        link.flush()
    }

    /// The session ended: what is queued is written, and the lock is released.
    func close() async {
        sessionLink = nil
        if let opening { await opening.value }  // a store still opening is closed too
        await participant?.close()
        participant = nil
        lock = nil
    }
}
