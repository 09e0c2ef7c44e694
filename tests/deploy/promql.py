"""The PromQL expressions sightline ships (dashboards, recording and alert
rules), ready to run against a Prometheus, and a small Prometheus runner.

Dashboard variables are substituted as Grafana would: $service and $node by
regexes, $__rate_interval, $__interval and $__range by durations. An alert's
expression is `<signal> <op> <threshold>`; its signal is what is checked for
data (the comparison itself is empty until the alert fires).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
RULES = REPO / "deploy" / "prometheus" / "rules"
DASHBOARD_FILES = ("api-performance.json", "ai-costs.json", "business-metrics.json",
                   "system-health.json")

_ALERT = re.compile(r"^(?P<signal>.+?)\s*(?P<op>>|<|>=|<=|==|!=)\s*(?P<threshold>-?[0-9.]+(e-?[0-9]+)?)\s*$",
                    re.S)


def substitute(expr: str, service: str, node: str = ".*", namespace: str = ".*") -> str:
    out = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
    out = out.replace("$__range", "5m").replace("$namespace", namespace)
    return out.replace("$service", service).replace("$node", node)


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, expr) for every target of every panel of the four dashboards."""
    out = []
    for name in DASHBOARD_FILES:
        board = json.loads((DASHBOARDS / name).read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{name} panel {panel['id']} '{panel['title']}' {target['refId']}",
                            target["expr"]))
    return out


def rule_exprs() -> list[tuple[str, str]]:
    """(where, expr): every recording rule's expression and every alert's signal."""
    out = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    out.append((f"{path.name} record {rule['record']}", rule["expr"]))
                    continue
                m = _ALERT.match(rule["expr"].strip())
                if not m:
                    raise ValueError(f"{path.name} alert {rule['alert']}: expression is not "
                                     f"'<signal> <op> <threshold>': {rule['expr']}")
                out.append((f"{path.name} alert {rule['alert']} ({rule['labels']['severity']}) "
                            f"signal", m["signal"]))
    return out


class Prometheus:
    """Debian's prometheus on 127.0.0.1:`port`, scraping `target` every second
    (job "sightline") and evaluating `rule_files` every second."""

    def __init__(self, work: Path, port: int, target: str, rule_files: list[Path]):
        self.port = port
        self.work = work
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": "sightline",
                                "static_configs": [{"targets": [target]}]}],
        }
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(work / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={work / 'prometheus.yml'}",
             f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.proc.returncode}: {self.log_text()}")
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready in {timeout}s: {self.log_text()}")

    def query(self, expr: str) -> list:
        """The instant vector (or scalar as a one-element list) for `expr`;
        raises with Prometheus's error for an invalid expression."""
        url = self.url("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            body = json.loads(err.read() or b"{}")
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def log_text(self) -> str:
        try:
            return (self.work / "prometheus.log").read_text()[-3000:]
        except OSError:
            return ""

    def stop(self) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode
