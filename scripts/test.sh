#!/usr/bin/env bash
# Runs the whole test suite from a clean clone: installs what the tests need, builds, tests.
# Usage: bash scripts/test.sh            (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use (openssl for certificates, python3 for process tests).
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Our own code must build without warnings (dependencies' warnings are theirs).
log=$(mktemp)
swift build --build-tests 2>&1 | tee "$log"
if grep -E "^$PWD/(Sources|Tests|Examples)/.*warning:" "$log"; then
    echo "error: the build has warnings in our own code (listed above); fix them" >&2
    exit 1
fi
rm -f "$log"
# Test files (certificates, ledgers, process logs) go to one folder that the next run empties, so
# the last run's logs stay there to read after a failure and runs do not pile up in /tmp.
TMPDIR="${TMPDIR:-/tmp}/phalanx-test-run"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
export TMPDIR
echo "test files: $TMPDIR"
swift test --skip-build

# The monitoring assets and the real stack: promtool checks and rule unit tests, then a real
# Prometheus and Alertmanager against a live local cluster, and the status page in Chromium.
bash scripts/check-alerts.sh
PHALANX_BIN="$(swift build --show-bin-path)/phalanx" bash scripts/check-monitoring.sh "$TMPDIR/monitoring"
