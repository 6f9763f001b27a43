#!/usr/bin/env python3
"""Checks that every metric the Grafana dashboard and the PrometheusRule use is exported by the roles.

Starts the roles as separate processes the way scripts/measure-fleet.sh does (embedded broker, sandbox,
ingress, worker, scheduler), makes each of them do some work (paid demo orders, a malformed request and
mis-partitioned requests written with kcat, forged callbacks beyond the dead-letter sample budget, a
due timer job, a reconciliation result event), scrapes their /metrics until every metric name found in
the expressions of deploy/observability/ is exported (or the deadline passes), and reports any name no
role exports.

    check_observability.py --payfleet .build/debug/payfleet [--repo .] [--timeout 240] [--list]

`--list` only prints the metric names the expressions use (no roles are started).
Exit 0 when every name is exported, 1 otherwise, 2 when the roles cannot be started.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

DASHBOARD = Path("deploy/observability/payfleet-dashboard.json")
RULES = Path("deploy/observability/payfleet-alerts.yaml")

# PromQL words that are not metric names.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
            "group_right", "inf", "nan", "Inf", "NaN"}


def expressions(repo: Path) -> list[tuple[str, str]]:
    """(where, expr) for every dashboard target and alert rule."""
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((f"dashboard panel '{panel.get('title')}'", target["expr"]))
            walk(panel.get("panels", []))

    walk(json.loads((repo / DASHBOARD).read_text(encoding="utf-8")).get("panels", []))
    rule = yaml.safe_load((repo / RULES).read_text(encoding="utf-8"))
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            found.append((f"rule {item.get('alert') or item.get('record')}", item["expr"]))
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or label names)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name in KEYWORDS:
            continue
        names.add(name)
    return names


def exported(text: str) -> set[str]:
    """Every sample name an exposition can carry (a histogram's _bucket, _sum and _count included)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            name, kind = parts[2], parts[3]
            names.add(name)
            if kind in ("histogram", "summary"):
                names.update({name + "_bucket", name + "_sum", name + "_count"})
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, data: bytes | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def wait_200(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if http(url)[0] == 200:
            return True
        time.sleep(0.2)
    return False


def kcat(servers: str, topic: str, lines: list[str], headers: list[str] = (), murmur2: bool = True) -> None:
    arguments = ["kcat", "-b", servers, "-P", "-t", topic, "-K", "|"]
    if murmur2:
        arguments += ["-X", "partitioner=murmur2_random"]
    for header in headers:
        arguments += ["-H", header]
    subprocess.run(arguments, input=("\n".join(lines) + "\n").encode(), check=True, timeout=60)


class Fleet:
    """The roles as processes, stopped on exit."""

    def __init__(self, binary: str, repo: Path, work: Path) -> None:
        self.binary, self.repo, self.work = binary, repo, work
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str, arguments: list[str], env: dict[str, str]) -> None:
        log = (self.work / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen([self.binary, *arguments], env=env, stdout=log, stderr=log))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()

    def run(self, timeout: float, wanted: set[str]) -> dict[str, set[str]]:
        bootstrap = self.work / "bootstrap"
        env = dict(os.environ)
        self.start("broker", ["broker", "--brokers", "1", "--bootstrap-file", str(bootstrap)], env)
        deadline = time.monotonic() + 60
        while not (bootstrap.exists() and bootstrap.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        servers = bootstrap.read_text().strip().removeprefix("bootstrap.servers=")
        ports = {role: free_port() for role in ("sandbox", "callbacks", "ingress", "worker", "scheduler")}
        merchants = (self.repo / "deploy/compose/merchants.yaml").read_text(encoding="utf-8")
        merchants = merchants.replace("http://sandbox:8090", f"http://127.0.0.1:{ports['sandbox']}")
        merchants = merchants.replace("http://ingress:8080", f"http://127.0.0.1:{ports['callbacks']}")
        merchants = merchants.replace("/run/secrets/", f"{self.repo.resolve()}/deploy/compose/demo-secrets/")
        (self.work / "merchants.yaml").write_text(merchants, encoding="utf-8")
        env.update({"KAFKA_BOOTSTRAP_SERVERS": servers, "PAYFLEET_MERCHANTS": str(self.work / "merchants.yaml"),
                    "PAYFLEET_HTTP_HOST": "127.0.0.1", "PAYFLEET_LOG_FORMAT": "json", "PAYFLEET_LOG_LEVEL": "warning"})
        self.start("sandbox", ["sandbox", "--host", "127.0.0.1", "--port", str(ports["sandbox"]), "--autopay-ms", "300",
                               "--merchants", str(self.work / "merchants.yaml")], env)
        self.start("ingress", ["ingress"], env | {"PAYFLEET_HTTP_PORT": str(ports["ingress"]),
                                                  "PAYFLEET_INGRESS_PORT": str(ports["callbacks"])})
        self.start("worker", ["worker"], env | {"PAYFLEET_HTTP_PORT": str(ports["worker"])})
        self.start("scheduler", ["scheduler"], env | {"PAYFLEET_HTTP_PORT": str(ports["scheduler"])})
        if not wait_200(f"http://127.0.0.1:{ports['sandbox']}/livez", 120):
            raise RuntimeError("the sandbox did not start")
        for role in ("ingress", "worker", "scheduler"):
            if not wait_200(f"http://127.0.0.1:{ports[role]}/readyz", 180):
                raise RuntimeError(f"the {role} did not become ready (logs in {self.work})")

        # Work for every role.
        subprocess.run([self.binary, "demo", "--bootstrap-servers", servers, "--bench", "8",
                        "--channels", "wechat-v2,yungouos,leshouying,storepos", "--timeout", "120"],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300, check=False)
        # A malformed request, and requests from a producer that does not partition by murmur2.
        kcat(servers, "payfleet.order-requests", ["OBS-BAD|{not json"])
        kcat(servers, "payfleet.order-requests",
             [f'OBS-R{i}|{{"action":"query","out_trade_no":"OBS-R{i}","merchant":"demo-storepos","channel":"storepos"}}'
              for i in range(12)], murmur2=False)
        # Forged callbacks, more than the per-minute dead-letter sample budget.
        for _ in range(15):
            http(f"http://127.0.0.1:{ports['callbacks']}/notify/storepos/demo-storepos", b"forged=1")
        # A timer job due now.
        now_ms = int(time.time() * 1000)
        timer = {"job": "query", "out_trade_no": "OBS-T1", "merchant": "demo-storepos", "channel": "storepos",
                 "due_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now_ms / 1000)), "reason": "fallback",
                 "attempt": 1, "timer_id": "obs-timer-1"}
        kcat(servers, "payfleet.delay.5s", [f"OBS-T1|{json.dumps(timer)}"], headers=[f"payfleet-due-at-ms={now_ms}"])

        urls = {role: f"http://127.0.0.1:{ports[role]}/metrics" for role in ("ingress", "worker", "scheduler")}
        found: dict[str, set[str]] = {}
        deadline = time.monotonic() + timeout
        sent_reconciliation = 0.0
        while True:
            # A reconciliation result, repeated until the scheduler's watcher (its group joins at the
            # end of the topic) has counted one.
            if time.monotonic() - sent_reconciliation > 10:
                sent_reconciliation = time.monotonic()
                result = {"merchant": "demo-storepos", "date": "2026-11-30", "matched": 4, "vendor_only": 0,
                          "payfleet_only": 1, "amount_mismatch": 0}
                kcat(servers, "payfleet.payment-events", [f"reconcile/demo-storepos/2026-11-30|{json.dumps(result)}"],
                     headers=[f"ce_id=obs-{time.time_ns()}", "ce_type=payfleet.reconciliation.completed",
                              "ce_subject=demo-storepos/2026-11-30", "ce_source=/payfleet/reconcile",
                              "ce_specversion=1.0", "content-type=application/json"])
            for role, url in urls.items():
                status, body = http(url)
                if status == 200:
                    found[role] = exported(body.decode("utf-8", "replace"))
            if wanted <= set().union(*found.values()) or time.monotonic() > deadline:
                return found
            time.sleep(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payfleet", help="the payfleet binary")
    parser.add_argument("--repo", default=".")
    parser.add_argument("--timeout", type=float, default=240)
    parser.add_argument("--list", action="store_true")
    options = parser.parse_args()
    repo = Path(options.repo)

    uses: dict[str, list[str]] = {}
    for where, expr in expressions(repo):
        names = metric_names(expr)
        if not names:
            print(f"{where}: no metric in {expr!r}", file=sys.stderr)
            return 1
        for name in names:
            uses.setdefault(name, []).append(where)
    if options.list:
        for name in sorted(uses):
            print(name)
        return 0
    if not options.payfleet:
        parser.error("--payfleet is required")

    with tempfile.TemporaryDirectory(prefix="payfleet-observability-") as directory:
        fleet = Fleet(options.payfleet, repo, Path(directory))
        try:
            found = fleet.run(options.timeout, set(uses))
        except (RuntimeError, subprocess.SubprocessError, OSError) as error:
            print(f"cannot run the roles: {error}", file=sys.stderr)
            for log in sorted(Path(directory).glob("*.log")):
                print(f"--- {log.name}", file=sys.stderr)
                print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
            return 2
        finally:
            fleet.stop()
    every = set().union(*found.values()) if found else set()
    missing = sorted(set(uses) - every)
    for role, names in sorted(found.items()):
        print(f"    {role}: {len([n for n in uses if n in names])} of the {len(uses)} names used")
    for name in missing:
        print(f"{name} is not exported by any role; used by: {', '.join(sorted(set(uses[name])))}", file=sys.stderr)
    if missing:
        return 1
    print(f"    all {len(uses)} metric names of the dashboard and the alert rules are exported by the roles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
