#!/usr/bin/env bash
# The reconciliation check of docs/operations.md ("Reconciliation"): every role as its own process
# (as scripts/measure-fleet.sh starts them), N paid demo orders over storepos, wechat-v2 and
# yungouos; REFUNDS paid storepos and REFUNDS paid YunGouOS orders are refunded with kcat (refund
# requests on payfleet.order-requests as in docs/operations.md "Refunds": the first of each channel
# partially, the others whole) and every refund must succeed; then `payfleet reconcile` for today
# (GMT+8) must exit 0 for the three demo merchants, every order and every refund matched; after a
# `succeeded` event for an order the vendor never saw is written with kcat, it must exit 1 naming
# payfleet_only=1.
#
#   scripts/reconcile-check.sh [ORDERS] [PAYFLEET_BINARY] [REFUNDS]
#
# Defaults: 30 orders, .build/debug/payfleet, 3 refunds per channel (0: none). Needs kcat
# (scripts/bootstrap.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS="${1:-30}"
BIN="${2:-.build/debug/payfleet}"
REFUNDS="${3:-3}"
[ -x "$BIN" ] || { echo "no payfleet binary at $BIN (swift build)" >&2; exit 2; }
command -v kcat >/dev/null || { echo "kcat is missing (scripts/bootstrap.sh)" >&2; exit 2; }
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

"$BIN" broker --brokers 1 --bootstrap-file "$WORK/bootstrap" > "$WORK/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do [ -s "$WORK/bootstrap" ] && break; sleep 0.1; done
SERVERS="$(sed 's/^bootstrap.servers=//' "$WORK/bootstrap")"
SANDBOX_PORT=$(free_port); INGRESS_PORT=$(free_port); CALLBACK_PORT=$(free_port); WORKER_PORT=$(free_port); SCHEDULER_PORT=$(free_port)
sed -e "s#http://sandbox:8090#http://127.0.0.1:$SANDBOX_PORT#g" \
    -e "s#http://ingress:8080#http://127.0.0.1:$CALLBACK_PORT#g" \
    -e "s#/run/secrets/#$ROOT/deploy/compose/demo-secrets/#g" deploy/compose/merchants.yaml > "$WORK/merchants.yaml"
export KAFKA_BOOTSTRAP_SERVERS="$SERVERS" PAYFLEET_MERCHANTS="$WORK/merchants.yaml" \
  PAYFLEET_HTTP_HOST=127.0.0.1 PAYFLEET_LOG_FORMAT=json PAYFLEET_LOG_LEVEL=warning

"$BIN" sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" --autopay-ms 300 --merchants "$WORK/merchants.yaml" > "$WORK/sandbox.log" 2>&1 &
PIDS+=($!)
PAYFLEET_HTTP_PORT=$INGRESS_PORT PAYFLEET_INGRESS_PORT=$CALLBACK_PORT "$BIN" ingress > "$WORK/ingress.log" 2>&1 &
PIDS+=($!)
PAYFLEET_HTTP_PORT=$WORKER_PORT "$BIN" worker > "$WORK/worker.log" 2>&1 &
PIDS+=($!)
PAYFLEET_HTTP_PORT=$SCHEDULER_PORT "$BIN" scheduler > "$WORK/scheduler.log" 2>&1 &
PIDS+=($!)
wait_200 "http://127.0.0.1:$SANDBOX_PORT/livez"
for port in $INGRESS_PORT $WORKER_PORT $SCHEDULER_PORT; do wait_200 "http://127.0.0.1:$port/readyz"; done

"$BIN" demo --bootstrap-servers "$SERVERS" --bench "$ORDERS" --channels storepos,wechat-v2,yungouos --timeout 300 2>/dev/null | grep 'e2e rate'

events() { kcat -b "$SERVERS" -C -t payfleet.payment-events -e -q -f '%h\t%s\n' 2>/dev/null; }
FAILED=0
declare -A EXPECTED=([demo-storepos]=0 [demo-wechat-v2]=0 [demo-yungouos]=0)
if [ "$REFUNDS" -gt 0 ]; then
  # Refund requests for paid orders of the bench: the first of each channel 1.00 yuan (a partial
  # refund), the others whole. Amounts ending in 97/98/99 fen select the sandbox's refund faults
  # (docs/sandbox.md), so orders whose whole amount would end so are skipped.
  events | python3 -c '
import json, sys
per = int(sys.argv[1]); picked = {"storepos": [], "yungouos": []}
for line in sys.stdin:
    headers, _, body = line.rstrip("\n").partition("\t")
    if "ce_type=payfleet.payment.succeeded" not in headers: continue
    data = json.loads(body); channel = data.get("channel"); fen = data.get("amount_fen", 0)
    if channel not in picked or len(picked[channel]) >= per: continue
    first = not picked[channel]
    amount = 100 if first else fen
    if amount > fen or amount % 100 >= 97: continue
    picked[channel].append((data["out_trade_no"], amount))
