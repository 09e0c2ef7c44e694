"""Timing and lifetime: latency against a slow server, connections older than the
daemon, and a promtool-clean exposition after real traffic.

Clients run as a helper process (KEEPALIVE_CLIENT) that keeps one HTTP/1.1
connection open, named by its own OTEL_SERVICE_NAME, and stays alive until the
test is done so the daemon can read that name.
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess

import pytest

import harness

SERVER = "http_server_request_duration_seconds"
SERVER_RESP_BODY = "http_server_response_body_size_bytes"
CLIENT = "http_client_request_duration_seconds"
CLIENT_RESP_BODY = "http_client_response_body_size_bytes"

# Reads "<count> <path>" lines on stdin; makes that many GETs on its one
# connection and answers with one line of "status:body bytes:local port:seconds"
# items, the seconds measured around the whole exchange (so they bracket the
# syscalls the daemon times).
KEEPALIVE_CLIENT = r"""
import http.client, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
conn.connect()
for line in sys.stdin:
    count, path = line.split()
    out = []
    for _ in range(int(count)):
        start = time.monotonic()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        elapsed = time.monotonic() - start
        out.append(f"{resp.status}:{len(body)}:{conn.sock.getsockname()[1]}:{elapsed:.6f}")
    print(" ".join(out), flush=True)
