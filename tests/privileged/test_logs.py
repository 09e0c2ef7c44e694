"""JSON access logs from real traffic (needs root and a built daemon).

A daemon of the module's own writes its access lines to a file in a temp
directory (--log-file) and follows only this module's ports. Real clients
(curl) talk to real servers (the Python http.server fixture; the Node AI
mock over TLS); each request carries its own correlation id, so the lines of
one request are found by id and counted exactly: one server line from the
server process and one client line from curl, both with the id curl sent.
Requests without an id get a fresh UUIDv4 on each side.

Secrets sent in the query string and headers must appear nowhere in the file
(nor in the daemon's own diagnostics). An AI call through the OpenAI-shaped
mock yields an AI line with the mock's exact token counts and the price
table's cost.
"""

import json
import os
import re
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import harness

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SECRET_KEY = "sk-live-abc123def456ghi789jkl012mno"
SECRETS = (SECRET_KEY, "a@b.example", "hunter2-pass", "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4",
           "4111111111111111", "AKIAIOSFODNN7EXAMPLE")
LOG_HEADERS = "user-agent,authorization,x-api-key,x-note"


def _require_root() -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "privileged test needs root"
    elif not harness.daemon_binary().exists():
        reason = f"{harness.daemon_binary()} is not built"
    if reason:
        if os.environ.get("SIGHTLINE_REQUIRE_BPF") == "1":
            pytest.fail(f"{reason} (SIGHTLINE_REQUIRE_BPF=1)")
        pytest.skip(reason)


def read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        out.append(json.loads(raw))  # every line must be JSON
    return out


def lines_for(path: Path, correlation_id: str, expected: int, timeout: float = 10.0) -> list[dict]:
    """The lines carrying `correlation_id`, once there are `expected` of them;
    fails with what is there otherwise (and on more than expected)."""
    found: list[dict] = []

    def enough():
        nonlocal found
        found = [l for l in read_lines(path) if l.get("correlation_id") == correlation_id]
        return len(found) >= expected

    try:
        harness.wait_for(enough, timeout=timeout, message=f"{expected} lines for {correlation_id}")
    except TimeoutError:
        pass  # reported below with what is there
    time.sleep(0.3)  # anything extra would have arrived with them
    found = [l for l in read_lines(path) if l.get("correlation_id") == correlation_id]
    assert len(found) == expected, json.dumps(found, indent=1)
    return found


def curl(url: str, service: str, *args: str) -> str:
    argv = ["curl", "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}", *args, url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env=harness.client_env(service), check=True)
    return proc.stdout


