"""TLS: HTTP/1.1 requests carried over TLS are counted from their plaintext,
exactly as plain HTTP is, on both sides; what cannot be seen is said so.

Servers: nginx over TLS (system libssl.so.3, tests/fixtures/nginx_conf.sh --tls)
and the Go crypto/tls fixture (tests/fixtures/go_tls, HTTP/1.1 forced; an h2
flavour; a stripped build). Clients: curl and Debian's python3 http.client
(system libssl.so.3), Node's https module and fetch (OpenSSL linked into
/usr/bin/node), the Go fixture's client. Every certificate check is real: the
clients trust only the session's self-signed certificate (tls_cert fixture).

Attachment: libssl.so.3 is attached when the daemon starts, so curl and python
need no delay; a new executable (node, a Go binary) is attached within a second
of its exec, so those clients wait 1.5 s before their first request (--delay),
and a Go server has been running at least that long before its first request
(it starts before a delayed client, or the test waits). Every fixture here
starts after the daemon that observes it.

Which daemon:
  - nginx names itself "nginx" whatever its environment says (see
    test_http_nginx.py), and the daemon-wide counters (sightline_tls_*,
    sightline_connections_total, sightline_parse_errors_total) have no
    service_name: tests asserting either run a daemon of their own restricted
    to their server's port (--ports), started before the server. It sees both
    ends of each loopback connection and nothing else, so per-connection
    counters move by one per observed end: two per connection when both ends
    are on this host.
  - Tests about service-labelled series of Go processes use the shared session
    daemon and their own service names.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from typing import Callable

import pytest

import harness
from harness import (CLIENT, CLIENT_RESP_BODY, CONNECTIONS, LOST, PARSE_ERRORS, SERVER,
                     SERVER_RESP_BODY, UNANSWERED, booked, service_names)

TLS_PROCESSES = "sightline_tls_processes"
TLS_BINARIES = "sightline_tls_binaries_attached"
TLS_CONNECTIONS = "sightline_tls_connections_total"

# Seconds a new executable may take to be attached (1 s by contract) plus margin.
ATTACH = 1.5

BIG = 100000
# Response body bytes per route (nginx_conf.sh --tls and go_tls/main.go headers).
NGINX_SIZES = {"/": 2, "/items/{id}": 13, "/missing": 7, "/big": BIG}
GO_SIZES = {"/": 2, "/items/{id}": 13, "/missing": 7, "/big": BIG}
STATUS = {"/": 200, "/items/{id}": 200, "/missing": 404, "/big": 200, "/post": 200}


def route_of(path: str) -> str:
    return "/items/{id}" if path.startswith("/items/") else path


# ---------------------------------------------------------------------------
# Expected tables


class Book:
    """What the daemon should have booked, per (service, side):
    key -> (count, request body sum, response body sum); server keys are
    (method, status, route), client keys (method, status, server_address, port)."""

    def __init__(self):
        self.tables: dict[tuple[str, str], dict] = {}

    def _add(self, service: str, side: str, key: tuple, req: int, resp: int) -> None:
        table = self.tables.setdefault((service, side), {})
        n, r, s = table.get(key, (0, 0, 0))
        table[key] = (n + 1, r + req, s + resp)

    def server(self, service: str, method: str, route: str, status: int, resp: int,
               req: int = 0) -> None:
        self._add(service, "server", (method, str(status), route), req, resp)

    def client(self, service: str, method: str, status: int, address: str, port: int,
               resp: int, req: int = 0) -> None:
        self._add(service, "client", (method, str(status), address, str(port)), req, resp)

    def total(self, side: str) -> int:
        return sum(n for (_, s), table in self.tables.items() if s == side
                   for n, _, _ in table.values())


def tls_diagnostics(daemon: harness.Daemon) -> str:
    """The HTTP series, loss and error counters, and every sightline_tls_* sample."""
    text = harness.diagnostics(daemon, [(SERVER, {}, 0), (CLIENT, {}, 0)])
    m = daemon.metrics()
    lines = [f"  {name}{labels} {value}" for name in (TLS_PROCESSES, TLS_BINARIES,
                                                     TLS_CONNECTIONS)
             for labels, value in sorted(m.samples(name), key=str)]
    return text + "\n" + "\n".join(lines)


def settle(daemon: harness.Daemon, checks: dict[str, tuple[Callable, object]],
           timeout: float = 15.0, settle_s: float = 1.0) -> harness.Metrics:
    """checks: what -> (view(metrics), expected). Polls until every view equals its
    expected value, waits `settle_s` more and checks again (no late over-count).
    Returns the last scrape; on failure says what was seen and what the daemon has."""
    misses: dict = {}

    def reached():
        m = daemon.metrics()
        misses.clear()
        for what, (view, want) in checks.items():
            got = view(m)
            if got != want:
                misses[what] = (got, want)
        return None if misses else m

    def report(when: str) -> str:
        lines = [f"{what}: got {got!r}, expected {want!r}" for what, (got, want) in
                 misses.items()]
        return (f"{len(misses)} check(s) off {when}:\n  " + "\n  ".join(lines) + "\n" +
                tls_diagnostics(daemon))

    try:
        harness.wait_for(reached, timeout=timeout, message="checks")
    except TimeoutError:
        raise AssertionError(report(f"after {timeout}s")) from None
    time.sleep(settle_s)
    m = reached()
    assert m is not None, report(f"{settle_s}s after they matched")
    return m


def book_checks(book: Book) -> dict:
    """One check per (service, side): the full booked() table."""
    return {f"{service} {side}": (lambda m, s=service, d=side: booked(m, s, d), table)
            for (service, side), table in book.tables.items()}


def global_counts(m: harness.Metrics) -> dict:
    """The daemon-wide counters TLS traffic moves (zeros included)."""
    return {
        "tls plaintext": m.total(TLS_CONNECTIONS, visibility="plaintext"),
        "tls opaque": m.total(TLS_CONNECTIONS, visibility="opaque"),
        "conn tls": m.total(CONNECTIONS, event="tls"),
        "conn http2": m.total(CONNECTIONS, event="http2"),
        "conn unclassified": m.total(CONNECTIONS, event="unclassified"),
        "parse errors": m.total(PARSE_ERRORS),
        "unanswered": m.total(UNANSWERED),
        "lost": m.total(LOST),
    }


def moved(before: harness.Metrics, *names: str) -> Callable[[harness.Metrics], dict]:
    """A view: how much each named global counter moved since `before`."""
    base = global_counts(before)
    return lambda m: {n: global_counts(m)[n] - base[n] for n in names}


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def nginx_tls(tmp_path, servers, tls_cert, own_daemon):
    """(daemon, nginx): a --ports daemon, then nginx over TLS on that port."""
    port = harness.free_port()
    d = own_daemon([port])
    srv = servers(harness.start_nginx_tls(tmp_path / "nginx", tls_cert, port=port))
    return d, srv


def _curl_checked(urls: list[str], cert, name: str | None,
                  http2: bool = False) -> list[tuple]:
    """curl in one process; asserts every answer is the documented one and that
    the whole run used one connection."""
    got = harness.run_curl_https(urls, cert, service_name=name, http2=http2)
    assert len(got) == len(urls), got
    version = "2" if http2 else "1.1"
    for url, (status, size, ver, _) in zip(urls, got):
        route = route_of("/" + url.split("/", 3)[3])
        assert (status, size, ver) == (STATUS[route], NGINX_SIZES[route], version), (url, got)
    assert sum(c for *_, c in got) == 1, f"curl opened more than one connection: {got}"
    return got


# ---------------------------------------------------------------------------
# The fixtures themselves (no daemon, no root): what the tests below rely on


def test_tls_fixtures_answer_as_documented(tmp_path, tls_cert, go_tls_bin,
                                           go_tls_stripped_bin):
    """nginx over TLS (HTTP/1.1 and h2 ports) and the three Go servers answer every
    client with the documented statuses and sizes, on one connection per client
    run, and stop with exit 0; certificate checks are real (a client trusting
    other roots fails)."""
    ng = harness.start_nginx_tls(tmp_path / "nginx", tls_cert, h2_port=harness.free_port())
    go = harness.start_go_tls_server(go_tls_bin, tls_cert)
    h2 = harness.start_go_tls_server(go_tls_bin, tls_cert, h2=True)
    stripped = harness.start_go_tls_server(go_tls_stripped_bin, tls_cert)
    try:
        paths = ["/", "/items/3", "/missing", "/big"]
        want = [(STATUS[route_of(p)], NGINX_SIZES[route_of(p)]) for p in paths]
        for srv in (ng, go, stripped):
            base = harness.https_url(srv.port)
            _curl_checked([base + p for p in paths], tls_cert, None)
            out = harness.run_https_client(base, tls_cert, 8, paths, connections=2)
            assert list(zip(out["statuses"], out["sizes"])) == want * 2, out
            assert out["connections"] == 2, out
            for mode in ("https", "fetch"):
                out = harness.run_node_https_client(mode, base, tls_cert, 4, paths, delay=0)
                assert list(zip(out["statuses"], out["sizes"])) == want, (mode, out)
            out = harness.run_go_tls_client(go_tls_bin, base, tls_cert, 4, paths, delay=0)
            assert list(zip(out["statuses"], out["sizes"])) == want, out
            assert (out["connections"], out["protos"]) == (1, {"HTTP/1.1": 4}), out
            # HTTP/1.1-only servers: a client asking for h2 gets HTTP/1.1.
            assert harness.run_curl_https([base + "/"], tls_cert, http2=True)[0][2] == "1.1"
        out = harness.run_go_tls_client(go_tls_bin, harness.https_url(go.port), tls_cert, 2,
                                        ["/post"], method="POST", body="x" * 25, delay=0)
        assert (out["statuses"], out["sizes"]) == ([200] * 2, [13] * 2), out
        for port in (h2.port, ng.h2_port):
            _curl_checked([harness.https_url(port) + p for p in paths], tls_cert, None,
                          http2=True)
        out = harness.run_go_tls_client(go_tls_bin, harness.https_url(h2.port), tls_cert, 4,
                                        paths, h2=True, delay=0)
        assert (out["connections"], out["protos"]) == (1, {"HTTP/2.0": 4}), out
        # Clients trusting the system roots instead of the test certificate fail.
        other = tmp_path / "other"
        other.mkdir()
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", other / "cert.pem")
        with pytest.raises(RuntimeError, match="CERTIFICATE_VERIFY_FAILED"):
            harness.run_https_client(harness.https_url(ng.port), other, 1)
        with pytest.raises(RuntimeError, match="certificate signed by unknown authority"):
            harness.run_go_tls_client(go_tls_bin, harness.https_url(go.port), other, 1, delay=0)
    finally:
        codes = [srv.stop() for srv in (ng, go, h2, stripped)]
    assert codes == [0, 0, 0, 0]


# ---------------------------------------------------------------------------
# HTTP/1.1 over TLS, both sides exact


# 20 requests for one curl process on one connection: 8 x /, 7 x /items/<n>, 5 x /missing.
CURL_PATHS = ["/", "/items/1", "/missing", "/", "/items/22", "/", "/missing", "/items/333",
              "/", "/items/4444", "/missing", "/", "/items/55555", "/", "/missing",
              "/items/666666", "/", "/items/7", "/missing", "/"]
# Then one curl process per request.
CURL_SINGLE = ["/items/9", "/missing", "/"]


def test_nginx_tls_curl_exact_counts(nginx_tls, tls_cert, service_name):
    """curl (dynamic libssl.so.3) against nginx over TLS: 20 requests on one
    connection in one process, then 3 processes of one request each, all named
    by OTEL_SERVICE_NAME. Exactly 23 requests on each side, each under its
    status, route and Host-derived server_address/server_port."""
    d, srv = nginx_tls
    name = f"{service_name}-curl"
    base = harness.https_url(srv.port)
    assert Counter(route_of(p) for p in CURL_PATHS) == {"/": 8, "/items/{id}": 7,
                                                        "/missing": 5}
    _curl_checked([base + p for p in CURL_PATHS], tls_cert, name)
    for path in CURL_SINGLE:
        _curl_checked([base + path], tls_cert, name)

    book = Book()
    for path in CURL_PATHS + CURL_SINGLE:
        route = route_of(path)
        book.server("nginx", "GET", route, STATUS[route], NGINX_SIZES[route])
        book.client(name, "GET", STATUS[route], "localhost", srv.port, NGINX_SIZES[route])
    assert book.tables[("nginx", "server")] == {
        ("GET", "200", "/"): (9, 0, 18), ("GET", "200", "/items/{id}"): (8, 0, 104),
        ("GET", "404", "/missing"): (6, 0, 42)}
    assert book.tables[(name, "client")] == {
        ("GET", "200", "localhost", str(srv.port)): (17, 0, 122),
        ("GET", "404", "localhost", str(srv.port)): (6, 0, 42)}

    checks = book_checks(book)
    checks["every client series (any name)"] = (lambda m: service_names(m, "client"),
                                                {name: 23})
    checks["every server series (any name)"] = (lambda m: service_names(m, "server"),
                                                {"nginx": 23})
    checks["unanswered, lost"] = (lambda m: (m.total(UNANSWERED), m.total(LOST)), (0, 0))
    settle(d, checks)


def test_python_http_client_keepalive(nginx_tls, tls_cert, service_name):
    """Debian python3 http.client (system libssl.so.3), 11 requests on one
    kept-alive connection to https://127.0.0.1:<port>: exact on both sides."""
    d, srv = nginx_tls
    name = f"{service_name}-py"
    paths = ["/", "/items/5", "/missing"]
    out = harness.run_https_client(harness.https_url(srv.port, "127.0.0.1"), tls_cert, 11,
                                   paths, service_name=name)
    want = [(STATUS[route_of(paths[i % 3])], NGINX_SIZES[route_of(paths[i % 3])])
            for i in range(11)]
    assert list(zip(out["statuses"], out["sizes"])) == want, out
    assert out["connections"] == 1, out

    book = Book()
    for status, size in want:
        route = {2: "/", 13: "/items/{id}", 7: "/missing"}[size]
        book.server("nginx", "GET", route, status, size)
        book.client(name, "GET", status, "127.0.0.1", srv.port, size)
    assert sum(n for n, _, _ in book.tables[("nginx", "server")].values()) == 11
    checks = book_checks(book)
    checks["totals"] = (lambda m: (m.count(CLIENT), m.count(SERVER)), (11, 11))
    checks["unanswered, lost"] = (lambda m: (m.total(UNANSWERED), m.total(LOST)), (0, 0))
    settle(d, checks)


