#!/usr/bin/env python3
"""Cross-file checks for deploy/** that no schema can express.

Run by scripts/validate-deploy.sh (inside its tools venv, which has PyYAML through yamllint):

    python3 deploy/tools/check_consistency.py --repo .

Each check prints one line; the exit status is 1 if any check failed. The checks tie the deploy
artifacts to the single sources of truth: topics/ (partition counts), the worker StatefulSet (group
id, static membership), the shared ConfigMap (bootstrap servers), the merchants file (secrets only
as files from the mounted Secret) and compose.yaml (the same wiring on a workstation).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

WORKER_INPUT_TOPICS = ("payfleet.order-requests", "payfleet.callbacks", "payfleet.query-jobs")
CO_PARTITIONED = WORKER_INPUT_TOPICS + ("payfleet.order-state",)
PROBES = {"startupProbe": "/startupz", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def check(self, ok: bool, what: str, detail: str = "") -> None:
        if ok:
            print(f"ok    {what}")
        else:
            self.failures += 1
            print(f"FAIL  {what}" + (f": {detail}" if detail else ""))


def load_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def kube_objects(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(directory.rglob("*.yaml")):
        for doc in load_docs(path):
            if isinstance(doc, dict) and "kind" in doc:
                yield path, doc


def seconds(text: str) -> float | None:
    match = DURATION.match(text.strip())
    if not match:
        return None
    value, unit = int(match.group(1)), match.group(2)
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def topic_partitions(topics_dir: Path) -> dict[str, int]:
    """name -> partitions, from topics/<name>.yaml (the Kafka engineer's topic files)."""
    result: dict[str, int] = {}
    for path in sorted(topics_dir.glob("*.y*ml")):
        for doc in load_docs(path):
            if isinstance(doc, dict) and isinstance(doc.get("partitions"), int):
                result[str(doc.get("name", path.stem))] = doc["partitions"]
    return result


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in container.get("env", []) or []}


