"""Real traffic for the end-to-end check of the shipped dashboards and rules:
every family the dashboards and rules query gets series from real servers and
clients (the privileged tests' fixtures), each process named `<prefix>-<role>`
through OTEL_SERVICE_NAME so the test's `$service` regex selects only these.

Traffic.run() makes it all once; stop() tears every server down.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import dbfixtures
import harness

RULES = harness.REPO / "deploy" / "business" / "business-rules.yaml"

# One process in a network namespace whose loopback drops 10% of packets on
# ingress: it sends 1 MiB to itself over TCP, so segments are retransmitted.
LOSSY = """
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 7000)); srv.listen(1)
got = []
def serve():
    c, _ = srv.accept(); n = 0
    while True:
        b = c.recv(65536)
        if not b: break
        n += len(b)
    got.append(n); c.close()
t = threading.Thread(target=serve); t.start()
s = socket.create_connection(("127.0.0.1", 7000)); s.sendall(b"x" * (1 << 20)); s.close()
t.join(); print(got[0])
"""

# Three connects to a closed port: each refused by a RST. The process stays two
# seconds more, so the daemon reads its name (OTEL_SERVICE_NAME) while it lives.
REFUSED = """
import socket, sys, time
for _ in range(3):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except ConnectionRefusedError:
        pass
    s.close()
