#!/usr/bin/env bash
# End-to-end benchmark: starts a coordinator and 3 workers on 127.0.0.1 (free port), runs
# `phalanx bench` against them, stops them by pid. A benchmark, not a test.
# Usage: scripts/bench.sh [PHALANX_BINARY] [bench options...]   (default: the release build)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$bin" ]; then
    swift build -c release --product phalanx >/dev/null
    bin=$(swift build -c release --show-bin-path)/phalanx
fi
run=$(mktemp -d)
bash scripts/gen-certs.sh run/certs demo coordinator:coordinator w1:worker w2:worker w3:worker client:client >/dev/null

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

common=(--config cluster.conf --set tls.dir=run/certs --set log.level=warning)
"$bin" coordinator "${common[@]}" --set coordinator.port=0 --port-file "$run/port" 2>"$run/coordinator.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$run/port" ] && break; sleep 0.1; done
common+=(--set coordinator.port="$(cat "$run/port")")
for worker in $(seq -f "w%g" 1 "${BENCH_WORKERS:-3}"); do "$bin" worker "${common[@]}" --name "$worker" 2>"$run/$worker.log" & pids+=($!); done
for _ in $(seq 100); do
    [ "$("$bin" status "${common[@]}" --json 2>/dev/null | grep -o '"name"' | wc -l)" -ge "${BENCH_WORKERS:-3}" ] && break
    sleep 0.1
done
"$bin" bench "${common[@]}" "$@"
