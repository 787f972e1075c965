#!/usr/bin/env bash
# End-to-end benchmark: starts a coordinator and 3 workers on 127.0.0.1 (free port), runs
# `phalanx bench` against them, stops them by pid. A benchmark, not a test.
# Usage: scripts/bench.sh [PHALANX_BINARY] [bench options...]   (default: the release build)
# BENCH_WORKERS sets the number of workers (3); BENCH_SET adds --set flags for every node, e.g.
# BENCH_SET="--set worker.capacity=256".
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/local-cluster.sh
bin=$(release_binary "${1:-}")
[ $# -gt 0 ] && shift
run=$(mktemp -d)
trap 'cluster_stop; rm -rf "$run"' EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086 # BENCH_SET is a list of flags
cluster_start "$bin" "$run" "${BENCH_WORKERS:-3}" --set log.level=warning ${BENCH_SET:-}
"$bin" bench "${phalanx_args[@]}" "$@"