time.sleep(2)
"""


class Traffic:
    def __init__(self, prefix: str, work: Path, mock_port: int):
        self.prefix = prefix
        self.work = work
        self.mock_port = mock_port
        self.fixtures: list = []
        self.netns = f"sl-deploy-{os.getpid()}"

    def name(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def _env(self, role: str, extra: dict | None = None) -> dict:
        return harness.client_env(self.name(role), extra)

    def _run(self, argv: list[str], role: str, check: bool = True, env: dict | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, env=self._env(role, env), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{argv} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc

    def _keep(self, fixture):
        self.fixtures.append(fixture)
        return fixture

    def run(self) -> None:
        self.http()
        self.tls()
        self.business()
        self.databases()
        self.genai()
        self.tcp()

    def http(self) -> None:
        """Plain HTTP: 2xx, 4xx, 5xx, a slow route, a POST body, and a request
        whose client gives up before the answer (unanswered)."""
        web = self._keep(harness.start_python_server(service_name=self.name("web")))
        urls = [f"{web.url}/{p}" for p in ("ok", "ok", "ok", "boom", "bad", "items/42", "sleep")]
        argv = ["curl", "-sS", "-o", os.devnull, "-o", os.devnull, "-o", os.devnull,
                "-o", os.devnull, "-o", os.devnull, "-o", os.devnull, "-o", os.devnull, *urls]
        self._run(argv, "curl")
        self._run(["curl", "-sS", "-o", os.devnull, "-d", "x" * 300, f"{web.url}/create"], "curl")
        # Gives up after 50 ms on a 200 ms answer.
        self._run(["curl", "-sS", "-m", "0.05", "-o", os.devnull, f"{web.url}/sleep"], "curl",
                  check=False)

    def tls(self) -> None:
        cert = harness.make_tls_cert(self.work / "tls-cert")
        nginx = self._keep(harness.start_nginx_tls(self.work / "nginx", cert,
                                                   service_name=self.name("nginx")))
        url = harness.https_url(nginx.port)
        harness.run_curl_https([f"{url}/", f"{url}/missing"] * 3, cert,
                               service_name=self.name("tls-curl"))

    def business(self) -> None:
        port = harness.free_port()
        app = self._keep(harness.start_fixture(
            [harness.PYTHON, str(harness.FIXTURES / "business_app.py"), str(port)], port,
            service_name=self.name("biz"), name="business_app"))
        base = app.url
        posts = [("/api/campaigns", '{"platform": "meta", "name": "a", "roas": 2.5}'),
                 ("/api/campaigns", '{"platform": "google", "name": "b", "roas": 1.5}'),
                 ("/api/ads", '{"platform": "meta", "format": "image", "campaign_id": "c1"}'),
                 # Not an allowed format: counted as "other", and as a rule error.
                 ("/api/ads", '{"platform": "meta", "format": "hologram", "campaign_id": "c2"}'),
                 ("/api/videos/generate", '{"prompt": "a cat"}'),
                 ("/api/models/ctr-v2/evaluation",
                  '{"model_type": "ctr", "metric": "auc", "value": 0.91}')]
        ids = []
        for path, body in posts:
            out = self._run(["curl", "-sS", "-H", "Content-Type: application/json", "-d", body,
                             f"{base}{path}"], "biz-client").stdout
            if path == "/api/campaigns":
                ids.append(json.loads(out)["id"])
        for cid in ids:
            self._run(["curl", "-sS", "-o", os.devnull, f"{base}/api/campaigns/{cid}/roas"],
                      "biz-client")

    def databases(self) -> None:
        pg = self._keep(dbfixtures.Postgres().start())
        env = pg.env(self.name("pg"))
        for argv in (["pgbench", "-i", "-s", "1", "-q"],
                     ["pgbench", "-n", "-S", "-c", "2", "-j", "2", "-t", "20"]):
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"{argv}: {proc.stderr}")
        # 42P01: no such table.
        pg.psql("SELECT * FROM no_such_table", self.name("pg"), check=False)

        redis = self._keep(dbfixtures.Redis().start())
        role = self.name("redis")
        argv = ["redis-benchmark", "-h", harness.LOOPBACK, "-p", str(redis.port), "-q",
                "-n", "200", "-c", "2", "-t", "set,get,lpush,lpop"]
        self._run(argv, "redis")
        redis.cli("GET", "no-such-key", service_name=role)          # a cache miss
        redis.cli("LPUSH", "jobs", "a", "b", "c", service_name=role)  # queue depth 3
        redis.cli("SET", "plain", "x", service_name=role)
        redis.cli("LPUSH", "plain", "y", service_name=role)         # WRONGTYPE
        # A pool that stays open while Prometheus scrapes: a client blocked on
        # an empty list (BLPOP without timeout), until stop().
        self._keep(_Blocked(subprocess.Popen(
            ["redis-cli", "-h", harness.LOOPBACK, "-p", str(redis.port), "BLPOP", "idle", "0"],
            env=self._env("redis-pool"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)))

    def genai(self) -> None:
        cert = harness.make_genai_cert(self.work / "genai-cert")
        self._keep(harness.start_genai_mock(cert, port=self.mock_port,
                                            service_name=self.name("ai-mock")))

        def call(op, model, response_model, usage, **extra):
            scenario = {"model": response_model, "usage": usage, **extra.pop("scenario", {})}
            return {"op": op, "model": model, "scenario": scenario, **extra}

        usage = {"input": 1200, "output": 80, "cache_read": 1024, "cache_creation": 0,
                 "reasoning": 0}
        small = {"input": 300, "output": 40, "cache_read": 0, "cache_creation": 0,
                 "reasoning": 0}
        plan = [
            call("openai.chat", "gpt-4o", "gpt-4o-2024-08-06", usage,
                 scenario={"ratelimit": {"requests": 4321, "tokens": 65432}}),
            call("openai.chat_stream", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", small,
                 scenario={"delay_ms": 50}),
            call("openai.chat_stream", "gpt-4.1", "gpt-4.1-2025-04-14", small,
                 include_usage=False),
            call("anthropic.messages", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929",
                 {"input": 2350, "output": 120, "cache_read": 2000, "cache_creation": 300,
                  "reasoning": 0}),
            call("openai.chat", "sightline-unpriced-model", "sightline-unpriced-model-1", small),
            # 429 once, then answered: an error, a retry and a success.
            call("openai.chat", "gpt-4o", "gpt-4o-2024-08-06", small,
                 scenario={"id": f"{self.prefix}-429", "error": {"status": 429,
                                                                 "fail_first": 1}}),
        ]
        harness.run_genai_sdk(plan, cert, base_url=f"https://127.0.0.1:{self.mock_port}",
                              service_name=self.name("ai"), delay=1.0)

    def tcp(self) -> None:
        self._run([harness.PYTHON, "-c", REFUSED, str(harness.free_port())], "refused")
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True)
        for argv in (["ip", "netns", "add", self.netns],
                     ["ip", "-n", self.netns, "link", "set", "lo", "up"]):
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        ruleset = ("table netdev loss {\n chain in {\n"
                   "  type filter hook ingress device lo priority 0;\n"
                   "  numgen random mod 100 < 10 drop\n }\n}\n")
        subprocess.run(["ip", "netns", "exec", self.netns, "nft", "-f", "-"], input=ruleset,
                       text=True, check=True, capture_output=True, timeout=30)
        out = self._run(["ip", "netns", "exec", self.netns, harness.PYTHON, "-c", LOSSY],
                        "lossy", timeout=180).stdout.strip()
        if out != str(1 << 20):
            raise RuntimeError(f"lossy transfer moved {out} bytes")

    def stop(self) -> None:
        for fixture in reversed(self.fixtures):
            try:
                fixture.stop()
            except Exception:  # noqa: BLE001 - tear down the rest regardless
                pass
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True, timeout=30)


class _Blocked:
    """A client process of ours that waits forever; stop() ends it."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
