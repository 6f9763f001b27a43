#!/usr/bin/env bash
# Proves scripts/validate-deploy.sh fails on broken artifacts: for each mutation it copies the
# deploy inputs into a scratch tree, breaks one artifact, runs the validator there and requires
# (a) a non-zero exit and (b) the expected step to be the one reporting the failure. The unbroken
# copy must pass first.
#
#   PAYFLEET_BIN=/path/to/payfleet deploy/tools/selftest-validator.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${PAYFLEET_BIN:?set PAYFLEET_BIN to a built payfleet binary (topics render)}"
PAYFLEET_BIN="$(cd "$(dirname "$PAYFLEET_BIN")" && pwd)/$(basename "$PAYFLEET_BIN")"
export PAYFLEET_BIN
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

fresh_copy() {
    rm -rf "$SCRATCH/repo"
    mkdir -p "$SCRATCH/repo/scripts"
    cp -R "$REPO/deploy" "$REPO/topics" "$SCRATCH/repo/"
    cp "$REPO/.dockerignore" "$SCRATCH/repo/"
    cp "$REPO/scripts/validate-deploy.sh" "$SCRATCH/repo/scripts/"
}

# mutate FILE PYTHON-EXPRESSION-ON-s : rewrite a file of the copy; the expression must change it.
mutate() {
    python3 - "$SCRATCH/repo/$1" "$2" <<'EOF'
import sys, pathlib
path, expression = pathlib.Path(sys.argv[1]), sys.argv[2]
s = path.read_text(encoding="utf-8")
t = eval(expression, {"s": s})
if t == s:
    sys.exit(f"mutation did not change {path}: {expression}")
path.write_text(t, encoding="utf-8")
EOF
}

PASSED=0
FAILED=0
run_case() { # run_case NAME EXPECTED-STEP-SUBSTRING FILE EXPRESSION
    local name="$1" expected="$2" file="$3" expression="$4" log
    fresh_copy
    mutate "$file" "$expression"
    log="$SCRATCH/$PASSED-$FAILED.log"
    if (cd "$SCRATCH/repo" && scripts/validate-deploy.sh >"$log" 2>&1); then
        echo "FAIL  $name: validator exited 0 on a broken artifact"
        FAILED=$((FAILED + 1))
    elif grep -q "FAILED: .*$expected" "$log"; then
        echo "ok    $name -> $(grep -m1 "FAILED: .*$expected" "$log" | sed 's/^ *//')"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL  $name: failed, but not in step '$expected'"
        grep "FAILED" "$log" || true
        FAILED=$((FAILED + 1))
    fi
}

fresh_copy
if ! (cd "$SCRATCH/repo" && scripts/validate-deploy.sh >"$SCRATCH/baseline.log" 2>&1); then
    cat "$SCRATCH/baseline.log"
    echo "baseline: the unbroken artifacts do not validate" >&2
    exit 1
fi
echo "ok    baseline passes"

run_case "Dockerfile: unpinned :latest base image" "hadolint" \
    deploy/Dockerfile 's.replace("ARG RUNTIME_IMAGE=debian:bookworm-slim", "ARG RUNTIME_IMAGE=debian:latest").replace("FROM ${RUNTIME_IMAGE} AS runtime", "FROM debian:latest AS runtime")'
run_case "Dockerfile: shell-form cd in RUN" "hadolint" \
    deploy/Dockerfile 's.replace("WORKDIR /app\n", "RUN cd /app\n")'
run_case ".dockerignore no longer excludes .build*" "hadolint" \
    .dockerignore 's.replace(".build*\n", "")'
run_case "compose: depends on an undefined service" "docker compose" \
    deploy/compose.yaml 's.replace("      sandbox:\n        condition: service_healthy", "      sandbx:\n        condition: service_healthy")'
run_case "compose: invalid depends_on condition" "docker compose" \
    deploy/compose.yaml 's.replace("condition: service_completed_successfully", "condition: service_done", 1)'
run_case "Kubernetes: misspelled probe field" "kubernetes-validate" \
    deploy/kubernetes/worker.yaml 's.replace("readinessProbe:", "readinesProbe:", 1)'
run_case "Kubernetes: port as a non-numeric string" "kubernetes-validate" \
    deploy/kubernetes/ingress.yaml 's.replace("      port: 80\n", "      port: eighty\n")'
run_case "KEDA: unquoted lagThreshold" "check-jsonschema" \
    deploy/kubernetes/worker-scaledobject.yaml 's.replace("lagThreshold: \"50\"", "lagThreshold: 50", 1)'
run_case "KEDA: unknown spec field" "check-jsonschema" \
    deploy/kubernetes/worker-scaledobject.yaml 's.replace("  pollingInterval: 15", "  pollingInterval: 15\n  maxReplicas: 4")'
run_case "Strimzi: KafkaTopic without strimzi.io/cluster" "check-jsonschema" \
    deploy/kubernetes/strimzi/kafkatopics.yaml 's.replace("strimzi.io/cluster:", "strimzi.io/klaster:", 1)'
run_case "Strimzi: hand-edited partition count" "Strimzi KafkaTopics match" \
    deploy/kubernetes/strimzi/kafkatopics.yaml '__import__("re").sub(r"partitions: (\d+)", lambda m: "partitions: " + str(int(m.group(1)) + 1), s, count=1)'
run_case "yamllint: duplicate key (PyYAML would keep the last)" "yamllint" \
    deploy/kubernetes/scheduler.yaml 's.replace("  replicas: 2\n", "  replicas: 2\n  replicas: 3\n", 1)'
run_case "consistency: maxReplicaCount != partition count" "consistency" \
    deploy/kubernetes/worker-scaledobject.yaml '__import__("re").sub(r"maxReplicaCount: (\d+)", lambda m: "maxReplicaCount: " + str(int(m.group(1)) * 2), s)'
run_case "consistency: inline merchant secret" "consistency" \
    deploy/kubernetes/merchants-configmap.yaml 's.replace("api_key: {file: /run/secrets/payfleet/shop-wechat.api_key}", "api_key: 0123456789abcdef0123456789abcdef")'
run_case "consistency: static membership id not from the pod name" "consistency" \
    deploy/kubernetes/worker.yaml 's.replace("value: $(POD_NAME)", "value: worker")'
run_case "consistency: KEDA consumer group differs from the worker group" "consistency" \
    deploy/kubernetes/worker-scaledobject.yaml 's.replace("consumerGroup: payfleet-worker", "consumerGroup: payfleet-workers", 1)'

echo "$PASSED broken artifact(s) rejected, $FAILED not"
[[ "$FAILED" -eq 0 ]]