@pytest.mark.parametrize("mode", ["https", "fetch"])
def test_node_clients_keepalive(nginx_tls, tls_cert, service_name, mode):
    """Node (OpenSSL linked into /usr/bin/node, attached on exec): the https module
    with a keep-alive agent of one socket, and fetch; 10 requests each, after
    the 1.5 s attach delay. Exact on both sides."""
    d, srv = nginx_tls
    name = f"{service_name}-node"
    paths = ["/", "/items/12", "/missing"]
    out = harness.run_node_https_client(mode, harness.https_url(srv.port), tls_cert, 10,
                                        paths, service_name=name, delay=ATTACH)
    routes = [route_of(paths[i % 3]) for i in range(10)]
    assert list(zip(out["statuses"], out["sizes"])) == \
        [(STATUS[r], NGINX_SIZES[r]) for r in routes], out
    if mode == "https":
        assert out["connections"] == 1, out

    book = Book()
    for route in routes:
        book.server("nginx", "GET", route, STATUS[route], NGINX_SIZES[route])
        book.client(name, "GET", STATUS[route], "localhost", srv.port, NGINX_SIZES[route])
    checks = book_checks(book)
    checks["totals"] = (lambda m: (m.count(CLIENT), m.count(SERVER)), (10, 10))
    checks["unanswered, lost"] = (lambda m: (m.total(UNANSWERED), m.total(LOST)), (0, 0))
    settle(d, checks)


def test_go_client_to_go_server(daemon, service_name, servers, tls_cert, go_tls_bin):
    """Go crypto/tls at both ends, HTTP/1.1 forced, both processes started after
    the daemon: 12 GETs on one connection (/items/<n> becomes /items/{id}) and
    3 POSTs with a JSON body from a second client process. Exact on both sides,
    request body sums included."""
    server_name, client_name = f"{service_name}-server", f"{service_name}-client"
    srv = servers(harness.start_go_tls_server(go_tls_bin, tls_cert, service_name=server_name))
    url = harness.https_url(srv.port)
    paths = ["/", "/items/1", "/items/22", "/missing"]
    out = harness.run_go_tls_client(go_tls_bin, url, tls_cert, 12, paths,
                                    service_name=client_name, delay=ATTACH)
    routes = [route_of(paths[i % 4]) for i in range(12)]
    assert list(zip(out["statuses"], out["sizes"])) == \
        [(STATUS[r], GO_SIZES[r]) for r in routes], out
    assert (out["connections"], out["protos"]) == (1, {"HTTP/1.1": 12}), out

    body = '{"name":"widget","qty":3}'
    answer = len('{"length":%d}' % len(body))
    out = harness.run_go_tls_client(go_tls_bin, url, tls_cert, 3, ["/post"], method="POST",
                                    body=body, service_name=client_name, delay=ATTACH)
    assert (out["statuses"], out["sizes"], out["connections"]) == \
        ([200] * 3, [answer] * 3, 1), out

    book = Book()
    for route in routes:
        book.server(server_name, "GET", route, STATUS[route], GO_SIZES[route])
        book.client(client_name, "GET", STATUS[route], "localhost", srv.port, GO_SIZES[route])
    for _ in range(3):
        book.server(server_name, "POST", "/post", 200, answer, req=len(body))
        book.client(client_name, "POST", 200, "localhost", srv.port, answer, req=len(body))
    assert book.tables[(server_name, "server")][("GET", "200", "/items/{id}")] == (6, 0, 78)
    checks = book_checks(book)
    checks["unanswered"] = (lambda m: (m.total(UNANSWERED, service_name=server_name),
                                       m.total(UNANSWERED, service_name=client_name)), (0, 0))
    settle(daemon, checks)


# ---------------------------------------------------------------------------
# Large responses


def test_big_responses_from_nginx(nginx_tls, tls_cert, service_name):
    """/big (100000 bytes, several TLS records and more than one read) three times
    from nginx to python http.client: exactly 300000 body bytes on each side."""
    d, srv = nginx_tls
    name = f"{service_name}-py"
    out = harness.run_https_client(harness.https_url(srv.port), tls_cert, 3, ["/big"],
                                   service_name=name)
    assert (out["statuses"], out["sizes"], out["connections"]) == ([200] * 3, [BIG] * 3, 1)

    book = Book()
    for _ in range(3):
        book.server("nginx", "GET", "/big", 200, BIG)
        book.client(name, "GET", 200, "localhost", srv.port, BIG)
    checks = book_checks(book)
    checks["response body sums"] = (lambda m: (m.sum_(SERVER_RESP_BODY), m.sum_(CLIENT_RESP_BODY)),
                                    (3 * BIG, 3 * BIG))
    settle(d, checks)


def test_big_responses_from_go(daemon, service_name, servers, tls_cert, go_tls_bin):
    """/big three times from the Go server (one 100000-byte Write each) to the Go
    client: exactly 300000 body bytes on each side."""
    server_name, client_name = f"{service_name}-server", f"{service_name}-client"
    srv = servers(harness.start_go_tls_server(go_tls_bin, tls_cert, service_name=server_name))
    out = harness.run_go_tls_client(go_tls_bin, harness.https_url(srv.port), tls_cert, 3,
                                    ["/big"], service_name=client_name, delay=ATTACH)
    assert (out["statuses"], out["sizes"], out["connections"]) == ([200] * 3, [BIG] * 3, 1)

    book = Book()
    for _ in range(3):
        book.server(server_name, "GET", "/big", 200, BIG)
        book.client(client_name, "GET", 200, "localhost", srv.port, BIG)
    assert book.tables[(server_name, "server")] == {("GET", "200", "/big"): (3, 0, 3 * BIG)}
    settle(daemon, book_checks(book))


