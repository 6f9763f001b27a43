#!/usr/bin/env bash
# Measures how soon a fresh worker serves new orders when payfleet.order-state already holds many
# retained orders: every role as its own process (embedded broker, sandbox, ingress), ORDERS
# terminal-summary records written to payfleet.order-state (`payfleet bench restore
# --bootstrap-servers`), then a worker process started while one order is submitted at the same
# moment. Prints the time from the worker's start to that order's `payfleet.payment.prepared`
# event (the event's Kafka timestamp, set by the worker), the worker's restore figures from its
# /metrics and its memory.
#
#   scripts/measure-start.sh [ORDERS] [PAYFLEET_BINARY]
#
# Defaults: 150000 orders (0 leaves payfleet.order-state empty, for comparison), .build/release/payfleet (build it with `swift build -c release`).
# The embedded broker keeps about 5 MB per partition: the seeding prints how many records it held.
# The figures in docs/operations.md ("State retention and restore") come from this script.
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS="${1:-150000}"
BIN="${2:-.build/release/payfleet}"
[ -x "$BIN" ] || { echo "no payfleet binary at $BIN (swift build -c release)" >&2; exit 2; }
command -v kcat > /dev/null || { echo "kcat is needed to read payfleet.payment-events" >&2; exit 2; }
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
ROOT="$(pwd)"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_200() {
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
    sleep 0.2
  done
  echo "$1 never answered 200" >&2; exit 1
}
now_ms() { date +%s%3N; }

"$BIN" broker --brokers 1 --bootstrap-file "$WORK/bootstrap" > "$WORK/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do [ -s "$WORK/bootstrap" ] && break; sleep 0.1; done
SERVERS="$(sed 's/^bootstrap.servers=//' "$WORK/bootstrap")"
SANDBOX_PORT=$(free_port); INGRESS_PORT=$(free_port); CALLBACK_PORT=$(free_port); WORKER_PORT=$(free_port)
sed -e "s#http://sandbox:8090#http://127.0.0.1:$SANDBOX_PORT#g" \
    -e "s#http://ingress:8081#http://127.0.0.1:$CALLBACK_PORT#g" \
    -e "s#/run/secrets/#$ROOT/deploy/compose/demo-secrets/#g" deploy/compose/merchants.yaml > "$WORK/merchants.yaml"
export KAFKA_BOOTSTRAP_SERVERS="$SERVERS" PAYFLEET_MERCHANTS="$WORK/merchants.yaml" \
  PAYFLEET_HTTP_HOST=127.0.0.1 PAYFLEET_LOG_FORMAT=json PAYFLEET_LOG_LEVEL=warning

"$BIN" sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" --autopay-ms 300 --merchants "$WORK/merchants.yaml" > "$WORK/sandbox.log" 2>&1 &
PIDS+=($!)
PAYFLEET_HTTP_PORT=$INGRESS_PORT PAYFLEET_INGRESS_PORT=$CALLBACK_PORT "$BIN" ingress > "$WORK/ingress.log" 2>&1 &
PIDS+=($!)
wait_200 "http://127.0.0.1:$SANDBOX_PORT/livez"
wait_200 "http://127.0.0.1:$INGRESS_PORT/readyz"

echo "binary: $BIN"
if [ "$ORDERS" -gt 0 ]; then
  "$BIN" bench restore --bootstrap-servers "$SERVERS" --orders "$ORDERS" | grep -v '^  partition'
else
  echo "payfleet.order-state left empty (ORDERS=0: the start of a worker without retained orders)"
fi

# Every event from the start of payfleet.payment-events, with its Kafka timestamp (ms).
kcat -b "$SERVERS" -C -t payfleet.payment-events -o beginning -u -f '%T %s\n' > "$WORK/events" 2> "$WORK/kcat.log" &
PIDS+=($!)

STARTED=$(now_ms)
PAYFLEET_HTTP_PORT=$WORKER_PORT PAYFLEET_MAX_IN_FLIGHT=64 "$BIN" worker > "$WORK/worker.log" 2>&1 &
PIDS+=($!); WORKER=$!
"$BIN" demo --bootstrap-servers "$SERVERS" --bench 1 --channels wechat-v2 --timeout 120 > "$WORK/demo.log" 2>&1 &
DEMO=$!
PIDS+=("$DEMO")

PREPARED=""
for _ in $(seq 1 1200); do
  PREPARED="$(grep -m1 '"status":"prepared"' "$WORK/events" | cut -d' ' -f1 || true)"
  [ -n "$PREPARED" ] && break
  sleep 0.1
done
[ -n "$PREPARED" ] || { echo "no payfleet.payment.prepared within 120 s" >&2; tail -n3 "$WORK/worker.log" "$WORK/demo.log" "$WORK/kcat.log" "$WORK/events" >&2; exit 1; }
READY_MS=""
for _ in $(seq 1 1200); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WORKER_PORT/readyz" || true)" = 200 ] && { READY_MS=$(( $(now_ms) - STARTED )); break; }
  sleep 0.1
done
wait "$DEMO" || true

METRICS="$(curl -s "http://127.0.0.1:$WORKER_PORT/metrics")"
metric() { awk -v name="$1" '$1 == name {print $2}' <<< "$METRICS"; }
echo "worker start to payfleet.payment.prepared of the order submitted at start: $(awk -v a="$STARTED" -v b="$PREPARED" 'BEGIN {printf "%.2f", (b - a) / 1000}') s"
echo "worker /readyz answered 200 by: $(awk -v a="${READY_MS:-0}" 'BEGIN {printf "%.2f", a / 1000}') s after start (polled after the event)"
echo "payfleet_worker_restored_records_total $(metric payfleet_worker_restored_records_total)"
echo "payfleet_worker_restore_seconds_total $(metric payfleet_worker_restore_seconds_total)"
grep '^payfleet_worker_orders' <<< "$METRICS" || true
echo "worker RSS: $(awk '/^VmRSS/ {print int($2/1024)}' "/proc/$WORKER/status") MB, peak $(awk '/^VmHWM/ {print int($2/1024)}' "/proc/$WORKER/status") MB"
echo "demo: $(grep 'e2e rate' "$WORK/demo.log" || tail -1 "$WORK/demo.log")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
