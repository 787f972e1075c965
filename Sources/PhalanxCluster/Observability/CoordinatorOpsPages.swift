import PhalanxTransport

/// The coordinator's operations endpoint: metrics, health, readiness, and its status page at `/`.
enum CoordinatorOpsPages {
    /// Seconds between the status page's activity samples (120 of them: the last 10 minutes).
    static let historyInterval = 5

    static func endpoint<C: Clock>(for coordinator: Coordinator<C>, metrics: NodeMetrics) -> OpsEndpoint where C.Duration == Duration {
        OpsEndpoint(
            metrics: metrics,
            refresh: { await coordinator.refreshMetrics() },
            readiness: {
                await coordinator.isReady ? (true, "") : (false, "the coordinator is starting, stopping, or cannot write its ledger")
            },
            pages: { request in
                guard request.path == "/" || request.path == "/status" else { return nil }
                let page = await coordinator.statusPage(historyInterval: historyInterval)
                return OpsResponse(contentType: "text/html; charset=utf-8", body: Array(page.render().utf8))
            })
    }

    /// Samples the coordinator's activity every ``historyInterval`` seconds until cancelled.
    static func sampleActivity<C: Clock>(of coordinator: Coordinator<C>, clock: C) async where C.Duration == Duration {
        while !Task.isCancelled {
            await coordinator.sampleActivity()
            guard (try? await clock.sleep(for: .seconds(historyInterval))) != nil else { return }
        }
    }
}
