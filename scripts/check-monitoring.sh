#!/usr/bin/env bash
# End-to-end check of Phalanx's monitoring against real tools: a local cluster (2 workers), its
# /metrics through promtool, /healthz and /readyz, a real Prometheus loading the alert rules (as the
# test overlay with every `for:` 2s, scripts/lib/alerts-overlay.sh) and a real Alertmanager, a
# worker killed until PhalanxWorkerDown fires and reaches Alertmanager, and the coordinator's status
# page rendered in headless Chromium (DOM checks and a screenshot).
# Installs the Debian packages prometheus, prometheus-alertmanager and chromium (and jq, curl) where
# missing.
# Every process it starts is stopped by pid when it ends, fails or is interrupted.
# Usage: PHALANX_BIN=path/to/phalanx bash scripts/check-monitoring.sh [RUN-FOLDER]
#        (without PHALANX_BIN it builds phalanx in debug first)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/local-cluster.sh
source scripts/lib/alerts-overlay.sh

run=${1:-${TMPDIR:-/tmp}/phalanx-monitoring-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$run"
run=$(cd "$run" && pwd)

# --- cleanup: stop what we started (by pid), and say where the logs are on failure -------------
pids=()      # prometheus, alertmanager, chromium (the cluster's are in cluster_pids)
step="setup"
finish() {
    local rc=$?
    local pid
    [ -z "${browser_pid:-}" ] || pids+=("$browser_pid")
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    cluster_stop
    if [ "$rc" -ne 0 ]; then
        echo "monitoring checks FAILED in step: $step; logs and files are in $run" >&2
    fi
    exit "$rc"
}
trap finish EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

fail() { echo "error: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.5 s until it succeeds, at most SECONDS.
wait_for() {
    local limit=$1 what=$2 start
    shift 2
    start=$(now)
    until "$@" >/dev/null 2>&1; do
        awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' &&
            fail "$what: not within $limit s"
        sleep 0.5
    done
}
# jq_check URL FILTER: succeeds when jq's FILTER on the JSON at URL yields true.
jq_check() { curl -fsS "$1" | jq -e "$2" >/dev/null; }
# metric NAME: the coordinator's value of NAME summed over its label sets (0 if absent), as an integer.
metric() {
    curl -fsS "http://127.0.0.1:$coord_mport/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d", s }'
}
# browser ARGS...: headless Chromium (own profile in the run folder), bounded to 60 s; in the
# background only so that the EXIT trap knows its pid (timeout passes the signal on to Chromium).
browser_pid=
browser() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --no-default-browser-check --hide-scrollbars --user-data-dir="$run/chromium-profile" "$@" \
        2>>"$run/chromium.log" &
    browser_pid=$!
    local rc=0
    wait "$browser_pid" || rc=$?
    browser_pid=   # reaped: the EXIT trap must not signal that pid any more
    [ "$rc" -eq 0 ] || { echo "chromium $* exited $rc (124: timed out); see $run/chromium.log" >&2; return 1; }
}

# --- tools ----------------------------------------------------------------------------------------
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)   # its fonts are only a Recommends
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -z "${PHALANX_BIN:-}" ]; then
    echo "building phalanx (debug)"
    swift build --product phalanx
    PHALANX_BIN=$(swift build --show-bin-path)/phalanx
fi
bin=$PHALANX_BIN
[ -x "$bin" ] || fail "no phalanx binary at $bin"

# --- 1. cluster and some traffic -----------------------------------------------------------------
step="1 (cluster)"
echoes=40 failures=10
cluster_start "$bin" "$run" 2
for f in metrics-port w1.metrics-port w2.metrics-port; do [ -s "$run/$f" ] || fail "no $run/$f"; done
coord_mport=$(cat "$run/metrics-port")
w1_mport=$(cat "$run/w1.metrics-port") w2_mport=$(cat "$run/w2.metrics-port")
"$bin" submit "${phalanx_args[@]}" --kind echo --payload hi --count "$echoes" --wait >"$run/submit-echo.out" ||
    fail "echo tasks did not all succeed (see $run/submit-echo.out)"
