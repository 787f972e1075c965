#!/usr/bin/env bash
# Transaction benchmark: a coordinator and 2 workers on 127.0.0.1 (free port), bank accounts
# seeded over them, two-participant transfers (accounts on two different workers) at concurrency 64
# and then 1, and an audit at the end (it must be clean). Stops the processes it started by pid.
# A benchmark, not a test. BENCH_ANY_PAIR=1 lets transfers stay on one worker (about half of them).
# Usage: scripts/bench-bank.sh [PHALANX_BINARY]   (default: the release build)
# BENCH_WORKERS (2), BENCH_ACCOUNTS (10000), BENCH_TRANSFERS (20000 at c64; a tenth at c1).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/local-cluster.sh
bin=$(release_binary "${1:-}")
run=$(mktemp -d)
trap 'cluster_stop; rm -rf "$run"' EXIT
trap 'exit 130' INT TERM

transfers=${BENCH_TRANSFERS:-20000}
cluster_start "$bin" "$run" "${BENCH_WORKERS:-2}" --set log.level=warning

"$bin" bank seed "${phalanx_args[@]}" --accounts "${BENCH_ACCOUNTS:-10000}" --balance 100
pairs=(--across-workers)
[ -n "${BENCH_ANY_PAIR:-}" ] && pairs=()
echo "concurrency 64 (${pairs[*]:-any two accounts}):"
"$bin" bank run "${phalanx_args[@]}" "${pairs[@]}" --transfers "$transfers" --concurrency 64
echo "concurrency 1 (${pairs[*]:-any two accounts}):"
"$bin" bank run "${phalanx_args[@]}" "${pairs[@]}" --transfers $((transfers / 10)) --concurrency 1
"$bin" audit "${phalanx_args[@]}"
