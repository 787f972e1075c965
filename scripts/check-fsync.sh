#!/usr/bin/env bash
# Shows that the coordinator fsyncs its task ledger before it acknowledges a submit: runs a
# coordinator under strace, submits N tasks one at a time (no worker, so nothing else is written),
# and checks that every acknowledgement sent on a socket comes after an fsync/fdatasync of the
# ledger's WAL that followed the submit. `kill -9` alone cannot show a missing fsync (the page
# cache survives it); this can. Usage: bash scripts/check-fsync.sh [PHALANX_BINARY] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v strace >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }
bin=${1:-}
count=${2:-20}
if [ -z "$bin" ]; then
    swift build -c release --product phalanx >/dev/null
    bin=$(swift build -c release --show-bin-path)/phalanx
fi
run=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT
bash scripts/gen-certs.sh "$run/certs" demo coordinator:coordinator client:client >/dev/null
args=(--config cluster.conf --set tls.dir="$run/certs" --set coordinator.data_dir="$run/data" --set log.level=warning)
strace -f -tt -e trace=fsync,fdatasync,sendmsg,write,writev -o "$run/trace" \
    "$bin" coordinator "${args[@]}" --set coordinator.port=0 --port-file "$run/port" 2>"$run/coordinator.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$run/port" ] && break; sleep 0.1; done
port=$(cat "$run/port")
for i in $(seq "$count"); do
    "$bin" submit "${args[@]}" --set coordinator.port="$port" --kind nobody-serves-this --payload "$i" >/dev/null
done
# Stop the coordinator (strace's child) gracefully; strace ends with it.
coordinator=$(pgrep -P "${pids[0]}" | head -1)
kill "$coordinator"
wait "${pids[0]}" 2>/dev/null || true
pids=()
python3 - "$run/trace" "$count" <<'PY'
import re, sys
path, count = sys.argv[1], int(sys.argv[2])
events = []
for line in open(path):
    if re.search(r' (fsync|fdatasync)\(', line) and '= 0' in line:
        events.append('sync')
    elif re.search(r' (write|writev|sendmsg)\((\d+)', line) and '= ' in line:
        events.append('send')
# Each submit: the client's frames arrive, the coordinator fsyncs the WAL, then sends the ack
# (TLS records go out as socket writes). Count the acknowledging sends preceded by a fresh sync.
synced, acked_after_sync, sends_without_sync = False, 0, 0
for event in events:
    if event == 'sync':
        synced = True
    elif synced:
        acked_after_sync += 1
        synced = False
print(f"{count} submits, {events.count('sync')} fsync/fdatasync calls, {acked_after_sync} send bursts right after a sync")
if events.count('sync') < count:
    sys.exit(f"FAIL: fewer syncs ({events.count('sync')}) than acknowledged submits ({count})")
if acked_after_sync < count:
    sys.exit(f"FAIL: only {acked_after_sync} of {count} acknowledgements followed a sync")
print("ok: every acknowledgement followed an fsync of the ledger")
PY
