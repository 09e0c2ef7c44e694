"""Business KPIs from traffic: the real daemon loaded with the shipped
deploy/business/business-rules.yaml, watching a FastAPI campaign API
(tests/fixtures/business_app.py) driven by http.client (keep-alive, one
connection per request, chunked request bodies) and curl (chunked, gzip).

Counts and gauge values are exact: every request is answered before the next
is sent, each test has its own app, port and service_name, and the daemon
watches only the test ports (--ports). The test process is observed too, as
the client: the shipped rules are for servers, so a miscounted side shows.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

import harness
from conftest import _require_privileged

RULES = harness.REPO / "deploy" / "business" / "business-rules.yaml"
ERRORS = "sightline_business_rule_errors_total"
N_PORTS = 6


@pytest.fixture(scope="module")
def ports() -> list[int]:
    return [harness.free_port() for _ in range(N_PORTS)]


@pytest.fixture(scope="module")
def daemon(ports):
    """One daemon with the shipped rules, watching only this module's ports."""
    _require_privileged()
    d = harness.start_daemon("--ports", ",".join(map(str, ports)),
                             "--business-rules", str(RULES))
    yield d
    code = d.stop()
    assert code == 0, f"daemon exited with {code}:\n{d.stderr_text()[-3000:]}"


@pytest.fixture
def start_app(ports, service_name, servers):
    """start(index): the campaign API on the module's port `index` (one per test),
    named after the test."""
    def start(index: int) -> harness.Fixture:
        return servers(harness.start_fixture(
            [harness.PYTHON, str(harness.FIXTURES / "business_app.py"), str(ports[index])],
            ports[index], service_name=service_name, name="business_app"))
    return start