# ---------------------------------------------------------------------------
# Accounting: one request is one observation per side, ciphertext is not HTTP


def test_no_double_counting(nginx_tls, tls_cert, service_name):
    """curl (4 requests, one connection) and python (6 requests over 2 connections)
    against nginx: each request is booked once per side and under no other name;
    the TLS connections are detected as such (not unclassified), their ciphertext
    never reaches the HTTP parser, and all 3 x 2 connection ends close with their
    plaintext seen."""
    d, srv = nginx_tls
    before = d.metrics()
    base = harness.https_url(srv.port)
    curl_name, py_name = f"{service_name}-curl", f"{service_name}-py"
    _curl_checked([base + p for p in ("/", "/items/3", "/missing", "/")], tls_cert, curl_name)
    out = harness.run_https_client(base, tls_cert, 6, ["/", "/items/4"], service_name=py_name,
                                   connections=2)
    assert (out["statuses"], out["sizes"], out["connections"]) == \
        ([200] * 6, [2, 13] * 3, 2), out

    checks = {
        "client requests by service": (lambda m: service_names(m, "client"),
                                       {curl_name: 4, py_name: 6}),
        "server requests by service": (lambda m: service_names(m, "server"), {"nginx": 10}),
        "response bytes": (lambda m: (m.sum_(SERVER_RESP_BODY), m.sum_(CLIENT_RESP_BODY)),
                           (2 + 13 + 7 + 2 + 3 * 15,) * 2),
        # Three connections, both ends observed, all closed with plaintext seen.
        "daemon-wide counters": (moved(before, "tls plaintext", "tls opaque",
                                       "conn unclassified", "parse errors", "unanswered",
                                       "lost"),
                                 {"tls plaintext": 6, "tls opaque": 0, "conn unclassified": 0,
                                  "parse errors": 0, "unanswered": 0, "lost": 0}),
    }
    m = settle(d, checks)
    assert global_counts(m)["conn tls"] > global_counts(before)["conn tls"], \
        f"no connection detected as TLS\n{tls_diagnostics(d)}"
    result = harness.promtool_check(d.scrape())
    assert result.ok, f"promtool check metrics failed ({result.returncode}):\n{result.output}"


