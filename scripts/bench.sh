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
source scripts/lib/local-cluster.sh
trap 'cluster_stop; rm -rf "$run"' EXIT
trap 'exit 130' INT TERM

cluster_start "$bin" "$run" "${BENCH_WORKERS:-3}" --set log.level=warning
"$bin" bench "${phalanx_args[@]}" "$@"
