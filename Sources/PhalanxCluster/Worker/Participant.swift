import Foundation
import Logging
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxTransport
import PhalanxWire

/// A worker's transaction participant: the shell around a ``ParticipantMachine`` and its
/// ``ParticipantStore``. Changes go through a group commit. A YES vote goes out as soon as its
/// prepared record is durable; an acknowledgement waits until everything queued before it is.
///
/// It lives for one session with the coordinator (``ParticipantHost`` opens it when the worker
/// registers): it asks about every transaction it holds prepared, and again every
/// `inquiryInterval` while any is in doubt. For an audit it
/// pauses, lets every queued change become durable, and sends the store as it is on disk.
public actor Participant {
    public nonisolated let node: String
    var machine: ParticipantMachine
    /// The resources registered on this worker, by name (TCC participants of the user's own).
    let resources: [String: any TransactionalResource]
    /// Resource hooks running now (an audit waits until none is), and the ones waiting to start.
    var hooksInFlight = 0
    var hooksWaitingForResume: [CheckedContinuation<Void, Never>] = []
    var hooksWaitingForIdle: [CheckedContinuation<Void, Never>] = []
    var closed = false
    private let store: ParticipantStore
    private let writer: GroupCommit<EncodedParticipantChange>
    let logger: Logger
    private var link: (any PeerLink)?
    private var durableUpTo: GroupCommit<EncodedParticipantChange>.Sequence = 0
    private var deferred: [(sequence: GroupCommit<EncodedParticipantChange>.Sequence, action: Deferred)] = []
    private var writerTask: Task<Void, Never>?
    private var inquiryTask: Task<Void, Never>?
    private var pruneTask: Task<Void, Never>?
    /// The history of outcomes is kept this long (`coordinator.retention_ms`, like the decision log).
    private let retention: Duration
    private var failure: LedgerError?
    /// While a snapshot is taken, messages wait here (in order).
    var paused: [Phalanx_V1_Envelope]?
    public static let inquiryInterval: Duration = .seconds(2)
    /// Decisions refused already (logged once each, however often they are resent).
    private var refusedDecisions = Set<String>()

    private enum Deferred {
        case send(Phalanx_V1_Envelope)
        case prepareDurable(String)
        case acknowledgeDurable(String)
        case resume(CheckedContinuation<Void, Never>)
    }

    /// Opens the store at `path` and reads back its values and prepared transactions.
    public init(
        node: String, path: String, resources: [any TransactionalResource] = [], retention: Duration = .seconds(7 * 86_400), logger: Logger
    ) async throws(LedgerError) {
        self.node = node
        self.resources = Dictionary(resources.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.logger = logger
        self.retention = retention
        let store = try ParticipantStore(path: path)
        identity = try store.claim(for: node)
        self.store = store
        let loaded = try await store.load()
        machine = ParticipantMachine(node: node, values: loaded.values, prepared: loaded.prepared, finished: loaded.finished)
        writer = GroupCommit(label: "phalanx.participant-writer", size: \.approximateBytes) { changes throws(LedgerError) in
            try store.applyBlocking(changes)
        }
        if !loaded.prepared.isEmpty {
            logger.notice("participant holds prepared transactions; asking the coordinator how they ended", metadata: ["in_doubt": "\(loaded.prepared.count)"])
        }
    }

    /// Starts the group-commit writer (once), and the pruning of old history. Durability is
    /// reported on `executor` (the coordinator link's event loop: the votes and acknowledgements
    /// that waited for it go out without a hop).
    private func startWriter(on executor: (any TaskExecutor)?) {
        guard writerTask == nil else { return }
        let store = store
        let retention = retention
        let logger = logger
        pruneTask = Task {
            let interval = max(Duration.seconds(1), min(.seconds(60), retention / 10))
            repeat {
                let cutoff = WireTime.nowUnixMilliseconds() - retention.wholeMilliseconds
                do throws(LedgerError) {
                    let pruned = try await store.pruneHistory(before: cutoff)
                    if pruned > 0 { logger.info("pruned participant history past its retention", metadata: ["transactions": "\(pruned)"]) }
                } catch {
                    // Cancelled with its session (the store closes): not a failure to report.
                    if !Task.isCancelled { logger.error("cannot prune the participant store; will try again", metadata: ["error": "\(error)"]) }
                }
            } while (try? await Task.sleep(for: interval)) != nil
        }
        let writer = writer
        writerTask = Task(executorPreference: executor ?? globalConcurrentExecutor) {
            do throws(LedgerError) {
                try await writer.run { sequence in await self.durable(upTo: sequence) }
            } catch {
                await self.storeFailed(error)
            }
        }
    }

    /// Stops writing once what is queued is durable.
    public func close() async {
        closed = true
        resumeHooks()  // hooks waiting for an audit see `closed` and stop
        // A hook still running finishes first: the next session may run the same transaction's
        // hooks, and an abort must not overtake a prepare of this one. A hook that never returns
        // must not keep the worker from reconnecting or stopping: after a while it is left behind.
        if hooksInFlight > 0 {
            let timeout = Task {
                guard (try? await Task.sleep(for: Self.hookCloseGrace)) != nil else { return }
                self.stopWaitingForHooks()
            }
            await withCheckedContinuation { hooksWaitingForIdle.append($0) }
            timeout.cancel()
        }
        inquiryTask?.cancel()
        pruneTask?.cancel()
        link = nil
        writer.finish()
        await writerTask?.value
        await pruneTask?.value  // its read must not keep the checkpoint from taking everything
        do throws(LedgerError) {
            try store.checkpoint()
        } catch {
            logger.warning("the participant store's -wal was not copied into its main file; it is read back at the next start", metadata: ["error": "\(error)"])
        }
    }

    /// The worker registered over `link`: ask about every transaction in doubt.
    func connected(_ link: any PeerLink) {
        startWriter(on: link.executor)
        self.link = link
        inquire()
        inquiryTask?.cancel()
        inquiryTask = Task {
            while (try? await Task.sleep(for: Self.inquiryInterval)) != nil {
                self.inquire()
            }
        }
    }

    func disconnected() {
        link = nil
        inquiryTask?.cancel()
        inquiryTask = nil
        deferred.removeAll { if case .send = $0.action { true } else { false } }  // the coordinator asks again or resends
    }

    private func inquire() {
        let ids = machine.inDoubt
        guard !ids.isEmpty, let link else { return }
        var inquiry = Phalanx_V1_TxInquiry()
        inquiry.txIds = ids
        link.write(Phalanx_V1_Envelope(.txInquiry(inquiry)))
        link.flush()
    }

    /// A message from the coordinator for the participant.
    func received(_ envelope: Phalanx_V1_Envelope) {
        startWriter(on: link?.executor)
        if paused != nil {
            paused?.append(envelope)
            return
        }
        let nowUnix = WireTime.nowUnixMilliseconds()
        switch envelope.body {
        case .txPrepare(let prepare):
            var operations: [StoreOperation] = []
            for operation in prepare.operations {
                switch StoreOperation.from(wire: operation) {
                case .success(let parsed): operations.append(parsed)
                case .failure(var error):
                    error.originNode = node
                    perform([.vote(id: prepare.txID, .no(error))])
                    return
                }
            }
            if let unknown = operations.lazy.compactMap(\.resourceOperation).first(where: { self.resources[$0.resource] == nil }) {
                let registered = resources.keys.sorted()
                perform([.vote(id: prepare.txID, .no(ErrorContext(
                    code: .invalidArgument,
                    message: "\(node) has no resource named \(unknown.resource) (\(registered.isEmpty ? "it registers none" : "it registers \(registered.joined(separator: ", "))"))",
                    originNode: node)))])
                return
            }
            perform(machine.prepare(
                id: prepare.txID, operations: operations, voteDeadlineUnixMilliseconds: prepare.voteDeadlineUnixMs, nowUnixMilliseconds: nowUnix,
                maximumReadBytes: TransactionLimits.readBudget(forFrameBytes: link?.peer.maximumFrameBytes ?? FrameLimits.minimumBytes)))
        case .txDecision(let decision):
            perform(machine.decide(decision.txID, commit: decision.commit))
        case .snapshotRequest(let request):
            Task { await self.sendSnapshot(auditID: request.auditID) }
        default:
            break
        }
    }

    func perform(_ actions: [ParticipantMachine.Action]) {
        for action in actions {
            switch action {
            case .persistPrepared(let record):
                let sequence = writer.enqueue([ParticipantStore.encode(.prepared(record))])  // encoded here, beside the writer
                deferred.append((sequence, .prepareDurable(record.id)))
            case .persistOutcome(let id, let committed, let writes, let acknowledge):
                let sequence = writer.enqueue([
                    ParticipantStore.encode(.outcome(id: id, committed: committed, writes: writes, unixMilliseconds: WireTime.nowUnixMilliseconds()))
                ])
                if acknowledge { deferred.append((sequence, .acknowledgeDurable(id))) }
            case .vote(let id, let vote):
                var message = Phalanx_V1_TxVote()
                message.txID = id
                // What it votes on is durable in a store with at least this many writes: the
                // coordinator's lower bound for an older copy (heartbeats alone lag by up to their interval).
                message.storeWrites = UInt64(clamping: store.durableWrites)
                switch vote {
                case .yes(let reads):
                    message.yes = true
                    message.reads = StoreReads.wire(reads, participant: node)
                case .no(let error):
                    message.error = error.wire
                }
                // At once: a YES comes only when its own prepared record is durable (everything queued
                // before it is durable too: one ordered writer); a NO needs nothing durable.
                send(Phalanx_V1_Envelope(.txVote(message)))
            case .acknowledge(let id):
                sendWhenDurable(acknowledgement(id))
            case .refuseDecision(let id, let reason):
                // The coordinator resends it every second: said once per transaction, not each time.
                if refusedDecisions.count >= 10_000 { refusedDecisions.removeAll() }
                let level: Logger.Level = refusedDecisions.insert(id).inserted ? .error : .debug
                logger.log(level: level, "a decision cannot be applied; it is not acknowledged (the audit will report it)", metadata: ["transaction": "\(id)", "reason": "\(reason)"])
            case .prepareResources(let id, let operations):
                runPrepareHooks(id, operations)
            case .finishResources(let id, let commit, let operations):
                runFinishHooks(id, commit: commit, operations)
            }
        }
    }

    private func acknowledgement(_ id: String) -> Phalanx_V1_Envelope {
        var ack = Phalanx_V1_TxAck()
        ack.txID = id
        ack.storeWrites = UInt64(clamping: store.durableWrites)
        return Phalanx_V1_Envelope(.txAck(ack))
    }

    private func sendWhenDurable(_ envelope: Phalanx_V1_Envelope) {
        let barrier = writer.barrier
        if barrier > durableUpTo || !deferred.isEmpty {
            deferred.append((barrier, .send(envelope)))
        } else {
            send(envelope)
        }
    }

    private func send(_ envelope: Phalanx_V1_Envelope) {
        guard let link else { return }  // the coordinator resends decisions and re-asks; votes are re-judged
        link.write(envelope)
        link.flush()
    }

    private func durable(upTo sequence: GroupCommit<EncodedParticipantChange>.Sequence) {
        durableUpTo = max(durableUpTo, sequence)
        while let first = deferred.first, first.sequence <= durableUpTo {
            deferred.removeFirst()
            switch first.action {
            case .send(let envelope): send(envelope)
            case .prepareDurable(let id):
                Failpoints.hit("participant.after_prepare_durable", context: id)
                if SagaMachine.parse(id)?.compensation == true { Failpoints.hit("participant.after_compensation_prepare_durable", context: id) }
                perform(machine.prepareDurable(id, nowUnixMilliseconds: WireTime.nowUnixMilliseconds()))
            case .acknowledgeDurable(let id):
                Failpoints.hit("participant.after_outcome_durable", context: id)
                send(acknowledgement(id))
            case .resume(let waiter): waiter.resume()
            }
        }
    }

    /// Why writing the store failed, once it did: this participant sends nothing more, and its
    /// host replaces it by reopening the store.
    var writeFailure: LedgerError? { failure }

    /// Why the store's file is no longer the one opened (deleted or replaced under the worker), or nil.
    nonisolated func replacedProblem() -> String? { store.replacedProblem() }

    /// The file the store opened.
    nonisolated var storeFile: FileIdentity? { store.opened }

    /// Which store it was when opened (its id and writes then), judged against the coordinator's.
    nonisolated let identity: ParticipantStoreIdentity

    /// The store as heartbeats report it now: its current id and the changes it made durable so far.
    nonisolated var reportedStore: KnownParticipantStore? { store.reported }

    /// Gives the store a new id (an older copy accepted as the worker's store).
    nonisolated func renewStoreIdentity() throws(LedgerError) { try store.renewIdentity() }

    private func storeFailed(_ error: LedgerError) {
        guard failure == nil else { return }
        failure = error
        logger.critical("cannot write the participant store; no more votes or acknowledgements are sent", metadata: ["error": "\(error)"])
        // A prepare that did not become durable was never voted on: NO is safe, and tells the
        // coordinator now rather than at its vote deadline.
        let reason = ErrorContext(code: .unavailable, message: "cannot write the participant store of \(node): \(error.message)", originNode: node)
        for case (_, .prepareDurable(let id)) in deferred {
            var vote = Phalanx_V1_TxVote()
            vote.txID = id
            vote.error = reason.wire
            send(Phalanx_V1_Envelope(.txVote(vote)))
        }
        deferred.removeAll()
        link = nil
    }

    // MARK: - Audit

    /// Pauses, waits until everything queued is durable, and sends the store as it is on disk in
    /// parts that fit the coordinator's frame limit. The pause lasts only until the store's read
    /// transaction holds its snapshot and the resources have reported: then an empty first part
    /// tells the coordinator the cut is taken (it sends the decisions it held back), and what
    /// arrived meanwhile is handled while the rest is read and sent. A pause as long as the whole
    /// read made votes miss their deadline under load.
    /// How often an empty snapshot part says the snapshot is still being read.
    static var snapshotKeepAliveInterval: Duration { .milliseconds(200) }

    private func sendSnapshot(auditID: UInt64) async {
        guard paused == nil else { return }
        paused = []
        // While the cut is taken and the store read and encoded (a large one takes a while), a
        // sign of life now and then: the audit's timeout bounds silence, not size.
        let keepAlive = Task {
            while (try? await Task.sleep(for: Self.snapshotKeepAliveInterval)) != nil {
                var alive = Phalanx_V1_SnapshotPart()
                alive.auditID = auditID
                alive.alive = true
                self.send(Phalanx_V1_Envelope(.snapshotPart(alive)))
            }
        }
        defer { keepAlive.cancel() }
        // No resource hook runs while the store and the resources are read (those that were
        // running finish first, and what they queue is waited for below).
        while hooksInFlight > 0 { await withCheckedContinuation { hooksWaitingForIdle.append($0) } }
        let barrier = writer.lastQueued
        if barrier > durableUpTo || !deferred.isEmpty {
            await withCheckedContinuation { deferred.append((barrier, .resume($0))) }
        }
        let (consistent, isConsistent) = AsyncStream.makeStream(of: Void.self)
        let store = store
        let node = node
        let reading = Task { () throws(LedgerError) -> ParticipantSnapshot in
            defer { isConsistent.finish() }
            return try await store.snapshot(node: node, onceConsistent: { isConsistent.yield() })
        }
        for await _ in consistent { break }  // the read holds its snapshot (or failed)
        let resources = await resourceReports()
        var cut = Phalanx_V1_SnapshotPart()
        cut.auditID = auditID
        send(Phalanx_V1_Envelope(.snapshotPart(cut)))  // empty: the cut is taken
        let waiting = paused ?? []
        paused = nil
        resumeHooks()
        for envelope in waiting { received(envelope) }
        do {
            var snapshot = try await reading.value
            snapshot.resources = resources
            let budget = max(4_096, (link?.peer.maximumFrameBytes ?? 4 * 1024 * 1024) - 1_024)
            // Encoded off the actor: a long history must not hold up the votes meanwhile.
            let parts = await Task.detached { [snapshot] in SnapshotStream.parts(of: snapshot, maximumBytes: budget) }.value
            for (index, part) in parts.enumerated() {
                var message = Phalanx_V1_SnapshotPart()
                message.auditID = auditID
                message.snapshotItems = part
                message.last = index == parts.count - 1
                send(Phalanx_V1_Envelope(.snapshotPart(message)))
            }
        } catch {
            // Said to the coordinator, so that the audit names the cause at once instead of waiting out its timeout.
            logger.error("cannot read the participant store for an audit", metadata: ["error": "\(error)"])
            var message = Phalanx_V1_SnapshotPart()
            message.auditID = auditID
            message.last = true
            message.error = ErrorContext(code: .unavailable, message: "\(node) cannot read its participant store: \(error)", originNode: node).wire
            send(Phalanx_V1_Envelope(.snapshotPart(message)))
        }
    }
}
