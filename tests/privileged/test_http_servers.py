"""Server side against real servers: exact counts per (method, route, status) and
exact request/response body size sums.

Python http.server and FastAPI/uvicorn answer a mix of GET and POST with JSON
bodies (200/201/400/404/500, a distinct number of requests per series, so a
request booked under the wrong route or status cannot go unnoticed); Node sends
chunked bodies of several chunk counts (sizes are the de-chunked bytes); Go
serves requests pipelined K at a time in one write.

Every test uses the shared session daemon and filters on its own server's
service_name. Expected sizes come from the fixture headers and are checked
against what the client actually received before they are used.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass

import harness

SERVER = "http_server_request_duration_seconds"
SERVER_REQ_BODY = "http_server_request_body_size_bytes"
SERVER_RESP_BODY = "http_server_response_body_size_bytes"
UNANSWERED = "sightline_http_requests_unanswered_total"
LABELS = ("http_request_method", "http_route", "http_response_status_code")


@dataclass
class Series:
    """What one (method, route, status) series should hold."""
    count: int = 0
    request_bytes: int = 0
    response_bytes: int = 0

    def add(self, request_bytes: int, response_bytes: int) -> None:
        self.count += 1
        self.request_bytes += request_bytes
        self.response_bytes += response_bytes


class Expected(dict):
    """(method, route, status) -> Series."""

    def add(self, method: str, route: str, status: int, request_bytes: int,
            response_bytes: int) -> None:
        self.setdefault((method, route, str(status)), Series()).add(request_bytes,
                                                                    response_bytes)


def _by_key(m: harness.Metrics, sample: str, service: str) -> dict:
    out: dict = {}
    for labels, value in m.samples(sample, service_name=service):
        key = tuple(labels.get(name, "") for name in LABELS)
        out[key] = out.get(key, 0) + value
    return out


def _table(m: harness.Metrics, service: str) -> dict:
    """Everything booked for `service`, keyed like Expected."""
    counts = _by_key(m, SERVER + "_count", service)
    req_n = _by_key(m, SERVER_REQ_BODY + "_count", service)
    req_sum = _by_key(m, SERVER_REQ_BODY + "_sum", service)
    resp_n = _by_key(m, SERVER_RESP_BODY + "_count", service)
    resp_sum = _by_key(m, SERVER_RESP_BODY + "_sum", service)
    keys = set(counts) | set(req_n) | set(resp_n)
    return {k: (counts.get(k, 0), req_n.get(k, 0), req_sum.get(k, 0), resp_n.get(k, 0),
                resp_sum.get(k, 0)) for k in keys}


def assert_server_exact(daemon: harness.Daemon, service: str, expected: Expected,
                        timeout: float = 10.0, settle: float = 1.0) -> harness.Metrics:
    """Waits until the duration counts of `service` equal `expected` exactly (no
    series missing, none extra), waits `settle` more and then checks counts and
    body size sums of all three histograms, so an over-count shows too."""
    want_counts = {k: s.count for k, s in expected.items()}
    seen: dict = {}

    def reached():
        m = daemon.metrics()
        seen.clear()
        seen.update(_by_key(m, SERVER + "_count", service))
        return m if seen == want_counts else None

    try:
        harness.wait_for(reached, timeout=timeout, message=f"{service} counts")
    except TimeoutError:
        raise AssertionError(f"{service}: counts {seen} != expected {want_counts} "
                             f"after {timeout}s") from None
    time.sleep(settle)
    m = daemon.metrics()
    want = {k: (s.count, s.count, s.request_bytes, s.count, s.response_bytes)
            for k, s in expected.items()}
    # (duration count, request body count, request body sum, response body
    # count, response body sum) per series.
    assert _table(m, service) == want
    assert m.total(UNANSWERED, service_name=service) == 0, m.samples(UNANSWERED,
                                                                      service_name=service)
    return m


def request(conn: http.client.HTTPConnection, method: str, path: str,
            body: bytes | None = None) -> tuple[int, int]:
    """One request on `conn` (kept alive); returns (status, body bytes read)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, len(data)


