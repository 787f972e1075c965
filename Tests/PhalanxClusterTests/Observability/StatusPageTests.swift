import Foundation
import PhalanxResilience
import Testing

@testable import PhalanxCluster
@testable import PhalanxCore

/// The coordinator's status page, rendered from values.
@Suite struct StatusPageTests {
    static func failure(_ taskID: String, message: String = "the task asked to fail", trace: String, worker: String? = "w1", at: Int64 = 0)
        -> RecentFailures.Entry
    {
        RecentFailures.Entry(
            unixMilliseconds: at, client: "client", taskID: taskID, code: "BUSINESS_REJECTED", message: message, traceID: trace, worker: worker)
    }

    static func page(
        workers: [CoordinatorMetricsSnapshot.Worker] = [], failures: [RecentFailures.Entry] = [], history: [ActivityHistory.Point] = [],
        configure: (inout CoordinatorMetricsSnapshot) -> Void = { _ in }
    ) -> StatusPage {
        var snapshot = CoordinatorMetricsSnapshot()
        snapshot.workers = workers
        configure(&snapshot)
        return StatusPage(
            coordinator: "coordinator", cluster: "demo", snapshot: snapshot, deadLetters: 2, history: history, historyInterval: 5,
            failures: failures, generatedUnixMilliseconds: 1_700_000_000_000)
    }

    @Test func workerNamesAndFailureMessagesAreEscaped() {
        let hostile = "<script>alert('x')</script>"
        let html = Self.page(
            workers: [.init(name: hostile, breaker: "closed", draining: false, running: 0, capacity: 1)],
            failures: [Self.failure("t<1>", message: "bad & \"worse\" \(hostile)", trace: "<b>trace</b>", worker: hostile)]
        ).render()
        #expect(!html.contains("<script"), "\(html)")
        #expect(!html.contains("<b>trace"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        #expect(html.contains("bad &amp; &quot;worse&quot;"))
        #expect(html.contains("client/t&lt;1&gt;"))
    }

    @Test func aWorkerWhoseParticipantStoreIsNotAvailableIsNamedWithTheReasonEscaped() {
        var page = Self.page(workers: [.init(name: "w2", breaker: "closed", draining: false, running: 0, capacity: 1)])
        #expect(!page.render().contains("participant-problem"))
        page.participantProblems = ["w2": "cannot open the participant store: <malformed>"]
        let html = page.render()
        #expect(html.contains("<p class=\"open participant-problem\">w2: participant store not available, every transaction naming it aborts: cannot open the participant store: &lt;malformed&gt;</p>"), "\(html)")
    }

    @Test func itShowsMembersCountsQueuesAndFailureTraceIDs() {
        let traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
        let traceB = "0af7651916cd43dd8448eb211c80319c"
        let html = Self.page(
            workers: [
                .init(name: "w1", breaker: "closed", draining: false, running: 3, capacity: 16),
                .init(name: "w2", breaker: "open", draining: true, running: 0, capacity: 4),
                .init(name: "w3", breaker: "closed", draining: false, running: 70, capacity: 4, prefetch: 192),
            ],
            failures: [Self.failure("b", trace: traceB, at: 1_700_000_001_000), Self.failure("a", trace: traceA, worker: nil)]
        ) { snapshot in
            snapshot.accepted = 12
            snapshot.succeeded = 7
            snapshot.failures = [FailureKind(code: .businessRejected, failureClass: .business): 2, FailureKind(code: .internal, failureClass: .system): 1]
            snapshot.queued.high = 1
            snapshot.queued.normal = 4
            snapshot.queued.low = 2
            snapshot.running = 3
            snapshot.retried = 5
            snapshot.deadLettered = 1
            snapshot.clients = 2
            snapshot.admins = 1
        }.render()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<tr class=\"member\"><td>w1</td><td>worker</td><td>active</td><td class=\"num\">3/16</td><td class=\"closed\">closed</td></tr>"))
        #expect(html.contains("<td class=\"num\">70/4 + 192 prefetch</td>"), "a worker's prefetch is shown apart from its capacity")
        #expect(html.contains("<tr class=\"member\"><td>w2</td><td>worker</td><td>draining</td><td class=\"num\">0/4</td><td class=\"open\">open</td></tr>"))
        #expect(html.contains("<td>coordinator</td><td>coordinator</td><td>serving</td><td class=\"num\">2 clients, 1 admins</td>"))
        for (label, value) in [("accepted", 12), ("succeeded", 7), ("failed", 3), ("queued", 7), ("on workers", 3), ("retried", 5), ("dead-lettered", 1),
                               ("in dead-letter queue", 2)] {
            #expect(html.contains("data-count=\"\(label)\"><b>\(value)</b>"), "\(label) = \(value)")
        }
        #expect(html.contains("<tr><td>normal</td><td class=\"num\">4</td></tr>"))
        #expect(html.contains("<code>\(traceA)</code>") && html.contains("<code>\(traceB)</code>"))
        #expect(html.range(of: traceB)!.lowerBound < html.range(of: traceA)!.lowerBound, "in the order given: newest first")
        #expect(html.contains("2023-11-14 22:13:21"), "failure times in UTC")
        #expect(html.components(separatedBy: "<tr class=\"failure\">").count == 3)
        #expect(!html.contains("No worker is registered") && !html.contains("no-failures"))
    }

    @Test func itIsSelfContainedWithNoScriptsOrExternalAssets() {
        let html = Self.page(
            workers: [.init(name: "w1", breaker: "closed", draining: false, running: 0, capacity: 1)],
            failures: [Self.failure("a", trace: "t")],
            history: [.init(tasksPerSecond: 10, failureRatio: 0.5), .init(tasksPerSecond: 20, failureRatio: 0)]
        ).render()
        #expect(!html.contains("src="))
        #expect(!html.contains("href=\"http") && !html.contains("href='http") && !html.contains("url("))
        #expect(!html.lowercased().contains("<script") && !html.contains("@import"))
        #expect(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"))
        #expect(html.contains("<svg id=\"throughput\"") && html.contains("<svg id=\"failures\""))
    }

    @Test func anEmptyClusterSaysSo() {
        var page = Self.page()
        page.refreshSeconds = 0
        let html = page.render()
        #expect(html.contains("No worker is registered"))
        #expect(html.contains("id=\"no-failures\""))
        #expect(!html.contains("http-equiv=\"refresh\""))
        #expect(html.contains("data-count=\"failed\"><b>0</b>"))
    }

    @Test func aLongFailureMessageIsCutAt200Characters() {
        let message = String(repeating: "m", count: 250) + "TAIL"
        let html = Self.page(failures: [Self.failure("a", message: message, trace: "t")]).render()
        #expect(html.contains(String(repeating: "m", count: 200) + "</td>"))
        #expect(!html.contains("TAIL") && !html.contains(String(repeating: "m", count: 201)))
    }

    @Test func theSparklinesPlotTheHistoryWithinTheirBox() {
        let page = Self.page()
        let flat = page.sparkline([], id: "x", color: "#000")
        #expect(flat.contains("points=\"0,60.0 480.0,60.0\""))
        let line = page.sparkline([0, 5, 10], id: "x", color: "#000")
        #expect(line.contains("points=\"0.0,58.0 240.0,30.0 480.0,2.0\""), "\(line)")
        let capped = page.sparkline([2], id: "x", color: "#000", maximum: 1)
        #expect(capped.contains("points=\"0.0,2.0\""), "a value past the maximum is drawn at the top: \(capped)")
    }
}