# ---------------------------------------------------------------------------
# Process visibility


def test_go_server_started_after_daemon_is_visible(daemon, service_name, servers, tls_cert,
                                                   go_tls_bin):
    """A Go HTTPS server exec'd while the daemon runs is attached within a second
    (sightline_tls_processes{library="go",visibility="visible"} >= 1, a Go binary
    attached), and the requests python then sends it are booked on both sides."""
    server_name, client_name = f"{service_name}-server", f"{service_name}-py"
    srv = servers(harness.start_go_tls_server(go_tls_bin, tls_cert, service_name=server_name))

    def attached():
        m = daemon.metrics()
        return (m.total(TLS_PROCESSES, library="go", visibility="visible") >= 1 and
                m.total(TLS_BINARIES, library="go") >= 1 and
                m.total(TLS_BINARIES, library="openssl") >= 1)

    try:
        harness.wait_for(attached, timeout=ATTACH + 1.5, message="go server attached")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n{tls_diagnostics(daemon)}") from None

    out = harness.run_https_client(harness.https_url(srv.port), tls_cert, 5,
                                   ["/items/31", "/"], service_name=client_name)
    assert (out["statuses"], out["sizes"]) == ([200] * 5, [13, 2, 13, 2, 13]), out
    book = Book()
    for size in out["sizes"]:
        route = "/" if size == 2 else "/items/{id}"
        book.server(server_name, "GET", route, 200, size)
        book.client(client_name, "GET", 200, "localhost", srv.port, size)
    settle(daemon, book_checks(book))
    # Still attached while it runs.
    assert daemon.metrics().total(TLS_PROCESSES, library="go", visibility="visible") >= 1