def post(conn: http.client.HTTPConnection, path: str, payload, chunked: bool = False) -> dict:
    """POST JSON on `conn`; returns {"status", "body"}. Chunked: the body goes in
    three pieces with Transfer-Encoding: chunked."""
    data = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if chunked:
        third = max(1, len(data) // 3)
        body = iter([data[:third], data[third:2 * third], data[2 * third:]])
        conn.request("POST", path, body=body, headers=headers, encode_chunked=True)
    else:
        conn.request("POST", path, body=data, headers=headers)
    resp = conn.getresponse()
    return {"status": resp.status, "body": json.loads(resp.read() or b"null")}


def get(conn: http.client.HTTPConnection, path: str) -> dict:
    conn.request("GET", path)
    resp = conn.getresponse()
    return {"status": resp.status, "body": json.loads(resp.read() or b"null")}


def connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(harness.LOOPBACK, port, timeout=10)


def curl(*args: str) -> tuple[int, dict]:
    """curl on loopback; returns (status, JSON body)."""
    out = harness.run_client(["curl", "-sS", "-w", "\n%{http_code}", *args]).stdout
    body, _, status = out.rpartition("\n")
    return int(status), json.loads(body or "null")


def table(m: harness.Metrics, name: str, service: str, labels: tuple) -> dict:
    """`name` for `service`, by tuple of `labels` values; one label: by its value."""
    got = harness.keyed(m, name, service, labels)
    return {k[0] if len(k) == 1 else k: v for k, v in got.items()}


def wait_table(daemon: harness.Daemon, name: str, service: str, labels: tuple, want: dict,
               timeout: float = 10.0, settle: float = 1.0) -> harness.Metrics:
    """Waits until `name` for `service` is exactly `want` (no series missing, none
    extra), waits `settle` more, and checks it again (no late over-count)."""
    seen: dict = {}

    def reached():
        m = daemon.metrics()
        seen.clear()
        seen.update(table(m, name, service, labels))
        return m if seen == want else None

    try:
        harness.wait_for(reached, timeout=timeout, message=f"{name} of {service}")
    except TimeoutError:
        m = daemon.metrics()
        raise AssertionError(f"{name}{{service_name={service}}}: {seen} != {want}\n"
                             f"rule errors: {m.samples(ERRORS)}\n"
                             f"exchanges: {m.samples('sightline_business_exchanges_total')}"
                             ) from None
    time.sleep(settle)
    final = daemon.metrics()
    assert table(final, name, service, labels) == want
    return final


def errors_of(m: harness.Metrics, metric: str) -> dict:
    return {labels["reason"]: value for labels, value in m.samples(ERRORS, metric=metric)
            if value}


def test_campaigns_created_by_platform(daemon, start_app, service_name):
    """7 meta, 4 google, 2 on platforms outside the allow-list ("other"), 3 that
    fail validation (422: not counted). Requests on one keep-alive connection,
    on connections of their own, with chunked bodies (http.client and curl)."""
    app = start_app(0)
    before = errors_of(daemon.metrics(), "campaigns_created_total")
    keep = connect(app.port)
    statuses = []
    for i in range(4):
        statuses.append(post(keep, "/api/campaigns", {"platform": "meta", "name": f"m{i}"})["status"])
    for i in range(2):
        statuses.append(post(keep, "/api/campaigns", {"platform": "meta", "name": f"c{i}"},
                             chunked=True)["status"])
    for i in range(3):
        one = connect(app.port)
        statuses.append(post(one, "/api/campaigns", {"platform": "google", "name": f"g{i}"})["status"])
        one.close()
    for platform in ("myspace", "orkut"):
        statuses.append(post(keep, "/api/campaigns", {"platform": platform, "name": "x"})["status"])
    for _ in range(3):  # no name: FastAPI answers 422
        statuses.append(post(keep, "/api/campaigns", {"platform": "meta"})["status"])
    keep.close()
    status, _ = curl("-X", "POST", "-H", "Content-Type: application/json",
                     "-H", "Transfer-Encoding: chunked", "--data", '{"platform":"meta","name":"cu"}',
                     f"{app.url}/api/campaigns")
    statuses.append(status)
    status, _ = curl("-X", "POST", "-H", "Content-Type: application/json",
                     "--data", '{"platform":"google","name":"cu"}', f"{app.url}/api/campaigns")
    statuses.append(status)
    assert statuses == [201] * 11 + [422] * 3 + [201] * 2

    m = wait_table(daemon, "campaigns_created_total", service_name, ("platform",),
                   {"meta": 7, "google": 4, "other": 2})
    after = errors_of(m, "campaigns_created_total")
    assert after.get("label_other", 0) - before.get("label_other", 0) == 2, after
    for reason in ("body_incomplete", "invalid_json", "not_json", "missing_field", "unanswered"):
        assert after.get(reason, 0) == before.get(reason, 0), (reason, after)
    # The client side of the same exchanges (this test process) is not counted.
    assert m.total("campaigns_created_total", platform="meta") == 7
    # The HTTP metrics behind the rules still see every exchange, 422s included.
    assert harness.keyed(m, harness.SERVER + "_count", service_name,
                         ("http_route", "http_response_status_code")) == {
        ("/api/campaigns", "201"): 13, ("/api/campaigns", "422"): 3}
    lint = harness.promtool_check(daemon.scrape())
    assert not [p for p in lint.problems if "campaigns_created" in p or "roas" in p], lint.output


def test_ads_published_by_platform_and_format(daemon, start_app, service_name):
    app = start_app(1)
    conn = connect(app.port)
    plan = [("meta", "image")] * 3 + [("google", "video")] * 2 + [("tiktok", "carousel")] + \
        [("meta", "hologram")] + [("snapchat", "story")]
    for i, (platform, fmt) in enumerate(plan):
        r = post(conn, "/api/ads", {"platform": platform, "format": fmt, "campaign_id": f"c-{i}"},
                 chunked=i % 2 == 1)
        assert r["status"] == 201, r
    # A failed publication (no campaign_id): not counted.
    assert post(conn, "/api/ads", {"platform": "meta", "format": "image"})["status"] == 422
    conn.close()
    wait_table(daemon, "ads_published_total", service_name, ("platform", "format"),
               {("meta", "image"): 3, ("google", "video"): 2, ("tiktok", "carousel"): 1,
                ("meta", "other"): 1, ("snapchat", "story"): 1})


def test_video_generations(daemon, start_app, service_name):
    app = start_app(2)
    conn = connect(app.port)
    for i in range(5):
        assert post(conn, "/api/videos/generate", {"prompt": f"a cat {i}"})["status"] == 202
    assert post(conn, "/api/videos/generate", {"text": "no prompt"})["status"] == 422
    conn.close()
    wait_table(daemon, "video_generations_total", service_name, (), {(): 5})


def test_roas_gauge_is_the_last_value_per_platform(daemon, start_app, service_name):
    """ROAS answered by GET /api/campaigns/{id}/roas: the gauge holds the last
    value seen per platform, also from a gzip-compressed answer (curl --compressed)."""
    app = start_app(3)
    conn = connect(app.port)
    ids = {}
    for key, platform, roas in (("a", "meta", 2.5), ("b", "google", 1.75), ("c", "meta", 4.125),
                                ("d", "tiktok", 0.5)):
        r = post(conn, "/api/campaigns", {"platform": platform, "name": key, "roas": roas})
        ids[key] = r["body"]["id"]
    for key in ("a", "b", "c"):
        assert get(conn, f"/api/campaigns/{ids[key]}/roas")["status"] == 200
    assert get(conn, "/api/campaigns/nope/roas")["status"] == 404  # not a 2xx: ignored
    wait_table(daemon, "roas_value", service_name, ("platform",), {"meta": 4.125, "google": 1.75})
    # Campaign a again, answered gzip-compressed: meta goes back to 2.5.
    status, body = curl("--compressed", "-H", "Accept-Encoding: gzip",
                        f"{app.url}/api/campaigns/{ids['a']}/roas")
    assert (status, body["roas"]) == (200, 2.5)
    status, body = curl("--compressed", f"{app.url}/api/campaigns/{ids['d']}/roas")
    assert (status, body["platform"]) == (200, "tiktok")
    conn.close()
    m = wait_table(daemon, "roas_value", service_name, ("platform",),
                   {"meta": 2.5, "google": 1.75, "tiktok": 0.5})
    assert errors_of(m, "roas_value").get("decode_failed", 0) == 0


def test_prediction_accuracy_gauge(daemon, start_app, service_name):
    app = start_app(4)
    conn = connect(app.port)
    assert post(conn, "/api/models/ctr-v2/evaluation",
                {"model_type": "ctr", "metric": "auc", "value": 0.91})["status"] == 201
    assert post(conn, "/api/models/roas-v1/evaluation",
                {"model_type": "roas", "metric": "mape", "value": 0.125})["status"] == 201
    wait_table(daemon, "prediction_accuracy", service_name, ("model_type", "metric"),
               {("ctr", "auc"): 0.91, ("roas", "mape"): 0.125})
    assert post(conn, "/api/models/ctr-v2/evaluation",
                {"model_type": "ctr", "metric": "auc", "value": 0.9375}, chunked=True)["status"] == 201
    assert get(conn, "/api/models/roas-v1/evaluation")["body"]["value"] == 0.125
    assert get(conn, "/api/models/none/evaluation")["status"] == 404
    conn.close()
    wait_table(daemon, "prediction_accuracy", service_name, ("model_type", "metric"),
               {("ctr", "auc"): 0.9375, ("roas", "mape"): 0.125})


def _rules_text(extra_metric: str = "") -> str:
    return RULES.read_text() + extra_metric


EXTRA = """
  - name: campaign_lookups_total
    type: counter
    match: {method: GET, route: "/api/campaigns/{id}/roas", status: 2xx}
"""


def test_rules_reloaded_on_sighup(tmp_path, privileged, ports, start_app, service_name):
    """A daemon of the test's own with a copy of the rules: a metric added and
    SIGHUP -> "business rules reloaded" and it counts; campaigns_created_total,
    unchanged, keeps its count. A broken file and SIGHUP -> "business rules not
    reloaded", the daemon goes on with the rules it had."""
    app = start_app(5)
    rules = tmp_path / "rules.yaml"
    rules.write_text(_rules_text())
    d = harness.start_daemon("--ports", str(app.port), "--business-rules", str(rules))
    try:
        conn = connect(app.port)

        def create(n: int) -> str:
            cid = ""
            for i in range(n):
                cid = post(conn, "/api/campaigns", {"platform": "google", "name": str(i),
                                                    "roas": 3.0})["body"]["id"]
            return cid

        def hangup(phrase: str) -> None:
            seen = d.stderr_text().count(phrase)
            d.proc.send_signal(signal.SIGHUP)
            harness.wait_for(lambda: d.stderr_text().count(phrase) > seen, timeout=10,
                             message=f"log {phrase!r}")
            assert d.alive() and d.healthz() == 200

        cid = create(2)
        wait_table(d, "campaigns_created_total", service_name, ("platform",), {"google": 2})
        rules.write_text(_rules_text(EXTRA))
        hangup("business rules reloaded")
        for _ in range(3):
            assert get(conn, f"/api/campaigns/{cid}/roas")["status"] == 200
        create(1)
        wait_table(d, "campaign_lookups_total", service_name, (), {(): 3})
        wait_table(d, "campaigns_created_total", service_name, ("platform",), {"google": 3})

        rules.write_text("metrics:\n  - name: broken_total\n    type: histogram\n"
                         "    match: {route: /api/campaigns}\n")
        hangup("business rules not reloaded")
        assert "rules.yaml:3: metrics[0] (broken_total).type: 'histogram' is not counter or " \
               "gauge" in d.stderr_text()
        create(1)
        assert get(conn, f"/api/campaigns/{cid}/roas")["status"] == 200
        wait_table(d, "campaign_lookups_total", service_name, (), {(): 4})
        m = wait_table(d, "campaigns_created_total", service_name, ("platform",), {"google": 4})
        assert m.total("sightline_business_rules_reloads_total", result="ok") == 1
        assert m.total("sightline_business_rules_reloads_total", result="failed") == 1
        conn.close()
    finally:
        code = d.stop()
    assert code == 0, d.stderr_text()[-3000:]


def test_bad_rules_file_stops_the_daemon_at_start(tmp_path):
    """Exit 2 and a message naming the flag, the file and the line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("metrics:\n  - name: campaigns_total\n    type: counter\n"
                   "    match: {route: /api/campaigns}\n    labels:\n"
                   "      campaign_id: {from: request_body, pointer: campaign_id}\n")
    binary = harness.daemon_binary()
    if not binary.exists():
        pytest.skip(f"{binary} is not built")
    proc = subprocess.run([str(binary), "--listen", f"127.0.0.1:{harness.free_port()}",
                           "--business-rules", str(bad)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"--business-rules: {bad}:6: metrics[0] (campaigns_total).labels.campaign_id.pointer: " \
           "'campaign_id' is not a JSON pointer" in proc.stderr, proc.stderr
    env_proc = subprocess.run([str(binary), "--listen", f"127.0.0.1:{harness.free_port()}"],
                              capture_output=True, text=True, timeout=30,
                              env={"SIGHTLINE_BUSINESS_RULES": str(Path(bad))})
    assert env_proc.returncode == 2 and "--business-rules:" in env_proc.stderr, env_proc.stderr
