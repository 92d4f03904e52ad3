#!/usr/bin/env bash
# The monitoring files against Prometheus' own tool (promtool, from Debian's `prometheus`
# package, installed here when missing):
#   1. contrib/prometheus/alerts.yml: `promtool check rules`;
#   2. contrib/prometheus/alerts.test.yml: `promtool test rules` (sample series, expected alerts);
#   3. `promtool check metrics` on a live scrape of the daemon's Prometheus port, with two mock
#      execution clients behind it and a few calls through it (binaries from `cargo test`), in
#      the text format (no Accept header); and the OpenMetrics scrape Prometheus asks for: its
#      content type, `# EOF`, the same samples.
# The test that every metric the dashboard and the rules use is exported is
# tests/it/dashboards_use_exported_metrics.rs (in `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DEBIAN_FRONTEND=noninteractive CARGO_TERM_COLOR=never
exec </dev/null

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
die() {
    printf 'promtool: FAILED: %s\n' "$*" >&2
    exit 1
}

if ! command -v promtool >/dev/null; then
    echo "   apt-get install prometheus (for promtool)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package starts its own server where it can; only promtool is wanted here.
    service prometheus stop >/dev/null 2>&1 || true
fi
echo "   $(promtool --version 2>&1 | head -1)"

promtool check rules contrib/prometheus/alerts.yml
(cd contrib/prometheus && promtool test rules alerts.test.yml)

cargo test --workspace --locked --no-run --quiet >"$TMP/build.log" 2>&1 || {
    cat "$TMP/build.log"
    die "cargo test --workspace --locked --no-run"
}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
EB=$TARGET/debug/executionbackup
MOCK=$TARGET/debug/mock-el
head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$TMP/jwt.hex"
"$MOCK" --count 2 --base-port 0 --control-base-port 0 --jwt-secret "$TMP/jwt.hex" >"$TMP/mock.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    [[ $(grep -c 'engine=http://' "$TMP/mock.log" || true) -ge 2 ]] && break
    sleep 0.1
done
nodes=$(grep -o 'engine=http://[0-9.:]*' "$TMP/mock.log" | sed 's/^engine=//' | head -2 | tr '\n' ',' | sed 's/,$//')
[[ $nodes == *,* ]] || die "mock-el did not start: $(cat "$TMP/mock.log")"
"$EB" --nodes "$nodes#name=el-1" --jwt-secret "$TMP/jwt.hex" --port 0 --metrics-addr 127.0.0.1:0 \
    >"$TMP/eb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    grep -q 'listening for the consensus client' "$TMP/eb.log" && break
    sleep 0.1
done
line=$(grep 'listening for the consensus client' "$TMP/eb.log") || die "executionbackup did not start: $(cat "$TMP/eb.log")"
engine=$(sed -e 's/.*local_addr=\([0-9.:]*\).*/\1/' <<<"$line")
prom=$(sed -e 's/.*prometheus=\([0-9.:]*\).*/\1/' <<<"$line")
token=$("$EB" --print-token --jwt-secret "$TMP/jwt.hex")
for method in eth_chainId eth_blockNumber admin_nodeInfo; do
    curl -s -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$method\",\"params\":[]}" "http://$engine/"
done
curl -s -o /dev/null -d '{}' "http://$engine/" # refused: no token
curl -sf -D "$TMP/text.headers" "http://$prom/metrics" >"$TMP/scrape.txt"
grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/text.headers" ||
    die "the scrape without Accept is not the text format: $(cat "$TMP/text.headers")"
grep -q '^eb_build_info{' "$TMP/scrape.txt" || die "no eb_build_info in the scrape"
grep -q 'eb_node_state{node="el-1",state="alive"}' "$TMP/scrape.txt" || die "no #name= label in the scrape"
# promtool prints lint findings and exits non-zero on any.
promtool check metrics <"$TMP/scrape.txt" || {
    cat "$TMP/scrape.txt"
    die "promtool check metrics"
}
echo "   ok: promtool check metrics on a live scrape ($(grep -c '^# TYPE' "$TMP/scrape.txt") metrics)"
# What Prometheus itself asks for: OpenMetrics (promtool only lints the text format, so this one
# is checked for its framing, and for the same samples as the text format's).
curl -sf -D "$TMP/om.headers" \
    -H 'Accept: application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2' \
    "http://$prom/metrics" >"$TMP/scrape.om"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$TMP/om.headers" ||
    die "Prometheus' Accept did not get OpenMetrics: $(cat "$TMP/om.headers")"
[[ $(tail -n 1 "$TMP/scrape.om") == '# EOF' ]] || die "the OpenMetrics scrape does not end with # EOF"
grep -q '^# TYPE eb_requests counter$' "$TMP/scrape.om" || die "OpenMetrics: no counter family eb_requests"
samples() { grep -v -e '^#' -e '^process_' "$1" | sort; }
diff <(samples "$TMP/scrape.txt") <(samples "$TMP/scrape.om") ||
    die "the OpenMetrics and text scrapes differ in their samples"
echo "   ok: OpenMetrics for Prometheus' Accept ($(grep -c '^# TYPE' "$TMP/scrape.om") metrics, # EOF)"
