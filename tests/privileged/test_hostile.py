"""Hostile input next to well-formed traffic: the daemon survives, counts what
it could not parse exactly, and still books every valid request.

The hostile clients are tests/fixtures/hostile_client.py (random bytes, a 100 KB
header line, a truncated request, a reset mid-response). While they run, a
separate client process sends valid requests on connections of its own to the
same server, concurrently.

Where the test asserts the daemon-wide counters (sightline_parse_errors_total,
sightline_connections_total{event="unclassified"}) it uses a daemon of its own
next to the shared session daemon, because:
  - those counters have no service_name, and other tests and benchmarks on this
    host feed the session daemon all the time;
  - on loopback both ends of a connection are observed processes, so every
    hostile connection counts once per end. Restricted to the server's pid
    (--pids) a daemon sees exactly one end: one random-bytes connection is
    exactly one unclassified connection. Restricted to the server's port
    (--ports) it sees both ends and nothing else.
Service-labelled series (valid traffic, unanswered requests) are asserted in
both daemons, and the session daemon must come through alive, healthy and with
the same pid.

Every client process gets its own OTEL_SERVICE_NAME and stays alive for a
moment after its traffic: the daemon names a process when it books its first
request, and a client gone by then is named after its comm instead (see
test_http_clients.test_short_lived_client_keeps_its_service_name).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

import harness
from harness import CONNECTIONS, PARSE_ERRORS, UNANSWERED, client_env

HOSTILE = harness.FIXTURES / "hostile_client.py"


# ---------------------------------------------------------------------------
# Clients

# Runs hostile_client.py unchanged, then stays alive `linger` seconds.
RUN_HOSTILE = r"""
import runpy, sys, time
script, linger = sys.argv[1], float(sys.argv[2])
sys.argv = [script] + sys.argv[3:]
code = 0
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
time.sleep(linger)
sys.exit(code)
"""

# Valid requests, each on a connection of its own: argv = port, JSON list of
# [method, path, body or null], rounds, pause, linger. Prints [[status, size]...].
VALID_CLIENT = r"""
import http.client, json, sys, time
port, spec = int(sys.argv[1]), json.loads(sys.argv[2])
rounds, pause, linger = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
out = []
for _ in range(rounds):
    for method, path, body in spec:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=None if body is None else body.encode(),
                     headers=headers)
        resp = conn.getresponse()
        out.append([resp.status, len(resp.read())])
        conn.close()
        time.sleep(pause)
