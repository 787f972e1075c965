#!/usr/bin/env bash
# The Phalanx demo: a coordinator and 3 workers on 127.0.0.1, a batch of built-in tasks, a summary,
# bank transfers and a saga over the workers' stores, and an audit that must come out clean.
# Certificates are generated on first use (run/certs); logs go to run/demo-<time>/. At a terminal
# the cluster stays up at the end (status page, /metrics, phalanx status) until Enter or Ctrl-C.
# Every process it starts is stopped by pid when it ends, fails, or is interrupted (Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v openssl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }

echo "building phalanx (release; the first build takes a few minutes)"
swift build -c release --product phalanx 2>&1 | grep -E "error|warning: .*Sources|Compiling phalanx|Build complete" || true
bin=$(swift build -c release --show-bin-path)/phalanx
[ -x "$bin" ] || { echo "the build did not produce $bin" >&2; exit 1; }

run=run/demo-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run"
source scripts/lib/local-cluster.sh
trap cluster_stop EXIT
trap 'echo "interrupted"; exit 130' INT TERM

cluster_start "$bin" "$run" 3
common=("${phalanx_args[@]}")
echo "coordinator on 127.0.0.1:$(cat "$run/port") (pid ${cluster_pids[0]}); logs in $run"
echo "status page and metrics: http://127.0.0.1:$(cat "$run/metrics-port")/ (and /metrics, /readyz)"
"$bin" status "${common[@]}"
echo

total=0 ok=0 failed=0 unexpected=0
started=$(date +%s.%N)
submit() {  # kind payload count
    local line
    line=$("$bin" submit "${common[@]}" --kind "$1" --payload "$2" --count "$3" --wait | tail -1) || true
    echo "  $1 ($2) × $3: $line"
    local s f
    s=$(echo "$line" | sed -n 's/.*: \([0-9]*\) succeeded, \([0-9]*\) failed.*/\1/p')
    f=$(echo "$line" | sed -n 's/.*: \([0-9]*\) succeeded, \([0-9]*\) failed.*/\2/p')
    total=$((total + $3)); ok=$((ok + ${s:-0})); failed=$((failed + ${f:-$3}))
    [ "$1" = fail ] || unexpected=$((unexpected + ${f:-$3}))
}
echo "submitting a batch of built-in tasks:"
submit echo hello 20000
submit sha256 1048576 200
submit sleep 50 300
submit fail business:0.5 100
submit fail system:0.2 100
ended=$(date +%s.%N)
seconds=$(echo "$ended - $started" | bc -l 2>/dev/null || awk "BEGIN{print $ended - $started}")
echo
printf 'summary: %d tasks, %d succeeded, %d failed (%d of them not fail tasks), %.2f s, %.0f tasks/s\n' \
    "$total" "$ok" "$failed" "$unexpected" "$(echo "$seconds")" "$(awk "BEGIN{print $total / $seconds}")"
echo "(fail tasks fail on purpose: about half of the business:0.5 ones, which are never retried; the system:0.2 ones"
echo " are retried up to retry.max_attempts times on other workers, so only about 0.2^3 = 1 % of them fail for good)"
echo
"$bin" status "${common[@]}"
echo
echo "benchmark (echo, 64-byte payload, over mTLS on loopback):"
"$bin" bench "${common[@]}" --tasks 100000 --round-trips 2000 || true
echo
echo "transactions: a bank of 300 accounts spread over the workers, random transfers (two-phase commit), a saga:"
"$bin" bank seed "${common[@]}" --accounts 300 --balance 1000
"$bin" bank run "${common[@]}" --transfers 5000 --concurrency 32
"$bin" tx run "${common[@]}" w1:alice=100 w2:bob=0 --not-below 0 >/dev/null
"$bin" saga "${common[@]}" 'w1:alice-=30 | w1:alice+=30' 'w2:bob+=30 | w2:bob-=30' 'w1:alice-=1000' || true  # the last step fails: both are undone
echo "a resource of the worker's own (TCC): restock, then take 3 and pay for them, then ask for more than is left:"
"$bin" tx run "${common[@]}" w1:@stock/restock/sku-1=10 >/dev/null
"$bin" tx run "${common[@]}" w1:@stock/reserve/sku-1=3 w1:alice-=3 w2:bob+=3
"$bin" tx run "${common[@]}" w1:@stock/reserve/sku-1=8 w1:alice-=8 w2:bob+=8 || true  # refused by the resource: neither happens
echo
echo "audit (atomicity on every worker, nothing in doubt, money conserved, every task one result):"
audit=0
"$bin" audit "${common[@]}" || audit=$?
if [ "$unexpected" -gt 0 ]; then
    echo "$unexpected task(s) other than fail tasks failed; the logs are in $run" >&2
    exit 1
fi
if [ "$audit" -ne 0 ]; then
    echo "the audit did not come out clean (exit $audit); the logs are in $run" >&2
    exit 1
fi
echo "logs: $run"
# At a terminal the cluster stays up to be looked at: the status page, /metrics, `phalanx status`.
if [ -t 0 ] && [ -z "${CI:-}" ]; then
    echo
    echo "the cluster keeps running: status page http://127.0.0.1:$(cat "$run/metrics-port")/, metrics .../metrics,"
    echo "  $bin status ${common[*]}"
    read -r -p "press Enter (or Ctrl-C) to stop it " _ || true
fi