def test_stripped_go_server_is_opaque(own_daemon, servers, service_name, tls_cert,
                                      go_tls_stripped_bin):
    """A Go server linked with -s -w: the daemon says it cannot see its plaintext
    (visibility="stripped"), books nothing for it, and counts each of its 3
    connections as opaque once closed; the curl clients' own ends (libssl) are
    still seen: their 5 requests are booked client-side."""
    port = harness.free_port()
    d = own_daemon([port])
    name = f"{service_name}-stripped"
    curl_name = f"{service_name}-curl"
    srv = servers(harness.start_go_tls_server(go_tls_stripped_bin, tls_cert, port=port,
                                              service_name=name))
    try:
        harness.wait_for(lambda: d.metrics().total(TLS_PROCESSES, library="go",
                                                   visibility="stripped") >= 1,
                         timeout=ATTACH + 1.5, message="stripped go server detected")
    except TimeoutError as err:
        raise AssertionError(f"{err}\n{tls_diagnostics(d)}") from None
    before = d.metrics()

    base = harness.https_url(srv.port)
    # Go's 404 page is "missing" (7 bytes) too, and / and /items/<n> match nginx's.
    _curl_checked([base + p for p in ("/", "/items/8", "/missing")], tls_cert, curl_name)
    _curl_checked([base + "/"], tls_cert, curl_name)
    _curl_checked([base + "/items/9"], tls_cert, curl_name)

    book = Book()
    for size, status in ((2, 200), (13, 200), (7, 404), (2, 200), (13, 200)):
        book.client(curl_name, "GET", status, "localhost", port, size)
    checks = book_checks(book)
    checks["server series (any name)"] = (lambda m: service_names(m, "server"), {})
    checks["series of the stripped server"] = (
        lambda m: (booked(m, name, "server"), booked(m, name, "client")), ({}, {}))
    checks["daemon-wide counters"] = (
        moved(before, "tls opaque", "tls plaintext", "conn unclassified", "parse errors"),
        {"tls opaque": 3, "tls plaintext": 3, "conn unclassified": 0, "parse errors": 0})
    settle(d, checks)
    assert d.metrics().total(TLS_PROCESSES, library="go", visibility="stripped") >= 1


# ---------------------------------------------------------------------------
# HTTP/2 over TLS: detected, not parsed


def http2_checks(before: harness.Metrics, detections: int) -> dict:
    """Since `before`: `detections` connection ends detected as HTTP/2, no parse
    error, nothing unclassified or unanswered, and no HTTP/1 series at all."""
    return {
        "daemon-wide counters": (moved(before, "conn http2", "parse errors", "conn unclassified",
                                       "unanswered"),
                                 {"conn http2": detections, "parse errors": 0,
                                  "conn unclassified": 0, "unanswered": 0}),
        "HTTP/1 series (any name)": (lambda m: (service_names(m, "server"),
                                                service_names(m, "client")), ({}, {})),
    }


def test_http2_go_detected_not_parsed(own_daemon, servers, service_name, tls_cert, go_tls_bin):
    """Go h2server: 2 curl --http2 processes (3 requests each, one connection) and
    one Go h2client (4 requests, one connection): 3 HTTP/2 connections, each seen
    at both ends (6 http2 detections), no parse error, no HTTP/1 series."""
    port = harness.free_port()
    d = own_daemon([port])
    server_name, curl_name, go_name = (f"{service_name}-h2server", f"{service_name}-curl",
                                       f"{service_name}-h2client")
    srv = servers(harness.start_go_tls_server(go_tls_bin, tls_cert, port=port, h2=True,
                                              service_name=server_name))
    time.sleep(ATTACH)
    before = d.metrics()
    base = harness.https_url(port)
    for _ in range(2):
        _curl_checked([base + p for p in ("/", "/items/5", "/missing")], tls_cert, curl_name,
                      http2=True)
    out = harness.run_go_tls_client(go_tls_bin, base, tls_cert, 4, ["/", "/big"], h2=True,
                                    service_name=go_name, delay=ATTACH)
    assert (out["statuses"], out["sizes"], out["protos"], out["connections"]) == \
        ([200] * 4, [2, BIG] * 2, {"HTTP/2.0": 4}, 1), out

    settle(d, http2_checks(before, 6))
    assert srv.stop() == 0