print(json.dumps(out), flush=True)
time.sleep(linger)
"""


def hostile(mode: str, port: int, *args: str, service_name: str, linger: float = 1.5) -> str:
    """hostile_client.py `mode` as a process named `service_name`; its result line."""
    proc = subprocess.run([harness.PYTHON, "-c", RUN_HOSTILE, str(HOSTILE), str(linger), mode,
                           str(port), *args], env=client_env(service_name),
                          capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout.strip()


class ValidTraffic:
    """A client process sending `rounds` x `spec` valid requests, a connection each.

    spec: [(method, path, body or None, route, status, response body bytes)].
    """

    def __init__(self, port: int, spec: list[tuple], rounds: int, service_name: str,
                 pause: float = 0.02, linger: float = 1.0):
        self.port = port
        self.spec = spec
        self.rounds = rounds
        self.service_name = service_name
        wire = json.dumps([[method, path, body] for method, path, body, *_ in spec])
        self.proc = subprocess.Popen(
            [harness.PYTHON, "-c", VALID_CLIENT, str(port), wire, str(rounds), str(pause),
             str(linger)], env=client_env(service_name), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

    def finish(self) -> None:
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        want = [[status, size] for _, _, _, _, status, size in self.spec] * self.rounds
        assert json.loads(out) == want

    def server_table(self) -> dict:
        """(method, status, route) -> (count, request body sum, response body sum)."""
        out: dict = {}
        for method, _, body, route, status, size in self.spec:
            key = (method, str(status), route)
            n, req, resp = out.get(key, (0, 0, 0))
            out[key] = (n + self.rounds, req + self.rounds * len((body or "").encode()),
                        resp + self.rounds * size)
        return out

    def client_table(self) -> dict:
        """(method, status, server_address, server_port) -> (count, req sum, resp sum)."""
        out: dict = {}
        for (method, status, _), value in self.server_table().items():
            key = (method, status, "127.0.0.1", str(self.port))
            n, req, resp = out.get(key, (0, 0, 0))
            out[key] = (n + value[0], req + value[1], resp + value[2])
        return out


def concurrently(*calls: Callable[[], object]) -> list:
    """Runs the calls in threads at once; returns their results, re-raising errors."""
    results: list = [None] * len(calls)
    errors: list = []

    def run(i, call):
        try:
            results[i] = call()
        except BaseException as err:  # noqa: BLE001 - re-raised below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------------------
# Reading the daemon


# booked(m, service, side): key -> (count, request body sum, response body sum)
# booked for `service`; here without comparing the body histograms' counts.
booked = functools.partial(harness.booked, body_counts=False)


def unanswered(m: harness.Metrics, service: str) -> dict:
    """(side, method) -> unanswered requests of `service`."""
    return {(labels["side"], labels["http_request_method"]): value
            for labels, value in m.samples(UNANSWERED, service_name=service) if value}


def global_counts(m: harness.Metrics) -> dict:
    """The daemon-wide counters hostile input moves."""
    out = {f"parse_errors/{labels['reason']}": value
           for labels, value in m.samples(PARSE_ERRORS, protocol="http1")}
    out["unclassified"] = m.total(CONNECTIONS, event="unclassified")
    return out


def delta(before: dict, after: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)
            if after.get(k, 0) != before.get(k, 0)}


class OneOf(tuple):
    """An expected value that may be any of these."""


class Checks:
    """Views of one or more daemons that must all reach their expected values.

    settle() polls until every view(scrape) equals its expected value (or is one
    of a OneOf), waits `settle` seconds more and asserts they all still do, so a
    late over-count shows too.
    """

    def __init__(self):
        self.items: list = []

    def add(self, daemon: harness.Daemon, what: str,
            view: Callable[[harness.Metrics], object], want: object) -> None:
        self.items.append((daemon, what, view, want))

    def _misses(self) -> dict:
        scrapes: dict = {}
        misses = {}
        for daemon, what, view, want in self.items:
            if id(daemon) not in scrapes:
                scrapes[id(daemon)] = daemon.metrics()
            got = view(scrapes[id(daemon)])
            if not (got in want if isinstance(want, OneOf) else got == want):
                misses[what] = (got, want)
        return misses

    def settle(self, timeout: float = 10.0, settle: float = 1.0) -> None:
        misses: dict = {}

        def reached():
            misses.clear()
            misses.update(self._misses())
            return not misses

        try:
            harness.wait_for(reached, timeout=timeout, message="checks")
        except TimeoutError:
            raise AssertionError(self._report(misses, f"after {timeout}s")) from None
        time.sleep(settle)
        misses = self._misses()
        assert not misses, self._report(misses, f"{settle}s after they matched")

    @staticmethod
    def _report(misses: dict, when: str) -> str:
        lines = [f"{what}: got {got!r}, expected {want!r}"
                 for what, (got, want) in misses.items()]
        return f"{len(misses)} check(s) off {when}:\n  " + "\n  ".join(lines)


def assert_healthy(daemon: harness.Daemon, pid: int) -> None:
    assert daemon.alive(), f"daemon died:\n{daemon.stderr_text()[-3000:]}"
    assert daemon.pid == pid
    assert Path(f"/proc/{pid}/exe").resolve() == harness.daemon_binary().resolve()
    assert daemon.healthz() == 200


def own_daemon(*args: str) -> harness.Daemon:
    if os.geteuid() != 0 or not harness.daemon_binary().exists():
        pytest.skip("needs root and a built daemon")
    return harness.start_daemon(*args, log_level="info")


def stop_own(d: harness.Daemon) -> None:
    code = d.stop()
    assert code == 0, f"daemon exited with {code}:\n{d.stderr_text()[-3000:]}"


def counters_moved(before: harness.Metrics) -> Callable[[harness.Metrics], dict]:
    base = global_counts(before)
    return lambda m: delta(base, global_counts(m))


def plus_one_get_ok(table: dict) -> dict:
    """`table` with one more GET /ok answered 200 with "ok"."""
    out = dict(table)
    n, req, resp = out.get(("GET", "200", "/ok"), (0, 0, 0))
    out[("GET", "200", "/ok")] = (n + 1, req, resp + 2)
    return out


# Valid traffic for the Python server: (method, path, body, route, status, size).
PY_VALID = [
    ("GET", "/ok", None, "/ok", 200, 2),
    ("POST", "/create", '{"name": "widget", "qty": 3}', "/create", 201, 16),
    ("GET", "/bad", None, "/bad", 400, 11),
    ("GET", "/users/77/orders", None, "/users/{id}/orders", 404, 9),
]


def _run_with_valid(port: int, valid_name: str, *hostile_calls, rounds: int = 8,
                    spec=PY_VALID) -> tuple[ValidTraffic, list]:
    """Starts the valid client, runs the hostile calls concurrently with it (and with
    each other), waits for all."""
    valid = ValidTraffic(port, spec, rounds, valid_name)
    try:
        time.sleep(0.2)  # let the valid client get going first
        results = concurrently(*hostile_calls)
    finally:
        valid.finish()
    return valid, results


# ---------------------------------------------------------------------------
# One mode at a time, exact daemon-wide counters


def test_random_first_bytes_are_one_unclassified_connection(daemon, service_name, servers):
    """4 KB of random bytes as a connection's first bytes: that connection is not
    captured (exactly one unclassified connection at the server's end, no parse
    error), while valid requests on other connections are all booked."""
    srv = servers(harness.start_python_server(service_name=service_name))
    own = own_daemon("--pids", str(srv.pid))
    try:
        session_pid, own_pid = daemon.pid, own.pid
        own_before = own.metrics()
        hostile_name = f"{service_name}-random"
        valid, (line,) = _run_with_valid(
            srv.port, f"{service_name}-valid",
            lambda: hostile("random", srv.port, "--seed", "1234", service_name=hostile_name))
        assert line.startswith("random sent=4096 "), line

        checks = Checks()
        for d in (own, daemon):
            checks.add(d, f"{d.port}: server", lambda m: booked(m, service_name, "server"),
                       valid.server_table())
            checks.add(d, f"{d.port}: server unanswered", lambda m: unanswered(m, service_name),
                       {})
        checks.add(own, "daemon-wide counters, server end only", counters_moved(own_before),
                   {"unclassified": 1})
        checks.add(daemon, "valid client", lambda m: booked(m, valid.service_name, "client"),
                   valid.client_table())
        checks.add(daemon, "random client", lambda m: (booked(m, hostile_name, "client"),
                                                       unanswered(m, hostile_name)), ({}, {}))
        checks.settle()
        assert_healthy(own, own_pid)
        assert_healthy(daemon, session_pid)
    finally:
        stop_own(own)


def test_random_bytes_after_a_valid_request_on_the_same_connection(daemon, service_name,
                                                                   servers):
    """A valid GET /ok and then 4 KB of random bytes on one keep-alive connection: the GET
    is booked (at both ends), the random bytes are exactly one invalid_request
    at the server's end, and http.server's reply to them (an HTTP/0.9-style
    error page: no status line, no headers) exactly one invalid_response."""
    srv = servers(harness.start_python_server(service_name=service_name))
    own = own_daemon("--pids", str(srv.pid))
    try:
        session_pid, own_pid = daemon.pid, own.pid
        own_before = own.metrics()
        prefix = f"GET /ok HTTP/1.1\\r\\nHost: 127.0.0.1:{srv.port}\\r\\n\\r\\n"
        hostile_name = f"{service_name}-prefixed"
        valid, (line,) = _run_with_valid(
            srv.port, f"{service_name}-valid",
            lambda: hostile("random", srv.port, "--seed", "1234", "--prefix", prefix,
                            service_name=hostile_name))
        assert " status=200 " in line, line

        checks = Checks()
        for d in (own, daemon):
            checks.add(d, f"{d.port}: server", lambda m: booked(m, service_name, "server"),
                       plus_one_get_ok(valid.server_table()))
            checks.add(d, f"{d.port}: server unanswered", lambda m: unanswered(m, service_name),
                       {})
        checks.add(own, "daemon-wide counters, server end only", counters_moved(own_before),
                   {"parse_errors/invalid_request": 1, "parse_errors/invalid_response": 1})
        checks.add(daemon, "hostile client", lambda m: (booked(m, hostile_name, "client"),
                                                        unanswered(m, hostile_name)),
                   ({("GET", "200", "127.0.0.1", str(srv.port)): (1, 0, 2)}, {}))
        checks.add(daemon, "valid client", lambda m: booked(m, valid.service_name, "client"),
                   valid.client_table())
        checks.settle()
        assert_healthy(own, own_pid)
        assert_healthy(daemon, session_pid)
    finally:
        stop_own(own)


def test_100kb_header_line_is_one_head_too_large(daemon, service_name, servers):
    """A GET with one 100 KB header line: exactly one head_too_large at the server's
    end. http.server reads 8 KB at a time, so this daemon captures 16 KB per
    syscall to see the head whole (at the default 4 KB the uncaptured rest of a
    read is a gap instead). The server's 431 answer then has no request to
    pair with: exactly one unmatched_response."""
    srv = servers(harness.start_python_server(service_name=service_name))
    own = own_daemon("--pids", str(srv.pid), "--capture-size", "16384")
    try:
        session_pid, own_pid = daemon.pid, own.pid
        own_before = own.metrics()
        valid, (line,) = _run_with_valid(
            srv.port, f"{service_name}-valid",
            lambda: hostile("bigheader", srv.port, service_name=f"{service_name}-big"))
        assert line.startswith("bigheader sent=102453 ") and " status=431 " in line, line

        checks = Checks()
        for d in (own, daemon):
            checks.add(d, f"{d.port}: server", lambda m: booked(m, service_name, "server"),
                       valid.server_table())
            checks.add(d, f"{d.port}: server unanswered", lambda m: unanswered(m, service_name),
                       {})
        checks.add(own, "daemon-wide counters, server end only", counters_moved(own_before),
                   {"parse_errors/head_too_large": 1, "parse_errors/unmatched_response": 1})
        checks.add(daemon, "valid client", lambda m: booked(m, valid.service_name, "client"),
                   valid.client_table())
        checks.settle()
        assert_healthy(own, own_pid)
        assert_healthy(daemon, session_pid)
    finally:
        stop_own(own)


FASTAPI_VALID = [
    ("GET", "/api/health", None, "/api/health", 200, 15),
    ("GET", "/api/campaigns/42", None, "/api/campaigns/{id}", 200, 29),
    ("POST", "/api/campaigns", '{"name": "x"}', "/api/campaigns", 201, 30),
]


def test_truncated_request_is_unanswered(daemon, service_name, servers):
    """Half a GET head, then close, against FastAPI/uvicorn (which answers nothing):
    no parse error, the valid requests booked, and the cut request unanswered
    exactly once at each end, the server's and the client's."""
    srv = servers(harness.start_fastapi_app(service_name=service_name))
    own = own_daemon("--ports", str(srv.port))
    try:
        session_pid, own_pid = daemon.pid, own.pid
        own_before = own.metrics()
        hostile_name = f"{service_name}-cut"
        valid, (line,) = _run_with_valid(
            srv.port, f"{service_name}-valid",
            lambda: hostile("truncated", srv.port, "--path", "/api/health",
                            service_name=hostile_name), spec=FASTAPI_VALID, rounds=5)
        assert line.startswith("truncated sent=") and " received=0 " in line, line

        checks = Checks()
        for d in (own, daemon):
            checks.add(d, f"{d.port}: server", lambda m: booked(m, service_name, "server"),
                       valid.server_table())
            checks.add(d, f"{d.port}: valid client",
                       lambda m: booked(m, valid.service_name, "client"), valid.client_table())
            checks.add(d, f"{d.port}: cut client", lambda m: booked(m, hostile_name, "client"),
                       {})
        checks.add(own, "daemon-wide counters, both ends", counters_moved(own_before), {})
        checks.settle()
        assert_healthy(own, own_pid)
        assert_healthy(daemon, session_pid)

        checks = Checks()
        for d in (own, daemon):
            checks.add(d, f"{d.port}: unanswered",
                       lambda m: (unanswered(m, service_name), unanswered(m, hostile_name)),
                       ({("server", "GET"): 1}, {("client", "GET"): 1}))
        checks.settle(timeout=3)
    finally:
        stop_own(own)


def test_reset_mid_response_is_unanswered_at_the_client(service_name, daemon, servers,
                                                        tmp_path):
    """GET nginx's 1 MiB /big (Content-Length, sent with sendfile), read 64 KB, reset:
    exactly one unanswered GET at the client's end and no parse error (the
    uncaptured body bytes are skipped by length). At nginx's end the request
    counts exactly once: answered in full if the kernel took the whole 1 MiB
    into loopback socket buffers before the reset (it usually does), else
    unanswered. nginx names itself "nginx", so its numbers come from a daemon
    that only follows its port."""
    srv = servers(harness.start_nginx(tmp_path / "nginx"))
    own = own_daemon("--ports", str(srv.port))
    try:
        session_pid, own_pid = daemon.pid, own.pid
        own_before = own.metrics()
        hostile_name = f"{service_name}-reset"
        spec = [("GET", "/", None, "/", 200, 2), ("GET", "/missing", None, "/missing", 404, 7)]
        valid, (line,) = _run_with_valid(
            srv.port, f"{service_name}-valid",
            lambda: hostile("reset", srv.port, "--path", "/big", service_name=hostile_name),
            spec=spec, rounds=10)
        assert line.startswith("reset sent=") and line.endswith(
            " received=65536 status=200 end=client-close"), line

        big = ("GET", "200", "/big")

        def nginx_valid(m):
            return {k: v for k, v in booked(m, "nginx", "server").items() if k != big}

        def nginx_big(m):
            return booked(m, "nginx", "server").get(big), unanswered(m, "nginx")

        checks = Checks()
        checks.add(own, "nginx", nginx_valid, valid.server_table())
        checks.add(own, "nginx /big", nginx_big,
                   OneOf([((1, 0, 1048576), {}), (None, {("server", "GET"): 1})]))
        for d in (own, daemon):
            checks.add(d, f"{d.port}: valid client",
                       lambda m: booked(m, valid.service_name, "client"), valid.client_table())
            checks.add(d, f"{d.port}: resetting client",
                       lambda m: (booked(m, hostile_name, "client"), unanswered(m, hostile_name)),
                       ({}, {("client", "GET"): 1}))
        checks.add(own, "daemon-wide counters, both ends", counters_moved(own_before), {})
        checks.settle()
        assert_healthy(own, own_pid)
        assert_healthy(daemon, session_pid)
    finally:
        stop_own(own)


# ---------------------------------------------------------------------------
# Everything at once


def test_all_hostile_modes_at_once_next_to_valid_traffic(daemon, service_name, servers):
    """Random bytes, random bytes after a valid request, a 100 KB header and a truncated
    request against http.server, and a reset in the middle of a 1 MB chunked
    Node response, all at the same time as valid requests on other
    connections. The session daemon stays up with the same pid and books the
    valid traffic exactly; the reset request is unanswered exactly once at each
    end; a daemon following just these two ports (both ends of every
    connection, nothing else) counts what it could not parse exactly."""
    py = servers(harness.start_python_server(service_name=f"{service_name}-py"))
    node = servers(harness.start_node_server(service_name=f"{service_name}-node"))
    own = own_daemon("--ports", f"{py.port},{node.port}")
    try:
        session_pid, own_pid = daemon.pid, own.pid
        own_before = own.metrics()
        names = {mode: f"{service_name}-{mode}"
                 for mode in ("random", "prefixed", "big", "cut", "reset")}
        prefix = f"GET /ok HTTP/1.1\\r\\nHost: 127.0.0.1:{py.port}\\r\\n\\r\\n"
        valid, lines = _run_with_valid(
            py.port, f"{service_name}-valid",
            lambda: hostile("random", py.port, "--seed", "99", service_name=names["random"]),
            lambda: hostile("random", py.port, "--seed", "1234", "--prefix", prefix,
                            service_name=names["prefixed"]),
            lambda: hostile("bigheader", py.port, service_name=names["big"]),
            lambda: hostile("truncated", py.port, "--path", "/ok", service_name=names["cut"]),
            lambda: hostile("reset", node.port, "--path", "/chunked/10000",
                            service_name=names["reset"]),
            rounds=12)
        assert [line.split()[0] for line in lines] == ["random", "random", "bigheader",
                                                       "truncated", "reset"], lines
        assert " status=200 " in lines[1] and " status=431 " in lines[2], lines
        assert lines[4].endswith(" received=65536 status=200 end=client-close"), lines

        py_name, node_name = f"{service_name}-py", f"{service_name}-node"
        checks = Checks()
        for d in (own, daemon):
            # http.server: the valid traffic plus the prefixed connection's GET /ok.
            checks.add(d, f"{d.port}: http.server", lambda m: booked(m, py_name, "server"),
                       plus_one_get_ok(valid.server_table()))
            checks.add(d, f"{d.port}: valid client",
                       lambda m: booked(m, valid.service_name, "client"), valid.client_table())
            checks.add(d, f"{d.port}: prefixed client",
                       lambda m: booked(m, names["prefixed"], "client"),
                       {("GET", "200", "127.0.0.1", str(py.port)): (1, 0, 2)})
            # The 1 MB chunked response is cut by the reset (and, written in one
            # writev, loses its chunk framing past the capture size anyway):
            # unanswered once at each end, booked nowhere. The GET cut short by
            # the client's close is unanswered once at each end too.
            checks.add(d, f"{d.port}: unanswered",
                       lambda m: {name: unanswered(m, name)
                                  for name in (py_name, node_name, names["reset"], names["cut"])},
                       {py_name: {("server", "GET"): 1}, node_name: {("server", "GET"): 1},
                        names["reset"]: {("client", "GET"): 1},
                        names["cut"]: {("client", "GET"): 1}})
            checks.add(d, f"{d.port}: nothing else booked",
                       lambda m: [booked(m, name, side) for name, side in
                                  ((node_name, "server"), (names["random"], "client"),
                                   (names["big"], "client"), (names["reset"], "client"))],
                       [{}, {}, {}, {}])
        # Both ends of every connection are observed here, and nothing else:
        #   random first bytes            2 unclassified connections
        #   valid GET, then random bytes  2 invalid_request, 2 invalid_response
        #                                 (http.server's headerless error page)
        #   100 KB header, 4 KB capture   2 gap, 2 unmatched_response (the 431)
        #   truncated GET /ok             1 unmatched_response (http.server answers
        #                                 it; the client has closed and reads nothing)
        #   reset of a 1 MB chunked body  2 gap (chunk framing lost at each end)
        checks.add(own, "daemon-wide counters, both ends", counters_moved(own_before),
                   {"unclassified": 2, "parse_errors/invalid_request": 2,
                    "parse_errors/invalid_response": 2, "parse_errors/gap": 4,
                    "parse_errors/unmatched_response": 3})
        checks.settle()
        assert_healthy(own, own_pid)
        assert_healthy(daemon, session_pid)
    finally:
        stop_own(own)