def curl_version() -> str:
    out = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def by_direction(lines: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for l in lines:
        assert l["direction"] not in out, f"two {l['direction']} lines: {lines}"
        out[l["direction"]] = l
    return out


def check_timestamp(line: dict, started: datetime) -> None:
    assert ISO.match(line["timestamp"]), line["timestamp"]
    ts = datetime.strptime(line["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert started - timedelta(seconds=1) <= ts <= datetime.now(timezone.utc) + timedelta(seconds=1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    _require_root()
    work = tmp_path_factory.mktemp("logs")
    tag = uuid.uuid4().hex[:8]
    server_name, client_name = f"logs-srv-{tag}", f"logs-cli-{tag}"
    server = harness.start_python_server(service_name=server_name)
    log_file = work / "access.log"
    daemon = harness.start_daemon("--ports", str(server.port), "--log-file", str(log_file),
                                  "--environment", "logs-test", "--log-rate-limit", "0",
                                  "--log-header", LOG_HEADERS)
    try:
        yield {"server": server, "daemon": daemon, "log": log_file, "tag": tag,
               "server_name": server_name, "client_name": client_name,
               "started": datetime.now(timezone.utc)}
    finally:
        code = daemon.stop()
        server.stop()
        assert code == 0, daemon.stderr_text()[-3000:]


def check_pair(s: dict, lines: list[dict], path: str, status: int, level: str,
               response_bytes: int, source: str) -> None:
    sides = by_direction(lines)
    assert set(sides) == {"server", "client"}
    server, client = sides["server"], sides["client"]
    port = s["server"].port
    for l in (server, client):
        check_timestamp(l, s["started"])
        assert l["level"] == level
        assert l["environment"] == "logs-test"
        assert l["correlation_source"] == source
        assert l["method"] == "GET"
        assert l["path"] == path
        assert l["route"] == path
        assert l["status"] == status
        assert l["request_bytes"] == 0
        assert l["response_bytes"] == response_bytes
        assert isinstance(l["duration_ms"], (int, float)) and 0 < l["duration_ms"] < 5000
        assert l["headers"]["user-agent"] == f"curl/{curl_version()}"
    assert server["service"] == s["server_name"]
    assert server["message"] == "HTTP request"
    assert server["pid"] == s["server"].pid
    assert re.match(r"^127\.0\.0\.1:\d+$", server["peer"]), server["peer"]
    assert "server_address" not in server
    assert client["service"] == s["client_name"]
    assert client["message"] == "HTTP client request"
    assert client["peer"] == f"127.0.0.1:{port}"
    assert client["server_address"] == "127.0.0.1"
    assert client["server_port"] == port
    # The client's own port is the server's peer.
    assert server["peer"] != client["peer"]


def test_lines_per_correlation_id(setup):
    s = setup
    url = f"http://127.0.0.1:{s['server'].port}"
    rid = f"req-{s['tag']}"
    for _ in range(2):
        assert curl(f"{url}/ok", s["client_name"], "-H", f"X-Request-ID: {rid}") == "200"
    lines = lines_for(s["log"], rid, 4)
    assert sorted(l["direction"] for l in lines) == ["client", "client", "server", "server"]
    servers = [l for l in lines if l["direction"] == "server"]
    clients = [l for l in lines if l["direction"] == "client"]
    for sv, cl in zip(servers, clients):
        check_pair(s, [sv, cl], "/ok", 200, "INFO", 2, "x-request-id")

    trace = uuid.uuid4().hex
    tp = f"00-{trace}-{uuid.uuid4().hex[:16]}-01"
    # traceparent wins over X-Request-ID; a 5xx is an error.
    assert curl(f"{url}/boom", s["client_name"], "-H", f"traceparent: {tp}",
                "-H", f"X-Request-ID: loser-{s['tag']}") == "500"
    check_pair(s, lines_for(s["log"], trace, 2), "/boom", 500, "ERROR", 14, "traceparent")
    assert lines_for(s["log"], f"loser-{s['tag']}", 0, timeout=0.5) == []

    cid = f"corr-{s['tag']}"
    assert curl(f"{url}/bad", s["client_name"], "-H", f"X-Correlation-ID: {cid}") == "400"
    check_pair(s, lines_for(s["log"], cid, 2), "/bad", 400, "WARNING", 11, "x-correlation-id")

    # No id at all: each side makes its own UUIDv4.
    marker = f"/ok?none={s['tag']}"
    assert curl(f"{url}{marker}", s["client_name"]) == "200"
    found: list[dict] = []

    def two():
        nonlocal found
        found = [l for l in read_lines(s["log"]) if l.get("query") == f"none={s['tag']}"]
        return len(found) >= 2

    harness.wait_for(two, timeout=10)
    time.sleep(0.3)
    found = [l for l in read_lines(s["log"]) if l.get("query") == f"none={s['tag']}"]
    assert len(found) == 2, found
    sides = by_direction(found)
    for l in found:
        assert l["correlation_source"] == "generated"
        assert UUID4.match(l["correlation_id"]), l["correlation_id"]
    assert sides["server"]["correlation_id"] != sides["client"]["correlation_id"]

    d = s["daemon"]
    assert d.total("sightline_log_lines_dropped_total", reason="rate_limit") == 0
    assert d.total("sightline_log_lines_dropped_total", reason="write_error") == 0
    assert d.total("sightline_log_lines_dropped_total", reason="queue_full") == 0


def test_secrets_never_reach_the_file(setup):
    s = setup
    url = f"http://127.0.0.1:{s['server'].port}"
    rid = f"secret-{s['tag']}"
    query = f"?token={SECRET_KEY}&email=a@b.example&password=hunter2-pass&page=3"
    assert curl(f"{url}/ok{query}", s["client_name"], "-H", f"X-Request-ID: {rid}",
                "-H", "Authorization: Bearer sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4",
                "-H", f"X-Api-Key: {SECRET_KEY}",
                "-H", "X-Note: card 4111111111111111 key AKIAIOSFODNN7EXAMPLE") == "200"
    lines = lines_for(s["log"], rid, 2)
    for l in lines:
        assert l["path"] == "/ok"
        assert l["query"] == "token=***&email=***&password=***&page=3"
        assert l["headers"]["authorization"] == "***"
        assert l["headers"]["x-api-key"] == "***"
        assert l["headers"]["x-note"] == "card *** key ***"
    text = s["log"].read_text(errors="replace")
    for secret in SECRETS:
        assert secret not in text, secret
        assert secret not in s["daemon"].stderr_text(), secret
    # Look-alikes are left alone.
    lid = f"look-{s['tag']}"
    assert curl(f"{url}/ok?order=4111111111111112&ref=task-123&skip=skip-this", s["client_name"],
                "-H", f"X-Request-ID: {lid}") == "200"
    for l in lines_for(s["log"], lid, 2):
        assert l["query"] == "order=4111111111111112&ref=task-123&skip=skip-this"


def test_brief_environment_variables(tmp_path):
    """LOG_FILE, LOG_LEVEL and ENVIRONMENT as the brief names them."""
    _require_root()
    tag = uuid.uuid4().hex[:8]
    server = harness.start_python_server(service_name=f"logs-env-{tag}")
    log_file = tmp_path / "env.log"
    daemon = harness.start_daemon("--ports", str(server.port),
                                  env={"LOG_FILE": str(log_file), "LOG_LEVEL": "WARNING",
                                       "ENVIRONMENT": "staging", "LOG_RETENTION_DAYS": "7"})
    try:
        url = f"http://127.0.0.1:{server.port}"
        for path, code in (("/ok", "200"), ("/ok", "200"), ("/bad", "400"), ("/boom", "500")):
            assert curl(f"{url}{path}", f"logs-envcli-{tag}",
                        "-H", f"X-Request-ID: env-{tag}-{path[1:]}") == code
        assert lines_for(log_file, f"env-{tag}-bad", 2)[0]["environment"] == "staging"
        assert {l["level"] for l in lines_for(log_file, f"env-{tag}-boom", 2)} == {"ERROR"}
        assert lines_for(log_file, f"env-{tag}-ok", 0, timeout=0.5) == []
        assert daemon.total("sightline_log_lines_dropped_total", reason="below_level") == 4
        assert daemon.total("sightline_log_lines_total", kind="http") == 4
    finally:
        code = daemon.stop()
        server.stop()
        assert code == 0, daemon.stderr_text()[-3000:]


def test_ai_call_line_has_exact_tokens_and_cost(tmp_path):
    """curl (system libssl) to the Node mock provider, declared OpenAI-compatible."""
    _require_root()
    tag = uuid.uuid4().hex[:8]
    cert = harness.make_genai_cert(tmp_path / "cert")
    port = harness.free_port()
    log_file = tmp_path / "ai.log"
    daemon = harness.start_daemon("--ports", str(port), "--log-file", str(log_file),
                                  "--openai-compatible-host", f"127.0.0.1:{port}",
                                  "--log-rate-limit", "0")
    mock = harness.start_genai_mock(cert, port=port, service_name=f"logs-mock-{tag}")
    try:
        rid = f"ai-{tag}"
        scenario = {"model": "gpt-4o-2024-08-06",
                    "usage": {"input": 1200, "output": 80, "cache_read": 1024}}
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        code = curl(f"https://127.0.0.1:{port}/v1/chat/completions", f"logs-ai-{tag}",
                    "--cacert", str(cert / "cert.pem"), "-H", "content-type: application/json",
                    "-H", f"X-Request-ID: {rid}", "-H", f"Authorization: Bearer {SECRET_KEY}",
                    "-H", "x-mock-scenario: " + json.dumps(scenario), "-d", json.dumps(body))
        assert code == "200"
        lines = lines_for(log_file, rid, 3)
        by_message = {l["message"]: l for l in lines}
        assert set(by_message) == {"HTTP request", "HTTP client request", "AI API call"}, lines
        ai = by_message["AI API call"]
        assert by_message["HTTP request"]["service"] == f"logs-mock-{tag}"
        assert by_message["HTTP client request"]["service"] == f"logs-ai-{tag}"
        assert ai["service"] == f"logs-ai-{tag}"
        assert ai["direction"] == "client"
        assert ai["level"] == "INFO"
        assert ai["gen_ai_provider"] == "openai"
        assert ai["gen_ai_operation"] == "chat"
        assert ai["request_model"] == "gpt-4o"
        assert ai["response_model"] == "gpt-4o-2024-08-06"
        assert ai["stream"] is False
        assert ai["status"] == 200
        assert ai["path"] == "/v1/chat/completions"
        assert ai["server_address"] == "127.0.0.1" and ai["server_port"] == port
        assert (ai["input_tokens"], ai["output_tokens"], ai["cache_read_tokens"],
                ai["cache_creation_tokens"], ai["reasoning_tokens"]) == (1200, 80, 1024, 0, 0)
        # gpt-4o (the snapshot's base name): $2.50/M input, $1.25/M cached, $10/M output.
        expected = ((1200 - 1024) * 2.50 + 1024 * 1.25 + 80 * 10.00) / 1e6
        assert abs(ai["cost_usd"] - expected) < 1e-12, ai["cost_usd"]
        assert "error_type" not in ai and "ttft_ms" not in ai
        assert SECRET_KEY not in log_file.read_text()
        assert daemon.total("sightline_log_lines_total", kind="gen_ai") == 1
    finally:
        mock.stop()
        code = daemon.stop()
        assert code == 0, daemon.stderr_text()[-3000:]
