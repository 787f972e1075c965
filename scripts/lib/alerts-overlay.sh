# Sourced by scripts/check-alerts.sh (and by end-to-end runs that want the alerts to fire in
# seconds): alerts_overlay SRC DST writes to DST a copy of the rule file SRC with every `for:`
# replaced by `for: 2s`; everything else stays byte for byte. SRC is never written: DST must be
# another file. Returns non-zero (with a message) on a bad argument or if the copy is not exactly
# that. Usage: source scripts/lib/alerts-overlay.sh; alerts_overlay deploy/prometheus/alerts.yml "$run/alerts.yml"

alerts_overlay() {
    if [ $# -ne 2 ]; then
        echo "usage: alerts_overlay SRC DST" >&2
        return 2
    fi
    local src=$1 dst=$2 tmp
    if [ ! -f "$src" ] || [ ! -r "$src" ]; then
        echo "alerts_overlay: cannot read $src" >&2
        return 1
    fi
    if [ -e "$dst" ] && [ "$src" -ef "$dst" ]; then
        echo "alerts_overlay: $dst is $src; the overlay must go to another file" >&2
        return 1
    fi
    # A `for:` key: at the start of a line after indentation (and perhaps a list dash); its value
    # up to a comment. keep_firing_for: and text inside strings do not match.
    local pattern='^([[:space:]]*(- )?)for:[[:space:]]*[^[:space:]#]+'
    tmp=$(mktemp "$(dirname "$dst")/.alerts-overlay.XXXXXX") || return 1
    if ! sed -E "s/$pattern/\\1for: 2s/" "$src" >"$tmp"; then
        rm -f "$tmp"
        return 1
    fi
    # Self-check: as many `for:` as before, all 2s, and no other line changed.
    local before after
    before=$(grep -cE "$pattern" "$src" || true)
    after=$(grep -cE '^[[:space:]]*(- )?for: 2s([[:space:]]|$)' "$tmp" || true)
    if [ "$before" -eq 0 ] || [ "$before" -ne "$after" ] ||
        ! diff -q <(grep -vE "$pattern" "$src") <(grep -vE "$pattern" "$tmp") >/dev/null; then
        echo "alerts_overlay: the copy of $src is not the rules with for: 2s ($before for: in $src, $after for: 2s in the copy)" >&2
        rm -f "$tmp"
        return 1
    fi
    mv -f "$tmp" "$dst"
}