rc=0
"$bin" submit "${phalanx_args[@]}" --kind fail --payload business:1 --count "$failures" --wait >"$run/submit-fail.out" || rc=$?
[ "$rc" -eq 3 ] || fail "submit of fail tasks exited $rc, not 3 (some failed); see $run/submit-fail.out"
grep -oE 'trace=[0-9a-f]{32}' "$run/submit-fail.out" | cut -d= -f2 >"$run/failure-traces"
[ -s "$run/failure-traces" ] || fail "submit printed no trace ids for the failed tasks"
echo "1. cluster up (coordinator metrics :$coord_mport, workers :$w1_mport :$w2_mport); $echoes echo tasks succeeded, $failures fail business:1 tasks failed"

# --- 2. promtool on live /metrics --------------------------------------------------------------
step="2 (promtool check metrics)"
for node in coordinator:$coord_mport w1:$w1_mport; do
    curl -fsS "http://127.0.0.1:${node#*:}/metrics" >"$run/${node%%:*}.metrics"
    promtool check metrics <"$run/${node%%:*}.metrics" >"$run/${node%%:*}.promtool" 2>&1 ||
        fail "promtool check metrics on ${node%%:*}: $(cat "$run/${node%%:*}.promtool")"
done
echo "2. promtool check metrics passes on the coordinator's and w1's /metrics"

# --- 3. health and readiness ---------------------------------------------------------------------
step="3 (healthz/readyz)"
for port in "$coord_mport" "$w1_mport" "$w2_mport"; do
    for path in healthz readyz; do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$path")
        [ "$code" = 200 ] || fail "GET :$port/$path answered $code"
    done
done
echo "3. /healthz and /readyz answer 200 on all 3 nodes"

# --- 4. Alertmanager and Prometheus --------------------------------------------------------------
step="4 (Prometheus and Alertmanager)"
am_port=$(free_port)
cat >"$run/alertmanager.yml" <<EOF
route:
  receiver: sink
  group_wait: 0s
receivers:
  - name: sink
EOF
prometheus-alertmanager --config.file="$run/alertmanager.yml" --storage.path="$run/alertmanager-data" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$run/alertmanager.log" 2>&1 &
pids+=($!)
am=http://127.0.0.1:$am_port

alerts_overlay deploy/prometheus/alerts.yml "$run/alerts.yml"
prom_port=$(free_port)
while [ "$prom_port" = "$am_port" ]; do prom_port=$(free_port); done   # Alertmanager may not listen yet
cat >"$run/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $run/alerts.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$am_port"]
scrape_configs:
  - job_name: phalanx-coordinator
    static_configs:
      - targets: ["127.0.0.1:$coord_mport"]
  - job_name: phalanx-worker
    static_configs:
      - targets: ["127.0.0.1:$w1_mport", "127.0.0.1:$w2_mport"]
EOF
promtool check config "$run/prometheus.yml" >"$run/promtool-config.out" 2>&1 ||
    fail "promtool check config: $(cat "$run/promtool-config.out")"
prometheus --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/prometheus-data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$run/prometheus.log" 2>&1 &
pids+=($!)
prom=http://127.0.0.1:$prom_port

started=$(now)
wait_for 30 "Alertmanager ready" curl -fsS "$am/-/ready"
wait_for 30 "Prometheus reports 3 targets up" jq_check "$prom/api/v1/targets" \
    '[.data.activeTargets[] | select(.health == "up")] | length == 3'
rules=$(grep -c '^ *- alert:' "$run/alerts.yml")
# Loaded, and each rule evaluated at least once without error.
wait_for 30 "Prometheus loaded and evaluated the $rules rules" jq_check "$prom/api/v1/rules" \
    "[.data.groups[].rules[] | select(.health == \"ok\")] | length == $rules"
echo "4. Prometheus (:$prom_port) scrapes 3 targets up and evaluates $rules alert rules (for: 2s), alerting to Alertmanager (:$am_port), after $(since "$started") s"

# --- 5. quiet while healthy ------------------------------------------------------------------------
step="5 (no alerts while healthy)"
sleep 3   # longer than every for: 2s, so a pending alert would be firing by now
curl -fsS "$prom/api/v1/alerts" >"$run/alerts-healthy.json"
active=$(jq -r '[.data.alerts[] | "\(.labels.alertname) (\(.state))"] | join(", ")' "$run/alerts-healthy.json")
[ -z "$active" ] || fail "alerts active while the cluster is healthy: $active"
echo "5. no alert pending or firing while the cluster is healthy"