def test_http2_nginx_detected_not_parsed(tmp_path, own_daemon, servers, service_name,
                                         tls_cert):
    """nginx http2 over TLS and curl --http2 (libssl at both ends): 2 connections of
    4 requests, each seen at both ends (4 http2 detections), no parse error, no
    HTTP/1 series."""
    port, h2_port = harness.free_port(), harness.free_port()
    d = own_daemon([h2_port])
    servers(harness.start_nginx_tls(tmp_path / "nginx", tls_cert, port=port, h2_port=h2_port))
    before = d.metrics()
    base = harness.https_url(h2_port)
    curl_name = f"{service_name}-curl"
    for _ in range(2):
        _curl_checked([base + p for p in ("/", "/items/5", "/missing", "/big")], tls_cert,
                      curl_name, http2=True)

    settle(d, http2_checks(before, 4))


# ---------------------------------------------------------------------------
# --tls-capture-size


@pytest.mark.parametrize("server", ["nginx", "go"])
def test_tls_capture_size_smaller_than_body(tmp_path, own_daemon, servers, service_name,
                                            tls_cert, go_tls_bin, server):
    """--tls-capture-size 4096: /big (nginx: 16 KiB SSL_write calls; Go: one
    100000-byte Write) still counts its 100000 bytes exactly on both sides (the
    rest of the body is skipped by Content-Length), and / after it on the same
    connection is still booked."""
    port = harness.free_port()
    d = own_daemon([port], "--tls-capture-size", "4096")
    if server == "nginx":
        srv, server_name = servers(harness.start_nginx_tls(tmp_path / "nginx", tls_cert,
                                                           port=port)), "nginx"
    else:
        server_name = f"{service_name}-server"
        srv = servers(harness.start_go_tls_server(go_tls_bin, tls_cert, port=port,
                                                  service_name=server_name))
        time.sleep(ATTACH)
    name = f"{service_name}-py"
    out = harness.run_https_client(harness.https_url(port), tls_cert, 4, ["/big", "/"],
                                   service_name=name)
    assert (out["statuses"], out["sizes"], out["connections"]) == ([200] * 4, [BIG, 2] * 2, 1)
    book = Book()
    for size in (BIG, 2, BIG, 2):
        route = "/big" if size == BIG else "/"
        book.server(server_name, "GET", route, 200, size)
        book.client(name, "GET", 200, "localhost", srv.port, size)
    checks = book_checks(book)
    checks["unanswered"] = (lambda m: m.total(UNANSWERED), 0)
    # 16 KiB records are read (and nginx writes) in calls larger than 4096 bytes.
    checks["TLS calls captured in part"] = (
        lambda m: m.total("sightline_payload_truncated_events_total", probe="tls") > 0, True)
    settle(d, checks)


def test_tls_capture_size_invalid_value_stops_the_daemon(privileged):
    """A value that is not a byte count stops the daemon at start with exit code
    2 and a message naming --tls-capture-size; a valid one is accepted."""
    proc = subprocess.run([str(harness.daemon_binary()), "--listen", "127.0.0.1:0",
                           "--tls-capture-size", "abc"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2, proc
    assert "--tls-capture-size" in proc.stdout + proc.stderr, proc
    d = harness.start_daemon("--tls-capture-size", "8192", log_level="info")
    try:
        assert d.healthz() == 200
    finally:
        assert d.stop() == 0, d.stderr_text()[-3000:]
