"""Client side: curl and Debian's python3 urllib calling the fixture servers.

Each client runs as a process of its own with OTEL_SERVICE_NAME set, and the
test asserts `http_client_request_duration_seconds` (and the client body size
histograms) for that name exactly, per (method, status, server_address,
server_port): server_address is the Host header's host, server_port its port,
else the peer's port. The same transfers are cross-checked on the server side
under each server's own service_name.

The daemon resolves a process's service_name when it first books one of its
requests. The clients in the main tests stay alive for a while after their
first answer (curl paced with --rate, urllib lingering before exit) so that
happens while they run; a client that exits right after its only request is
the subject of test_short_lived_client_keeps_its_service_name.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Optional


import harness
from harness import CLIENT, SERVER, UNANSWERED, booked, client_env


# A urllib client: argv[1] is a JSON list of transfers, argv[2] seconds to stay
# alive after the last one. Prints one JSON list of [status, body bytes].
URLLIB_CLIENT = r"""
import json, sys, time, urllib.error, urllib.request
out = []
for t in json.loads(sys.argv[1]):
    data = t["body"].encode() if t["body"] is not None else None
    req = urllib.request.Request(t["url"], data=data, method=t["method"], headers=t["headers"])
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            out.append([resp.status, len(resp.read())])
    except urllib.error.HTTPError as err:
        out.append([err.code, len(err.read())])