def one_shot(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, int]:
    """One request on a connection of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        return request(conn, method, path, body)
    finally:
        conn.close()


def jbody(**fields) -> bytes:
    return json.dumps(fields).encode()


# ---------------------------------------------------------------------------


def test_python_http_server_mixed_methods_statuses_and_bodies(daemon, service_name, servers):
    """http.server: 3x GET /ok 200, 2x POST /create 201, 4x POST /bad 400, 1x GET /boom
    500 and 5x GET /users/<n>/orders 404, on one keep-alive connection and on
    connections of their own; query strings are dropped from the route."""
    srv = servers(harness.start_python_server(service_name=service_name))
    exp = Expected()

    def check(method, path, route, body, status, size):
        got = (request(conn, method, path, body) if conn is not None
               else one_shot(srv.port, method, path, body))
        assert got == (status, size), (method, path)
        exp.add(method, route, status, len(body or b""), size)

    create_a = jbody(name="widget", tags=["a", "b"], qty=3)
    create_b = jbody(name="x" * 300, note="a longer body to get a three-digit length")
    bad = [jbody(v=i, pad="p" * (10 * i)) for i in range(4)]

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        check("GET", "/ok", "/ok", None, 200, 2)
        check("GET", "/ok?page=2&sort=desc", "/ok", None, 200, 2)
        check("POST", "/create", "/create", create_a, 201, 14 + len(str(len(create_a))))
        check("POST", "/bad", "/bad", bad[0], 400, 11)
        check("POST", "/bad", "/bad", bad[1], 400, 11)
        check("GET", "/boom", "/boom", None, 500, 14)
        check("GET", "/users/12345/orders?page=3", "/users/{id}/orders", None, 404, 9)
    finally:
        conn.close()
    conn = None
    check("GET", "/ok", "/ok", None, 200, 2)
    check("POST", "/create", "/create", create_b, 201, 14 + len(str(len(create_b))))
    check("POST", "/bad", "/bad", bad[2], 400, 11)
    check("POST", "/bad", "/bad", bad[3], 400, 11)
    for user in ("1", "987654321", "42", "7"):
        check("GET", f"/users/{user}/orders", "/users/{id}/orders", None, 404, 9)

    assert {k: v.count for k, v in exp.items()} == {
        ("GET", "/ok", "200"): 3, ("POST", "/create", "201"): 2, ("POST", "/bad", "400"): 4,
        ("GET", "/boom", "500"): 1, ("GET", "/users/{id}/orders", "404"): 5}
    assert_server_exact(daemon, service_name, exp)


def test_fastapi_mixed_methods_statuses_and_bodies(daemon, service_name, servers):
    """FastAPI/uvicorn: 3x GET /api/health 200, 5x GET /api/campaigns/<id> 200 (numeric,
    hex and uuid ids all become {id}), 2x POST /api/campaigns 201, 4x POST
    /api/validate 400, 1x GET /api/error 500, 6x GET /api/nope/<n> 404."""
    srv = servers(harness.start_fastapi_app(service_name=service_name))
    exp = Expected()

    def check(conn, method, path, route, body, status, size):
        got = (request(conn, method, path, body) if conn is not None
               else one_shot(srv.port, method, path, body))
        assert got == (status, size), (method, path)
        exp.add(method, route, status, len(body or b""), size)

    ids = ["42", "7", "123456", "9f86d081884c7d65", "550e8400-e29b-41d4-a716-446655440000"]
    campaigns = [jbody(name="spring sale", budget=1200),
                 jbody(name="s" * 120, budget=5, channels=["mail", "web", "push"])]
    validate = [jbody(), jbody(name=""), jbody(budget=-1, name="neg"), b'{"x": "' + b"y" * 999
                + b'"}']

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        for _ in range(2):
            check(conn, "GET", "/api/health", "/api/health", None, 200, 15)
        for cid in ids[:3]:
            check(conn, "GET", f"/api/campaigns/{cid}", "/api/campaigns/{id}", None, 200,
                  27 + len(cid))
        check(conn, "POST", "/api/campaigns", "/api/campaigns", campaigns[0], 201,
              28 + len(str(len(campaigns[0]))))
        for body in validate[:2]:
            check(conn, "POST", "/api/validate", "/api/validate", body, 400, 19)
        check(conn, "GET", "/api/error", "/api/error", None, 500, 20)
        for n in (1, 22, 333):
            check(conn, "GET", f"/api/nope/{n}", "/api/nope/{id}", None, 404, 22)
    finally:
        conn.close()
    check(None, "GET", "/api/health?verbose=1", "/api/health", None, 200, 15)
    for cid in ids[3:]:
        check(None, "GET", f"/api/campaigns/{cid}?expand=all", "/api/campaigns/{id}", None,
              200, 27 + len(cid))
    check(None, "POST", "/api/campaigns", "/api/campaigns", campaigns[1], 201,
          28 + len(str(len(campaigns[1]))))
    for body in validate[2:]:
        check(None, "POST", "/api/validate", "/api/validate", body, 400, 19)
    for n in (4444, 55555, 666666):
        check(None, "GET", f"/api/nope/{n}", "/api/nope/{id}", None, 404, 22)

    assert {k: v.count for k, v in exp.items()} == {
        ("GET", "/api/health", "200"): 3, ("GET", "/api/campaigns/{id}", "200"): 5,
        ("POST", "/api/campaigns", "201"): 2, ("POST", "/api/validate", "400"): 4,
        ("GET", "/api/error", "500"): 1, ("GET", "/api/nope/{id}", "404"): 6}
    assert_server_exact(daemon, service_name, exp)


def test_node_chunked_responses_dechunked_sizes(daemon, service_name, servers):
    """Node chunked bodies of 0, 1, 3, 10 and 30 chunks (100 bytes each; 1, 2, 3, 4 and 5
    times), on keep-alive, fresh and pipelined connections: the response body
    sum is the de-chunked byte count and each body lands in its size bucket.

    30 chunks keep each response under the default 4096-byte capture size (one
    writev of ~3.4 KB): bigger chunked bodies lose their framing by design.
    """
    srv = servers(harness.start_node_server(service_name=service_name))
    exp = Expected()
    reps = {0: 1, 1: 2, 3: 3, 10: 4, 30: 5}
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        for n, times in reps.items():
            for i in range(times):
                path = f"/chunked/{n}"
                # Alternate between the kept-alive connection and fresh ones.
                got = request(conn, "GET", path) if i % 2 == 0 else one_shot(srv.port, "GET",
                                                                             path)
                assert got == (200, 100 * n), path
                exp.add("GET", "/chunked/{id}", 200, 0, 100 * n)
        for _ in range(2):
            assert request(conn, "GET", "/plain") == (200, 13)
            exp.add("GET", "/plain", 200, 0, 13)
        assert request(conn, "GET", "/nothing/here") == (404, 9)
        exp.add("GET", "/nothing/here", 404, 0, 9)
    finally:
        conn.close()
    # Four chunked responses and two plain ones pipelined on one connection.
    got = harness.pipeline(srv.port, 6, paths=["/chunked/3", "/chunked/10", "/plain"])
    assert got == [(200, 300), (200, 1000), (200, 13)] * 2
    for status, size in got:
        exp.add("GET", "/plain" if size == 13 else "/chunked/{id}", status, 0, size)

    chunked = exp[("GET", "/chunked/{id}", "200")]
    assert (chunked.count, chunked.response_bytes) == (19, 20100 + 2 * 1300)
    m = assert_server_exact(daemon, service_name, exp)
    # Each size in its bucket: 0 | 100 | 300, 1000 | 3000 (le is cumulative).
    labels = dict(service_name=service_name, http_request_method="GET",
                  http_response_status_code=200, http_route="/chunked/{id}")
    buckets = {le: m.bucket(SERVER_RESP_BODY, le, **labels)
               for le in (0, 64, 256, 1024, 4096, "+Inf")}
    assert buckets == {0: 1, 64: 1, 256: 3, 1024: 3 + 3 + 4 + 4, 4096: 19, "+Inf": 19}


def test_go_pipelined_requests(daemon, service_name, servers, go_server_bin):
    """Go net/http: K GETs in one write for K = 1, 3, 16, 64, 100, round-robin over four
    routes, then pipelined POST /echo with small and 1000-byte bodies."""
    srv = servers(harness.start_go_server(go_server_bin, service_name=service_name))
    # path -> (route, status, response body bytes)
    routes = {"/items/1": ("/items/{id}", 200, 10), "/items/22": ("/items/{id}", 200, 11),
              "/missing": ("/missing", 404, 7), "/nope": ("/nope", 404, 9)}
    paths = list(routes)
    exp = Expected()
    for k in (1, 3, 16, 64, 100):
        got = harness.pipeline(srv.port, k, paths=paths)
        want = [routes[paths[i % len(paths)]][1:] for i in range(k)]
        assert got == want, f"K={k}"
        for i in range(k):
            route, status, size = routes[paths[i % len(paths)]]
            exp.add("GET", route, status, 0, size)
    for k, body in ((8, '{"msg":"hello pipelined world"}'), (5, "z" * 1000)):
        got = harness.pipeline(srv.port, k, paths=["/echo"], method="POST", body=body)
        assert got == [(200, len(body))] * k, f"POST K={k}"
        for _ in range(k):
            exp.add("POST", "/echo", 200, len(body), len(body))

    assert {key: s.count for key, s in exp.items()} == {
        ("GET", "/items/{id}", "200"): 93, ("GET", "/missing", "404"): 46,
        ("GET", "/nope", "404"): 45, ("POST", "/echo", "200"): 13}
    assert_server_exact(daemon, service_name, exp)
