#!/usr/bin/env bash
# Measures PayFleet the way it is deployed: every role as its own process (embedded broker,
# sandbox, ingress, one worker, one scheduler), N paid orders over the four channels of
# deploy/compose/merchants.yaml, and per role the memory (VmRSS / VmHWM from /proc) and CPU
# (utime+stime) before and after, plus the end-to-end rate (request to succeeded), and the worker's
# CPU split between PayFleet's own threads and librdkafka's.
#
#   scripts/measure-fleet.sh [ORDERS] [PAYFLEET_BINARY]
#   RATE=60 scripts/measure-fleet.sh 2000   # paced at 60 orders/s (latency at a given load)
#
# Defaults: 2000 orders, .build/release/payfleet (build it with `swift build -c release`).
# The figures in deploy/README.md ("Measured resources") come from this script.
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS="${1:-2000}"
BIN="${2:-.build/release/payfleet}"
[ -x "$BIN" ] || { echo "no payfleet binary at $BIN (swift build -c release)" >&2; exit 2; }
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
PIDS+=($!); BROKER=$!
for _ in $(seq 1 300); do [ -s "$WORK/bootstrap" ] && break; sleep 0.1; done
SERVERS="$(sed 's/^bootstrap.servers=//' "$WORK/bootstrap")"
SANDBOX_PORT=$(free_port); INGRESS_PORT=$(free_port); CALLBACK_PORT=$(free_port); WORKER_PORT=$(free_port); SCHEDULER_PORT=$(free_port)
sed -e "s#http://sandbox:8090#http://127.0.0.1:$SANDBOX_PORT#g" \
    -e "s#http://ingress:8080#http://127.0.0.1:$CALLBACK_PORT#g" \
    -e "s#/run/secrets/#$ROOT/deploy/compose/demo-secrets/#g" deploy/compose/merchants.yaml > "$WORK/merchants.yaml"
export KAFKA_BOOTSTRAP_SERVERS="$SERVERS" PAYFLEET_MERCHANTS="$WORK/merchants.yaml" \
  PAYFLEET_HTTP_HOST=127.0.0.1 PAYFLEET_LOG_FORMAT=json PAYFLEET_LOG_LEVEL=warning

"$BIN" sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" --autopay-ms 300 --merchants "$WORK/merchants.yaml" > "$WORK/sandbox.log" 2>&1 &
PIDS+=($!); SANDBOX=$!
PAYFLEET_HTTP_PORT=$INGRESS_PORT PAYFLEET_INGRESS_PORT=$CALLBACK_PORT "$BIN" ingress > "$WORK/ingress.log" 2>&1 &
PIDS+=($!); INGRESS=$!
PAYFLEET_HTTP_PORT=$WORKER_PORT PAYFLEET_MAX_IN_FLIGHT=64 "$BIN" worker > "$WORK/worker.log" 2>&1 &
PIDS+=($!); WORKER=$!
PAYFLEET_HTTP_PORT=$SCHEDULER_PORT "$BIN" scheduler > "$WORK/scheduler.log" 2>&1 &
PIDS+=($!); SCHEDULER=$!
wait_200 "http://127.0.0.1:$SANDBOX_PORT/livez"
for port in $INGRESS_PORT $WORKER_PORT $SCHEDULER_PORT; do wait_200 "http://127.0.0.1:$port/readyz"; done
# Ready is not processing: the worker owns its partitions (and restored them) only after the group
# join, which the embedded broker delays by 3 s for a new group.
wait_200 "http://127.0.0.1:$WORKER_PORT/assignedz"
sleep 1

ROLES=(broker sandbox ingress worker scheduler)
ROLE_PIDS=("$BROKER" "$SANDBOX" "$INGRESS" "$WORKER" "$SCHEDULER")
TICKS=$(getconf CLK_TCK)
rss() { awk '/^VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ticks of a process by kind of thread: PayFleet's own (Swift, SwiftNIO, poll threads) and
# librdkafka's, whose main loops busy-wait before their timers in 2.0.2 (docs/design.md).
thread_ticks() {
  local task
  for task in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' '_' < "$task/comm" 2>/dev/null)" "$(awk '{print $14 + $15}' "$task/stat" 2>/dev/null)"
  done | awk 'NF == 2 { kind = ($1 ~ /^rdk:main/) ? "librdkafka-main" : (($1 ~ /^rdk:/) ? "librdkafka-other" : "payfleet"); t[kind] += $2 }
    END { for (k in t) print k, t[k] }'
}
declare -A IDLE_RSS CPU0
for i in "${!ROLES[@]}"; do IDLE_RSS[${ROLES[$i]}]=$(rss "${ROLE_PIDS[$i]}"); CPU0[${ROLES[$i]}]=$(cpu "${ROLE_PIDS[$i]}"); done
WORKER_THREADS0="$(thread_ticks "$WORKER")"

START=$(date +%s.%N)
RESULT="$("$BIN" demo --bootstrap-servers "$SERVERS" --bench "$ORDERS" --channels wechat-v2,yungouos,leshouying,storepos --timeout 900 ${RATE:+--rate "$RATE"} 2>/dev/null | grep -E '^(e2e rate|submitted|latency|request)')"
END=$(date +%s.%N)
ELAPSED=$(awk -v a="$START" -v b="$END" 'BEGIN {print b - a}')

echo "binary: $BIN"
echo "$RESULT"
echo "wall time ${ELAPSED}s; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %10s %12s %10s %10s %14s\n' role "idle MB" "after MB" "peak MB" "cores" "CPU ms/order"
for i in "${!ROLES[@]}"; do
  role=${ROLES[$i]}; pid=${ROLE_PIDS[$i]}
  used=$(( $(cpu "$pid") - ${CPU0[$role]} ))
  awk -v r="$role" -v idle="${IDLE_RSS[$role]}" -v now="$(rss "$pid")" -v peak="$(hwm "$pid")" -v t="$used" -v hz="$TICKS" -v e="$ELAPSED" -v n="$ORDERS" \
    'BEGIN { printf "%-10s %10d %12d %10d %10.2f %14.2f\n", r, idle, now, peak, t / hz / e, 1000 * t / hz / n }'
done
# The worker's CPU by kind of thread (threads alive at the end; a thread that ended during the run
# is missing here but counted in the table above).
awk -v n="$ORDERS" -v hz="$TICKS" 'NR == FNR { before[$1] = $2; next } { used[$1] = $2 - before[$1] }
  END { printf "worker CPU by thread, ms/order: payfleet %.2f, librdkafka main loops %.2f, other librdkafka threads %.2f\n",
    1000 * used["payfleet"] / hz / n, 1000 * used["librdkafka-main"] / hz / n, 1000 * used["librdkafka-other"] / hz / n }' \
  <(printf '%s\n' "$WORKER_THREADS0") <(thread_ticks "$WORKER")