print(json.dumps(out), flush=True)
time.sleep(float(sys.argv[2]))
"""


@dataclass
class Transfer:
    server: harness.Fixture
    method: str
    path: str
    route: str
    status: int
    size: int                     # response body bytes, per the fixture header
    body: Optional[str] = None    # JSON request body
    host: Optional[str] = None    # Host header to send instead of the URL's

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{self.path}"

    @property
    def headers(self) -> dict:
        out = {}
        if self.body is not None:
            out["Content-Type"] = "application/json"
        if self.host is not None:
            out["Host"] = self.host
        return out

    def client_key(self) -> tuple:
        """(method, status, server_address, server_port) this transfer must be booked under."""
        address, port = "127.0.0.1", self.server.port
        if self.host is not None:
            address, _, explicit = self.host.partition(":")
            port = int(explicit) if explicit else self.server.port
        return (self.method, str(self.status), address, str(port))

    def request_bytes(self) -> int:
        return len(self.body.encode()) if self.body is not None else 0


def start_servers(servers, service_name: str, go_server_bin) -> dict[str, harness.Fixture]:
    return {
        "py": servers(harness.start_python_server(service_name=f"{service_name}-py")),
        "fastapi": servers(harness.start_fastapi_app(service_name=f"{service_name}-fastapi")),
        "node": servers(harness.start_node_server(service_name=f"{service_name}-node")),
        "go": servers(harness.start_go_server(go_server_bin, service_name=f"{service_name}-go")),
    }


def plan(srv: dict[str, harness.Fixture]) -> list[Transfer]:
    """Transfers against all four servers; a distinct count for most client series."""
    py, fa, node, go = srv["py"], srv["fastapi"], srv["node"], srv["go"]
    create = json.dumps({"name": "widget", "qty": 3})
    campaign = json.dumps({"name": "spring sale", "budget": 1200, "channels": ["mail", "web"]})
    echo = json.dumps({"echo": "e" * 200})
    t = [
        *[Transfer(py, "GET", "/ok", "/ok", 200, 2) for _ in range(3)],
        *[Transfer(py, "GET", "/ok?x=1", "/ok", 200, 2, host="api.example.test")
          for _ in range(2)],
        Transfer(py, "GET", "/ok", "/ok", 200, 2, host="api.example.test:8443"),
        *[Transfer(py, "POST", "/create", "/create", 201, 14 + len(str(len(create))), create)
          for _ in range(2)],
        *[Transfer(py, "POST", "/bad", "/bad", 400, 11, '{"bad": true}') for _ in range(4)],
        Transfer(py, "GET", "/boom", "/boom", 500, 14),
        Transfer(fa, "GET", "/api/campaigns/42", "/api/campaigns/{id}", 200, 29),
        Transfer(fa, "GET", "/api/health", "/api/health", 200, 15, host="localhost"),
        Transfer(fa, "POST", "/api/campaigns", "/api/campaigns", 201,
                 28 + len(str(len(campaign))), campaign),
        *[Transfer(fa, "POST", "/api/validate", "/api/validate", 400, 19, '{"name": ""}')
          for _ in range(2)],
        Transfer(fa, "GET", "/api/error", "/api/error", 500, 20),
        *[Transfer(node, "GET", "/chunked/3", "/chunked/{id}", 200, 300) for _ in range(2)],
        Transfer(node, "GET", "/chunked/30", "/chunked/{id}", 200, 3000),
        Transfer(node, "GET", "/plain", "/plain", 200, 13),
        Transfer(go, "GET", "/items/7", "/items/{id}", 200, 10),
        *[Transfer(go, "POST", "/echo", "/echo", 200, len(echo), echo) for _ in range(3)],
        Transfer(go, "GET", "/missing", "/missing", 404, 7, host="go.internal:9999"),
    ]
    return t


def expected_client(transfers: list[Transfer]) -> dict:
    """client key -> (count, request body sum, response body sum)."""
    out: dict = {}
    for t in transfers:
        n, req, resp = out.get(t.client_key(), (0, 0, 0))
        out[t.client_key()] = (n + 1, req + t.request_bytes(), resp + t.size)
    return out


def expected_server(transfers: list[Transfer], server: harness.Fixture) -> dict:
    out: dict = {}
    for t in transfers:
        if t.server is not server:
            continue
        key = (t.method, str(t.status), t.route)
        n, req, resp = out.get(key, (0, 0, 0))
        out[key] = (n + 1, req + t.request_bytes(), resp + t.size)
    return out


def assert_booked(daemon: harness.Daemon, want: dict[tuple[str, str], dict],
                  timeout: float = 15.0, settle: float = 1.0) -> harness.Metrics:
    """want: (service, side) -> expected booked() table. Waits until every count
    matches exactly, then `settle` seconds more, then compares counts and sums."""
    def counts(table):
        return {k: v[0] for k, v in table.items()}

    seen: dict = {}

    def reached():
        m = daemon.metrics()
        ok = True
        for (service, side), table in want.items():
            got = {k: v[0] for k, v in booked(m, service, side).items()}
            seen[(service, side)] = got
            ok = ok and got == counts(table)
        return m if ok else None

    try:
        harness.wait_for(reached, timeout=timeout, message="client/server counts")
    except TimeoutError:
        diff = {key: (seen.get(key), counts(table)) for key, table in want.items()
                if seen.get(key) != counts(table)}
        raise AssertionError(f"counts (seen, expected) after {timeout}s: {diff}") from None
    time.sleep(settle)
    m = daemon.metrics()
    for (service, side), table in want.items():
        assert booked(m, service, side) == table, (service, side)
        assert m.total(UNANSWERED, service_name=service) == 0, m.samples(UNANSWERED,
                                                                          service_name=service)
    return m


def run_curl(transfers: list[Transfer], service_name: str, rate: str = "8/s"):
    """One curl process for all transfers (keep-alive per server), paced by --rate.
    Returns [(status, body bytes downloaded, bytes uploaded)]."""
    argv = ["curl", "--rate", rate]
    for i, t in enumerate(transfers):
        if i:
            argv.append("--next")
        argv += ["-sS", "-o", os.devnull, "-w", "%{http_code} %{size_download} %{size_upload}\\n"]
        if t.body is not None:
            argv += ["--data-binary", t.body]
        for name, value in t.headers.items():
            argv += ["-H", f"{name}: {value}"]
        argv.append(t.url)
    proc = subprocess.run(argv, env=client_env(service_name), capture_output=True, text=True,
                          timeout=60, check=True)
    return [tuple(int(x) for x in line.split()) for line in proc.stdout.splitlines()]


def run_urllib(transfers: list[Transfer], service_name: str, linger: float = 1.0):
    """One /usr/bin/python3 process making each transfer on a connection of its own.
    Returns [(status, body bytes read)]."""
    spec = [{"url": t.url, "method": t.method, "body": t.body, "headers": t.headers}
            for t in transfers]
    proc = subprocess.run([harness.PYTHON, "-c", URLLIB_CLIENT, json.dumps(spec), str(linger)],
                          env=client_env(service_name), capture_output=True, text=True,
                          timeout=60, check=True)
    return [tuple(x) for x in json.loads(proc.stdout)]


def server_wants(transfers, srv: dict[str, harness.Fixture], service_name: str) -> dict:
    return {(f"{service_name}-{key}", "server"): expected_server(transfers, fixture)
            for key, fixture in srv.items()}


# ---------------------------------------------------------------------------


def test_curl_client_exact_counts_and_labels(daemon, service_name, servers, go_server_bin):
    """curl (one process, keep-alive per server) against http.server, FastAPI, Node and
    Go: GET/POST answered 200/201/400/404/500, Host headers with and without a
    port: exact counts, statuses, server_address/server_port and body sums."""
    srv = start_servers(servers, service_name, go_server_bin)
    transfers = plan(srv)
    got = run_curl(transfers, service_name)
    assert got == [(t.status, t.size, t.request_bytes()) for t in transfers]

    want = {(service_name, "client"): expected_client(transfers)}
    want.update(server_wants(transfers, srv, service_name))
    # Spot-check the label rules on the expected table itself.
    client = want[(service_name, "client")]
    py, go = str(srv["py"].port), str(srv["go"].port)
    assert client[("GET", "200", "127.0.0.1", py)] == (3, 0, 6)
    assert client[("GET", "200", "api.example.test", py)] == (2, 0, 4)
    assert client[("GET", "200", "api.example.test", "8443")] == (1, 0, 2)
    assert client[("GET", "404", "go.internal", "9999")] == (1, 0, 7)
    assert ("GET", "404", "127.0.0.1", go) not in client
    assert_booked(daemon, want)


def test_urllib_client_exact_counts_and_labels(daemon, service_name, servers, go_server_bin):
    """Debian python3 urllib (a connection per request) against the same four servers
    and the same transfers as the curl test."""
    srv = start_servers(servers, service_name, go_server_bin)
    transfers = plan(srv)
    got = run_urllib(transfers, service_name)
    assert got == [(t.status, t.size) for t in transfers]

    want = {(service_name, "client"): expected_client(transfers)}
    want.update(server_wants(transfers, srv, service_name))
    assert_booked(daemon, want)


def test_short_lived_client_keeps_its_service_name(daemon, service_name, servers):
    """Six curl runs and three urllib runs, one request each, each process with a
    service name of its own that it exits right after using."""
    srv = servers(harness.start_python_server(service_name=f"{service_name}-py"))
    names = []
    for i in range(6):
        name = f"{service_name}-curl{i}"
        names.append(name)
        assert run_curl([Transfer(srv, "GET", "/ok", "/ok", 200, 2)], name) == [(200, 2, 0)]
    for i in range(3):
        name = f"{service_name}-urllib{i}"
        names.append(name)
        assert run_urllib([Transfer(srv, "GET", "/ok", "/ok", 200, 2)], name, linger=0) == \
            [(200, 2)]

    labels = dict(http_request_method="GET", http_response_status_code=200,
                  server_address="127.0.0.1", server_port=srv.port)
    # Wait for all nine, whatever they are named, then look at the names.
    m = daemon.wait_count(CLIENT, len(names), timeout=10, settle=1.0, **labels)
    by_name: dict = {}
    for got, value in m.samples(CLIENT + "_count", **labels):
        by_name[got["service_name"]] = by_name.get(got["service_name"], 0) + value
    assert sum(by_name.values()) == len(names)
    # The server side is a long-lived process and always right.
    assert m.count(SERVER, service_name=f"{service_name}-py") == len(names)
    assert by_name == {name: 1 for name in names}
