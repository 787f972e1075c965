#!/usr/bin/env bash
# Checks the Prometheus assets in deploy/prometheus: the alert rules parse, their unit tests pass
# (alerts.test.yml), the example Prometheus and Alertmanager configurations are valid, and the
# test overlay of the rules (every `for:` 2s, scripts/lib/alerts-overlay.sh) parses too.
# Installs Debian's prometheus package (for promtool) when promtool is missing; checks the
# Alertmanager configuration only where amtool is installed (package prometheus-alertmanager).
# Usage: bash scripts/check-alerts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/alerts-overlay.sh

if ! command -v promtool >/dev/null 2>&1; then
    echo "installing: prometheus (for promtool)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

dir=deploy/prometheus
promtool check rules "$dir/alerts.yml"
promtool test rules "$dir/alerts.test.yml"
promtool check config "$dir/prometheus.yml"
if command -v amtool >/dev/null 2>&1; then
    amtool check-config "$dir/alertmanager.yml"
else
    echo "amtool not installed (package prometheus-alertmanager): $dir/alertmanager.yml not checked"
fi

# The overlay an end-to-end run loads instead of the shipped rules; the shipped file stays as it is.
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
shipped=$(sha256sum <"$dir/alerts.yml")
alerts_overlay "$dir/alerts.yml" "$run/alerts.yml"
promtool check rules "$run/alerts.yml"
if [ "$(sha256sum <"$dir/alerts.yml")" != "$shipped" ]; then
    echo "error: making the overlay changed $dir/alerts.yml" >&2
    exit 1
fi
if alerts_overlay "$dir/alerts.yml" "$dir/alerts.yml" 2>/dev/null; then
    echo "error: alerts_overlay accepted its source as the destination" >&2
    exit 1
fi
echo "overlay: $(grep -c 'for: 2s' "$run/alerts.yml") alerts with for: 2s, $dir/alerts.yml unchanged"
echo "all Prometheus checks passed"