def check_pod_template(report: Report, name: str, workload: dict[str, Any], http_port: str) -> None:
    pod = workload["spec"]["template"]["spec"]
    for container in pod["containers"]:
        where = f"{name}/{container['name']}"
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        report.check(str(ports.get("http")) == http_port, f"{where} serves http on PAYFLEET_HTTP_PORT {http_port}",
                     f"containerPort {ports.get('http')}")
        for probe, path in PROBES.items():
            got = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
            report.check(got == path, f"{where} {probe} on {path}", f"found {got!r}")
        security = container.get("securityContext") or {}
        report.check(security.get("readOnlyRootFilesystem") is True and security.get("allowPrivilegeEscalation") is False,
                     f"{where} read-only root, no privilege escalation")
        resources = container.get("resources") or {}
        report.check(bool((resources.get("requests") or {}).get("cpu")) and bool((resources.get("requests") or {}).get("memory"))
                     and bool((resources.get("limits") or {}).get("memory")),
                     f"{where} has cpu/memory requests and a memory limit")
        timeout = (env_of(container).get("PAYFLEET_SHUTDOWN_TIMEOUT") or {}).get("value")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if timeout is not None:
            bound = seconds(str(timeout))
            # The worker bounds its whole graceful shutdown by PAYFLEET_SHUTDOWN_TIMEOUT + 20 s
            # (WorkerSettings.gracefulShutdownBound); 5 s more covers the preStop and process exit.
            report.check(bound is not None and grace >= bound + 25,
                         f"{where} terminationGracePeriodSeconds {grace} >= PAYFLEET_SHUTDOWN_TIMEOUT {timeout} + 25 s")
        vendor = (env_of(container).get("PAYFLEET_VENDOR_TIMEOUT") or {}).get("value")
        if vendor is not None and timeout is not None:
            report.check((seconds(str(vendor)) or 0) < (seconds(str(timeout)) or 0),
                         f"{where} PAYFLEET_VENDOR_TIMEOUT {vendor} < PAYFLEET_SHUTDOWN_TIMEOUT {timeout} (an in-flight call can finish)")
    security = pod.get("securityContext") or {}
    report.check(security.get("runAsNonRoot") is True, f"{name} runs as non-root")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("."))
    args = parser.parse_args()
    repo: Path = args.repo
    kube = repo / "deploy" / "kubernetes"
    report = Report()

    objects = list(kube_objects(kube))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for _, obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)

    def one(kind: str, name: str) -> dict[str, Any] | None:
        found = [o for o in by_kind.get(kind, []) if o["metadata"]["name"] == name]
        report.check(len(found) == 1, f"exactly one {kind} {name}", f"found {len(found)}")
        return found[0] if found else None

    # -- Kustomization lists only files that exist, and every core manifest is listed ----------
    kustomization = yaml.safe_load((kube / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization.get("resources", []))
    for entry in sorted(listed):
        report.check((kube / entry).is_file(), f"kustomization resource {entry} exists")
    for path in sorted(kube.glob("*.yaml")):
        if path.name in ("kustomization.yaml",) or ".template." in path.name:
            continue
        report.check(path.name in listed, f"{path.name} is listed in kustomization.yaml")

    # -- Shared environment ---------------------------------------------------------------------
    env_cm = one("ConfigMap", "payfleet-env")
    env_data = (env_cm or {}).get("data", {})
    bootstrap = env_data.get("KAFKA_BOOTSTRAP_SERVERS", "")
    http_port = env_data.get("PAYFLEET_HTTP_PORT", "8080")
    report.check(bool(bootstrap), "payfleet-env sets KAFKA_BOOTSTRAP_SERVERS")
    for key in env_data:
        report.check(key.startswith(("KAFKA_", "PAYFLEET_")), f"payfleet-env key {key} is KAFKA_* or PAYFLEET_*")

    # -- Workloads --------------------------------------------------------------------------------
    worker = one("StatefulSet", "payfleet-worker")
    for kind, name in (("StatefulSet", "payfleet-worker"), ("Deployment", "payfleet-ingress"),
                       ("Deployment", "payfleet-scheduler")):
        workload = next((o for o in by_kind.get(kind, []) if o["metadata"]["name"] == name), None)
        if workload is not None:
            check_pod_template(report, name, workload, http_port)
    group_id = None
    if worker is not None:
        container = worker["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        group_id = (env.get("PAYFLEET_GROUP_ID") or {}).get("value")
        report.check(group_id is not None, "worker sets PAYFLEET_GROUP_ID")
        pod_name = ((env.get("POD_NAME") or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
        report.check(pod_name == "metadata.name", "worker POD_NAME comes from the downward API (metadata.name)")
        report.check((env.get("KAFKA_GROUP_INSTANCE_ID") or {}).get("value") == "$(POD_NAME)",
                     "worker KAFKA_GROUP_INSTANCE_ID = $(POD_NAME) (static membership, stable per ordinal)")
        names = list(env)
        report.check("POD_NAME" in names and names.index("POD_NAME") < names.index("KAFKA_GROUP_INSTANCE_ID"),
                     "POD_NAME is declared before KAFKA_GROUP_INSTANCE_ID (needed for $(POD_NAME) expansion)")

    # -- Ingress: callbacks on their own port, the only one its Service exposes ----------------
    ingress = next((o for o in by_kind.get("Deployment", []) if o["metadata"]["name"] == "payfleet-ingress"), None)
    if ingress is not None:
        container = ingress["spec"]["template"]["spec"]["containers"][0]
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        ingress_port = (env_of(container).get("PAYFLEET_INGRESS_PORT") or {}).get("value") or env_data.get("PAYFLEET_INGRESS_PORT")
        report.check(ingress_port is not None and str(ports.get("callbacks")) == str(ingress_port),
                     f"payfleet-ingress serves callbacks on PAYFLEET_INGRESS_PORT {ingress_port}", f"containerPort {ports.get('callbacks')}")
        report.check(str(ingress_port) != http_port, "the ingress callback port differs from PAYFLEET_HTTP_PORT (probes and metrics)")
        for probe in PROBES:
            port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
            report.check(port == "http", f"payfleet-ingress {probe} on the internal http port", f"port {port!r}")
    service = next((o for o in by_kind.get("Service", []) if o["metadata"]["name"] == "payfleet-ingress"), None)
    if service is not None:
        targets = [p.get("targetPort") for p in service["spec"].get("ports", [])]
        report.check(targets == ["callbacks"], "Service payfleet-ingress exposes only the callbacks port", f"targetPorts {targets}")

    # -- PodDisruptionBudgets select real pods ------------------------------------------------------
    pod_labels = [o["spec"]["template"]["metadata"]["labels"] for o in by_kind.get("StatefulSet", []) + by_kind.get("Deployment", [])]
    for pdb in by_kind.get("PodDisruptionBudget", []):
        selector = pdb["spec"]["selector"]["matchLabels"]
        report.check(any(all(labels.get(k) == v for k, v in selector.items()) for labels in pod_labels),
                     f"PodDisruptionBudget {pdb['metadata']['name']} selects a workload's pods")

    # -- KEDA ScaledObject against topics/ and the worker ------------------------------------------
    partitions = topic_partitions(repo / "topics")
    counts = {t: partitions.get(t) for t in CO_PARTITIONED}
    report.check(all(counts.values()), "topics/ defines the four co-partitioned topics", str(counts))
    report.check(len(set(counts.values())) == 1, "co-partitioned topics share one partition count", str(counts))
    partition_count = counts.get("payfleet.order-requests")
    scaled = one("ScaledObject", "payfleet-worker")
    if scaled is not None:
        spec = scaled["spec"]
        target = spec["scaleTargetRef"]
        report.check(target.get("kind") == "StatefulSet" and target.get("name") == "payfleet-worker",
                     "ScaledObject targets the worker StatefulSet")
        report.check(spec.get("maxReplicaCount") == partition_count,
                     f"ScaledObject maxReplicaCount = partition count of payfleet.order-requests ({partition_count})",
                     f"maxReplicaCount {spec.get('maxReplicaCount')}")
        report.check(1 <= spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 0),
                     "ScaledObject 1 <= minReplicaCount <= maxReplicaCount")
        if worker is not None:
            report.check(worker["spec"]["replicas"] <= spec.get("maxReplicaCount", 0),
                         "worker StatefulSet replicas <= maxReplicaCount")
        topics_seen = set()
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            topics_seen.add(meta.get("topic"))
            label = f"trigger {trigger.get('name', trigger['type'])}"
            report.check(meta.get("consumerGroup") == group_id, f"{label} consumerGroup = worker PAYFLEET_GROUP_ID ({group_id})",
                         f"consumerGroup {meta.get('consumerGroup')}")
            report.check(meta.get("bootstrapServers") == bootstrap, f"{label} bootstrapServers = payfleet-env KAFKA_BOOTSTRAP_SERVERS",
                         f"{meta.get('bootstrapServers')} vs {bootstrap}")
            report.check(meta.get("allowIdleConsumers") != "true", f"{label} caps replicas at the partition count (allowIdleConsumers false)")
        report.check(topics_seen == set(WORKER_INPUT_TOPICS), "ScaledObject has one trigger per worker input topic",
                     f"{sorted(t for t in topics_seen if t)}")

    # -- Merchants: secrets only as files from the mounted Secret -------------------------------
    merchants_cm = one("ConfigMap", "payfleet-merchants")
    secret_template = next((doc for path in kube.glob("*.template.yaml") for doc in load_docs(path)
                            if doc.get("kind") == "Secret"), None)
    secret_keys = set(((secret_template or {}).get("stringData") or {}).keys())
    if merchants_cm is not None:
        merchants = yaml.safe_load(merchants_cm["data"]["merchants.yaml"])
        check_merchants(report, "kubernetes merchants", merchants, "/run/secrets/payfleet/",
                        lambda path: path.rsplit("/", 1)[-1] in secret_keys)

    # -- Compose: same contract on a workstation -------------------------------------------------
    compose_path = repo / "deploy" / "compose.yaml"
    compose = yaml.safe_load(compose_path.read_text(encoding="utf-8"))
    compose_secrets = set((compose.get("secrets") or {}).keys())
    merchants_file = repo / "deploy" / "compose" / "merchants.yaml"
    check_merchants(report, "compose merchants", yaml.safe_load(merchants_file.read_text(encoding="utf-8")), "/run/secrets/",
                    lambda path: path.rsplit("/", 1)[-1] in compose_secrets)
    for name, secret in (compose.get("secrets") or {}).items():
        report.check((compose_path.parent / secret["file"]).is_file(), f"compose secret {name} file exists")
    services = compose.get("services", {})
    for name, service in services.items():
        if service.get("image", "").startswith("payfleet"):
            env = service.get("environment") or {}
            report.check(isinstance(env, dict) and env.get("KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092",
                         f"compose {name} is wired to kafka:9092 by environment")
    compose_env = ((compose.get("x-payfleet-env")) or {})
    compose_ingress_port = str(compose_env.get("PAYFLEET_INGRESS_PORT", ""))
    published = [str(p) for p in (services.get("ingress") or {}).get("ports", [])]
    report.check(bool(compose_ingress_port) and published == [f"{compose_ingress_port}:{compose_ingress_port}"],
                 "compose ingress publishes only PAYFLEET_INGRESS_PORT", f"ports {published}")
    notify = str(compose_env.get("PAYFLEET_NOTIFY_BASE_URL", ""))
    report.check(notify.endswith(f":{compose_ingress_port}"), "compose PAYFLEET_NOTIFY_BASE_URL points at the ingress callback port", notify)
    # The compose merchants file's notify_base_url is a placeholder for process-based benchmarks
    # (they rewrite it); PAYFLEET_NOTIFY_BASE_URL, set for every compose role, overrides it.
    file_notify = str((yaml.safe_load(merchants_file.read_text(encoding="utf-8")) or {}).get("notify_base_url", ""))
    report.check(file_notify.startswith("http://ingress:"), "compose merchants notify_base_url is an ingress placeholder", file_notify)
    worker_service = services.get("worker") or {}
    report.check(((worker_service.get("deploy") or {}).get("replicas") or 1) >= 2, "compose runs at least two workers")

    print(f"{report.failures} consistency check(s) failed" if report.failures else "all consistency checks passed")
    return 1 if report.failures else 0


def check_merchants(report: Report, label: str, merchants: dict[str, Any], prefix: str, resolvable) -> None:
    accounts = (merchants or {}).get("merchants") or {}
    report.check(bool(accounts), f"{label}: at least one merchant")
    for alias, account in accounts.items():
        for key, ref in ((account or {}).get("secrets") or {}).items():
            where = f"{label}: {alias}.{key}"
            ok = isinstance(ref, dict) and set(ref) == {"file"} and str(ref["file"]).startswith(prefix)
            report.check(ok, f"{where} is a file under {prefix} (never inline)", repr(type(ref).__name__))
            if ok:
                report.check(resolvable(ref["file"]), f"{where} file is provided by the mounted secrets", ref["file"])


if __name__ == "__main__":
    sys.exit(main())