# --- 6. a worker dies: PhalanxWorkerDown fires and reaches Alertmanager ---------------------------
step="6 (PhalanxWorkerDown)"
w1_pid=${cluster_pids[1]}
{ kill -9 "$w1_pid"; wait "$w1_pid"; } 2>/dev/null || true   # reaped here, quietly ...
cluster_pids=("${cluster_pids[0]}" "${cluster_pids[2]}")      # ... so cluster_stop leaves its pid alone
killed=$(now)
wait_for 60 "PhalanxWorkerDown firing in Prometheus for 127.0.0.1:$w1_mport" jq_check "$prom/api/v1/alerts" \
    "any(.data.alerts[]; .labels.alertname == \"PhalanxWorkerDown\" and .state == \"firing\" and .labels.instance == \"127.0.0.1:$w1_mport\")"
fired=$(since "$killed")
wait_for 60 "PhalanxWorkerDown at Alertmanager" jq_check "$am/api/v2/alerts" \
    "any(.[]; .labels.alertname == \"PhalanxWorkerDown\" and .labels.instance == \"127.0.0.1:$w1_mport\")"
arrived=$(since "$killed")
curl -fsS "$prom/api/v1/alerts" >"$run/alerts-after-kill.json"
others=$(jq -r '[.data.alerts[] | select(.labels.alertname != "PhalanxWorkerDown") | .labels.alertname] | unique | join(", ")' "$run/alerts-after-kill.json")
[ -z "$others" ] || fail "other alerts active after killing one worker: $others"
echo "6. killed w1 (kill -9, pid $w1_pid): PhalanxWorkerDown firing in Prometheus after $fired s, at Alertmanager after $arrived s (no other alert)"

# --- 7. the status page in headless Chromium ------------------------------------------------------
step="7 (status page in Chromium)"
page=http://127.0.0.1:$coord_mport/
# The coordinator may take a few heartbeats to declare w1 dead; wait until the page drops it.
w1_gone() { curl -fsS "$page" >"$run/status-page.curl.html" && ! grep -qE '<tr[^>]*class="member"[^>]*><td>w1<' "$run/status-page.curl.html"; }
wait_for 30 "the status page drops w1" w1_gone
browser --dump-dom "$page" >"$run/status-page.dom.html"
dom=$run/status-page.dom.html
members=$(grep -oE '<tr[^>]*class="member"[^>]*><td>[^<]*' "$dom" | sed 's/.*<td>//' | paste -sd, -)
[ "$members" = w2 ] || fail "member rows in the page: '$members', expected only w2"
card() { grep -oE "data-count=\"$1\"[^>]*><b>[0-9]+" "$dom" | grep -oE '[0-9]+$' || echo none; }
accepted=$(metric phalanx_tasks_submitted_total)
succeeded=$(metric phalanx_tasks_succeeded_total)
failed=$(metric phalanx_tasks_failed_total)
[ "$accepted/$succeeded/$failed" = "$((echoes + failures))/$echoes/$failures" ] ||
    fail "coordinator metrics submitted/succeeded/failed $accepted/$succeeded/$failed, submitted $((echoes + failures))/$echoes/$failures"
shown="$(card accepted)/$(card succeeded)/$(card failed)"
[ "$shown" = "$accepted/$succeeded/$failed" ] || fail "page cards accepted/succeeded/failed $shown, /metrics $accepted/$succeeded/$failed"
trace=$(sed -n '/id="recent-failures"/,/<\/table>/p' "$dom" | grep -oE '<code>[0-9a-f]{32}</code>' | head -1 | grep -oE '[0-9a-f]{32}' || true)
[ -n "$trace" ] || fail "no trace id in the recent failures table"
grep -qx "$trace" "$run/failure-traces" || fail "trace id $trace in the page is none of the failed tasks' ($run/failure-traces)"
browser --screenshot="$run/status-page.png" --window-size=1200,1000 "$page" >/dev/null
size=$(stat -c %s "$run/status-page.png" 2>/dev/null || echo 0)
[ "$size" -gt 10240 ] || fail "screenshot $run/status-page.png is $size bytes"
echo "7. status page in Chromium: member row w2 only, cards accepted/succeeded/failed $shown = /metrics, failure trace $trace shown; screenshot $run/status-page.png ($((size / 1024)) KB)"

step="done"
echo "monitoring checks passed (files in $run)"