@Suite struct ActivityHistoryTests {
    @Test func pointsAreRatesBetweenConsecutiveSamples() {
        var history = ActivityHistory(capacity: 10)
        #expect(history.points.isEmpty)
        history.record(at: .zero, finished: 0, failed: 0)
        #expect(history.points.isEmpty, "one sample is no interval")
        history.record(at: .seconds(5), finished: 50, failed: 5)
        history.record(at: .seconds(10), finished: 50, failed: 5)
        history.record(at: .milliseconds(10_500), finished: 60, failed: 10)
        #expect(history.points == [
            .init(tasksPerSecond: 10, failureRatio: 0.1),
            .init(tasksPerSecond: 0, failureRatio: 0),
            .init(tasksPerSecond: 20, failureRatio: 0.5),
        ])
    }

    @Test func withNoTrafficTheFailureRatioIsZero() {
        var history = ActivityHistory()
        history.record(at: .zero, finished: 7, failed: 3)
        history.record(at: .seconds(5), finished: 7, failed: 3)
        #expect(history.points == [.init(tasksPerSecond: 0, failureRatio: 0)])
    }

    @Test func countersThatWentBackwardsGiveZeroNotANegativeRate() {
        var history = ActivityHistory()
        history.record(at: .zero, finished: 100, failed: 50)
        history.record(at: .seconds(1), finished: 10, failed: 0)
        #expect(history.points == [.init(tasksPerSecond: 0, failureRatio: 0)])
    }

    @Test func onlyTheLastCapacitySamplesAreKept() {
        var history = ActivityHistory(capacity: 3)
        for second in 0..<3 { history.record(at: .seconds(second), finished: UInt64(second * 10), failed: 0) }
        #expect(history.points.count == 2, "at capacity: every sample kept")
        history.record(at: .seconds(3), finished: 100, failed: 70)
        #expect(history.points.count == 2, "past capacity: the oldest sample left")
        #expect(history.points == [.init(tasksPerSecond: 10, failureRatio: 0), .init(tasksPerSecond: 80, failureRatio: 70.0 / 80.0)])
    }

    @Test func samplesOutOfOrderOrAtTheSameTimeAreIgnored() {
        var history = ActivityHistory()
        history.record(at: .seconds(10), finished: 10, failed: 0)
        let before = history
        history.record(at: .seconds(5), finished: 99, failed: 99)
        history.record(at: .seconds(10), finished: 99, failed: 99)
        #expect(history == before)
        #expect(history.points.isEmpty)
        history.record(at: .seconds(11), finished: 20, failed: 1)
        #expect(history.points == [.init(tasksPerSecond: 10, failureRatio: 0.1)])
    }
}

@Suite struct RecentFailuresTests {
    @Test func theNewestComeFirstAndOnlyCapacityAreKept() {
        var failures = RecentFailures(capacity: 3)
        for index in 1...3 { failures.add(StatusPageTests.failure("t\(index)", trace: "trace\(index)")) }
        #expect(failures.entries.map(\.taskID) == ["t3", "t2", "t1"], "at capacity")
        for index in 4...5 { failures.add(StatusPageTests.failure("t\(index)", trace: "trace\(index)")) }
        #expect(failures.entries.map(\.taskID) == ["t5", "t4", "t3"], "past capacity: the oldest left")
    }

    @Test func theDefaultCapacityIsTwenty() {
        var failures = RecentFailures()
        for index in 0..<25 { failures.add(StatusPageTests.failure("t\(index)", trace: "")) }
        #expect(failures.entries.count == 20 && failures.entries.first?.taskID == "t24" && failures.entries.last?.taskID == "t5")
    }
}