"""


class KeepAliveClient:
    """One long-lived client process holding one keep-alive connection."""

    def __init__(self, port: int, service_name: str):
        env = dict(os.environ, OTEL_SERVICE_NAME=service_name)
        self.proc = subprocess.Popen([harness.PYTHON, "-c", KEEPALIVE_CLIENT, str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True)
        self.local_ports: set[int] = set()
        self.elapsed: list[float] = []  # seconds per request, as the client measured them

    def get(self, path: str, count: int) -> list[tuple[int, int]]:
        """`count` GETs of `path`, in order, on the same connection."""
        self.proc.stdin.write(f"{count} {path}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"client died: {self.proc.stderr.read()}")
        results = []
        for item in line.split():
            status, size, local_port, elapsed = item.split(":")
            results.append((int(status), int(size)))
            self.local_ports.add(int(local_port))
            self.elapsed.append(float(elapsed))
        assert len(self.local_ports) == 1, f"connection was reopened: {self.local_ports}"
        return results

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def clients():
    started: list[KeepAliveClient] = []

    def start(port: int, service_name: str) -> KeepAliveClient:
        client = KeepAliveClient(port, service_name)
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


def server_labels(name: str, route: str, status: int = 200) -> dict:
    return dict(service_name=name, http_request_method="GET", http_response_status_code=status,
                http_route=route)


def client_labels(name: str, port: int, status: int = 200) -> dict:
    return dict(service_name=name, http_request_method="GET", http_response_status_code=status,
                server_address="127.0.0.1", server_port=port)


# --- latency ----------------------------------------------------------------


def test_slow_server_latency(daemon, servers, clients, service_name):
    """/sleep answers after 200 ms: three requests, each observed in [0.200, 0.250] s
    on the server side.

    The client side ends at the last body byte read, and that arrives about 40 ms
    after the server wrote it: http.server writes head and body separately and
    Nagle holds the small body until the client's delayed ACK. So the client sees
    about 0.24 s, close enough to 0.25 that scheduling on a loaded machine tips
    it over. It is bounded by what the client measured around each exchange
    instead: each daemon-observed duration lies inside that interval.
    """
    srv_name, cli_name = f"{service_name}-srv", f"{service_name}-cli"
    srv = servers(harness.start_python_server(service_name=srv_name))
    client = clients(srv.port, cli_name)
    # Warm the connection up first (a 404, kept apart from the 200s below by its
    # status), so the server's handler thread already exists when the timed
    # requests arrive.
    assert client.get("/warmup", 1) == [(404, 9)]
    del client.elapsed[:]
    assert client.get("/sleep", 3) == [(200, 5)] * 3
    measured = client.elapsed

    server = server_labels(srv_name, "/sleep")
    cli = client_labels(cli_name, srv.port)
    m = harness.wait_exact(daemon, [(SERVER, server, 3), (CLIENT, cli, 3)])

    def seen(metric, labels):
        return (f"sum={m.sum_(metric, **labels)} le0.1={m.bucket(metric, 0.1, **labels)} "
                f"le0.25={m.bucket(metric, 0.25, **labels)} "
                f"le0.5={m.bucket(metric, 0.5, **labels)}; client measured {measured}")

    detail = seen(SERVER, server)
    assert 0.600 <= m.sum_(SERVER, **server) <= 0.750, detail
    assert m.bucket(SERVER, 0.1, **server) == 0, detail
    assert m.bucket(SERVER, 0.25, **server) == 3, detail
    assert m.bucket(SERVER, "+Inf", **server) == 3, detail
    assert m.sum_(SERVER_RESP_BODY, **server) == 15

    detail = seen(CLIENT, cli)
    assert 0.600 <= m.sum_(CLIENT, **cli) <= sum(measured), detail
    assert m.bucket(CLIENT, 0.1, **cli) == 0, detail
    assert m.bucket(CLIENT, 0.25, **cli) >= sum(1 for t in measured if t <= 0.25), detail
    assert m.bucket(CLIENT, "+Inf", **cli) == 3, detail
    assert m.sum_(CLIENT_RESP_BODY, **cli) == 15


# --- a connection older than the daemon ---------------------------------------

K = 5


def finish_preexisting(own: harness.Daemon, session: harness.Daemon) -> None:
    code = own.stop()
    assert code == 0, f"own daemon exited with {code}:\n{own.stderr_text()}"
    # The session daemon lived through another daemon loading and unloading probes.
    assert session.alive() and session.healthz() == 200


def test_preexisting_keepalive_python(daemon, servers, clients, service_name):
    """A keep-alive connection opened, and used once, before a daemon of this test's
    own started; K more requests on it afterwards. That daemon counts exactly K on
    both sides: the pre-start request is not counted, the K later ones are,
    including the first, whose read http.server had already begun (blocked in
    recv) when the probes attached."""
    srv_name, cli_name = f"{service_name}-srv", f"{service_name}-cli"
    srv = servers(harness.start_python_server(service_name=srv_name))
    server, cli = server_labels(srv_name, "/ok"), client_labels(cli_name, srv.port)
    client = clients(srv.port, cli_name)
    assert client.get("/ok", 1) == [(200, 2)]
    own = harness.start_daemon()  # returns once /healthz is 200
    try:
        assert own.port != daemon.port
        assert client.get("/ok", K) == [(200, 2)] * K
        m = harness.wait_exact(own, [(SERVER, server, K), (CLIENT, cli, K)])
        assert m.sum_(SERVER_RESP_BODY, **server) == 2 * K
        assert m.sum_(CLIENT_RESP_BODY, **cli) == 2 * K
        assert m.total("sightline_http_requests_unanswered_total", service_name=srv_name) == 0
        assert m.total("sightline_http_requests_unanswered_total", service_name=cli_name) == 0
        # The session daemon, started before the connection, saw all K + 1.
        harness.wait_exact(daemon, [(SERVER, server, K + 1), (CLIENT, cli, K + 1)])
    finally:
        finish_preexisting(own, daemon)


def test_preexisting_keepalive_nginx(daemon, tmp_path, servers, clients, service_name):
    """The same with nginx, which waits in epoll rather than in a read between requests.

    nginx is labelled "nginx" whatever its environment (see test_http_nginx.py), so
    its requests are told apart by a route no other test uses: nginx answers any
    unknown path with its 404 page (146 bytes). (Short letter-only segments, so the
    route stays as it is rather than becoming {id}.)
    """
    cli_name = f"{service_name}-cli"
    route = "/preexisting/" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))
    srv = servers(harness.start_nginx(tmp_path / "nginx"))
    server, cli = server_labels("nginx", route, 404), client_labels(cli_name, srv.port, 404)
    client = clients(srv.port, cli_name)
    assert client.get(route, 1) == [(404, 146)]
    own = harness.start_daemon()
    try:
        assert own.port != daemon.port
        assert client.get(route, K) == [(404, 146)] * K
        m = harness.wait_exact(own, [(SERVER, server, K), (CLIENT, cli, K)])
        assert m.sum_(SERVER_RESP_BODY, **server) == 146 * K
        assert m.sum_(CLIENT_RESP_BODY, **cli) == 146 * K
        harness.wait_exact(daemon, [(SERVER, server, K + 1), (CLIENT, cli, K + 1)])
    finally:
        finish_preexisting(own, daemon)


# --- exposition ---------------------------------------------------------------


def test_promtool_accepts_metrics_after_traffic(daemon, servers, service_name):
    """promtool check metrics passes on the session daemon's /metrics after traffic
    with several statuses, routes, a POST body and a truncated request."""
    name = f"{service_name}-srv"
    srv = servers(harness.start_python_server(service_name=name))
    assert harness.pipeline(srv.port, 4, paths=["/ok", "/bad", "/boom", "/items/42"]) == \
        [(200, 2), (400, 11), (500, 14), (404, 9)]
    assert harness.pipeline(srv.port, 1, paths=["/create"], method="POST",
                            body="x" * 42) == [(201, 16)]
    harness.hostile("truncated", srv.port, "--path", "/sleep")
    harness.wait_exact(daemon, [
        (SERVER, server_labels(name, "/ok"), 1),
        (SERVER, server_labels(name, "/bad", 400), 1),
        (SERVER, server_labels(name, "/boom", 500), 1),
        (SERVER, server_labels(name, "/items/{id}", 404), 1),
        (SERVER, dict(server_labels(name, "/create", 201), http_request_method="POST"), 1),
    ])
    text = daemon.scrape()
    m = harness.parse_metrics(text)
    for family in (SERVER, CLIENT, "http_server_request_body_size_bytes",
                   "http_server_response_body_size_bytes"):
        assert m.types.get(family) == "histogram", family
    result = harness.promtool_check(text)
    assert result.ok, f"promtool check metrics failed ({result.returncode}):\n{result.output}"