for channel, orders in picked.items():
    for index, (order, amount) in enumerate(orders):
        request = {"action": "refund", "out_trade_no": order, "merchant": "demo-" + channel, "channel": channel,
                   "out_refund_no": "RC-%s-%d" % (order[-20:], index), "amount_fen": amount, "reason": "reconcile check"}
        print(order + "|" + json.dumps(request, ensure_ascii=False, separators=(",", ":")))
' "$REFUNDS" > "$WORK/refunds"
  STARTED=$SECONDS
  kcat -b "$SERVERS" -P -t payfleet.order-requests -K'|' -X partitioner=murmur2_random < "$WORK/refunds"
  WANTED=$(wc -l < "$WORK/refunds")
  echo "refund requests: $WANTED ($(grep -c '"channel":"storepos"' "$WORK/refunds") storepos, $(grep -c '"channel":"yungouos"' "$WORK/refunds") yungouos, $(grep -c '"amount_fen":100,' "$WORK/refunds") of 1.00 yuan)"
  SUCCEEDED=0
  for _ in $(seq 1 120); do
    SUCCEEDED=$(events | grep 'ce_type=payfleet.refund.succeeded' | grep -c '"out_refund_no":"RC-' || true)
    [ "$SUCCEEDED" -ge "$WANTED" ] && break
    sleep 1
  done
  echo "refunds succeeded: $SUCCEEDED of $WANTED (within $((SECONDS - STARTED)) s of the requests)"
  [ "$SUCCEEDED" = "$WANTED" ] && [ "$WANTED" -gt 0 ] || FAILED=1
  # storepos lists a refunded order's refunds in its line (one match per order), YunGouOS one line per refund.
  EXPECTED[demo-storepos]=$(grep -c '"channel":"storepos"' "$WORK/refunds" || true)
  EXPECTED[demo-yungouos]=$(grep -c '"channel":"yungouos"' "$WORK/refunds" || true)
fi

TODAY="$(TZ=Asia/Shanghai date +%F)"
PAID=$(events | grep 'ce_type=payfleet.payment.succeeded' | python3 -c '
import json, sys, collections
orders = {(data.get("merchant"), data.get("out_trade_no")) for data in (json.loads(line.split("\t", 1)[1]) for line in sys.stdin)}
counts = collections.Counter(merchant for merchant, _ in orders)
print(" ".join("%s=%d" % item for item in sorted(counts.items())))')
for merchant in demo-storepos demo-wechat-v2 demo-yungouos; do
  status=0
  OUT="$("$BIN" reconcile --merchant "$merchant" --date "$TODAY")" || status=$?
  echo "$OUT"
  echo "exit $status"
  paid=$(tr ' ' '\n' <<< "$PAID" | sed -n "s/^$merchant=//p")
  want=$(( ${paid:-0} + ${EXPECTED[$merchant]} ))
  if [ "$status" != 0 ] || ! grep -q "matched=$want " <<< "$OUT"; then
    echo "expected matched=$want" >&2
    FAILED=1
  fi
done

# A succeeded event for an order the vendor never saw, written by a client we did not write.
GHOST="GHOST$(date +%s)"
PAID_AT="$(date -u +%Y-%m-%dT%H:%M:%S.000Z)"
printf '%s|{"out_trade_no":"%s","merchant":"demo-storepos","channel":"storepos","amount_fen":3300,"paid_amount_fen":3300,"transaction_id":"4200ghost","paid_at":"%s"}\n' \
  "$GHOST" "$GHOST" "$PAID_AT" \
  | kcat -b "$SERVERS" -P -t payfleet.payment-events -K '|' -X partitioner=murmur2_random \
      -H "ce_id=ghost-$GHOST" -H "ce_source=/payfleet/worker" -H "ce_type=payfleet.payment.succeeded" \
      -H "ce_specversion=1.0" -H "ce_time=$PAID_AT" -H "ce_subject=$GHOST" -H "content-type=application/json" \
      -H "ce_dataschema=urn:payfleet:schema:payment-event:1"
status=0
OUT="$("$BIN" reconcile --merchant demo-storepos --date "$TODAY")" || status=$?
echo "$OUT"
echo "exit $status"
if [ "$status" != 1 ] || ! grep -q 'payfleet_only=1 ' <<< "$OUT"; then FAILED=1; fi

if [ "$FAILED" = 0 ]; then echo "reconcile check: ok"; else echo "reconcile check: FAILED" >&2; exit 1; fi
