"""Threshold alerts end to end: 30% of a real server's answers are 5xx, the
error-rate rule fires through a real SMTP server (aiosmtpd), a real
Alertmanager and a local receiver standing in for Slack and PagerDuty; when
the traffic recovers, every channel gets exactly one resolve. The Slack
receiver answers the first notification 429 with Retry-After: 1, so exactly
one firing message is delivered after one counted retry. `sightline alert
test` sends one test alert through every channel.
"""

from __future__ import annotations

import http.client
import json
import mailbox
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import harness

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def _wait_port(port: int, proc: subprocess.Popen, name: str, timeout: float = 20.0) -> None:
    def listening():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        with socket.socket() as s:
            return s.connect_ex((harness.LOOPBACK, port)) == 0
    harness.wait_for(listening, timeout=timeout, message=f"{name} listening on {port}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def smtp_server(tmp_path):
    """aiosmtpd storing every message in a Maildir; yields (port, mailbox)."""
    port = harness.free_port()
    maildir = tmp_path / "maildir"
    proc = subprocess.Popen(
        [harness.PYTHON, "-m", "aiosmtpd", "-n", "-l", f"{harness.LOOPBACK}:{port}",
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        _wait_port(port, proc, "aiosmtpd")
        yield port, maildir
    finally:
        _stop(proc)


@pytest.fixture
def alertmanager(tmp_path):
    """A real Alertmanager with one no-op receiver; yields its base URL."""
    if not os.path.exists(ALERTMANAGER):
        pytest.fail("prometheus-alertmanager is not installed (scripts/setup.sh)")
    port = harness.free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    storage = tmp_path / "am-data"
    storage.mkdir()
    log = open(tmp_path / "alertmanager.log", "wb")
    proc = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={config}", f"--storage.path={storage}",
         f"--web.listen-address={harness.LOOPBACK}:{port}", "--cluster.listen-address="],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        _wait_port(port, proc, "alertmanager")
        url = f"http://{harness.LOOPBACK}:{port}"
        harness.wait_for(lambda: harness.http_get(url + "/-/ready")[0] == 200, timeout=20,
                         message="alertmanager ready")
        yield url
    finally:
        _stop(proc)
        log.close()


def _receiver(servers, *fail_first: str) -> harness.Fixture:
    port = harness.free_port()
    argv = [harness.PYTHON, str(harness.FIXTURES / "alert_receiver.py"), str(port)]
    for spec in fail_first:
        argv += ["--fail-first", spec]
    return servers(harness.start_fixture(argv, port, name="alert_receiver"))


def _received(receiver: harness.Fixture, path: str) -> list[dict]:
    status, body = harness.http_get(receiver.url + "/_received")
    assert status == 200
    return [r for r in json.loads(body) if r["path"] == path]


def _delivered(receiver: harness.Fixture, path: str) -> list[dict]:
    return [r for r in _received(receiver, path) if r["status"] == 200]


def _mails(maildir: Path) -> list:
    if not maildir.exists():
        return []
    return sorted(mailbox.Maildir(str(maildir), create=False), key=lambda m: m["Date"] or "")


def _am_alerts(url: str, alertname: str) -> list[dict]:
    status, body = harness.http_get(url + "/api/v2/alerts?active=true&silenced=true&inhibited=true")
    assert status == 200, body
    return [a for a in json.loads(body) if a["labels"].get("alertname") == alertname]


class Traffic:
    """Keeps a keep-alive client sending batches of 10 requests every 0.2 s:
    `errors` of them to /boom (500), the rest to /ok (200)."""

    def __init__(self, port: int):
        self.port = port
        self.errors = 3
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection(harness.LOOPBACK, self.port, timeout=5)
        while not self._stop.is_set():
            errors = self.errors
            for i in range(10):
                conn.request("GET", "/boom" if i < errors else "/ok")
                conn.getresponse().read()
                self.sent += 1
            time.sleep(0.2)
        conn.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def test_error_rate_alert_fires_and_resolves_on_every_channel(
        privileged, servers, service_name, tmp_path, smtp_server, alertmanager):
    smtp_port, maildir = smtp_server
    server = servers(harness.start_python_server(service_name=service_name))
    receiver = _receiver(servers, "/slack=429,1")
    rules = tmp_path / "alerts.yaml"
    rules.write_text(f"""defaults: false
rules:
  - name: HighErrorRate
    metric_name: http_error_rate
    warning_value: 0.2
    critical_value: 0.9
    comparison: gt
    recovery_value: 0.1
    duration_seconds: 2
    cooldown_seconds: 600
    window_seconds: 5
    min_requests: 20
    service: {service_name}
""")
    env = {
        "SMTP_HOST": harness.LOOPBACK, "SMTP_PORT": str(smtp_port), "SMTP_USE_TLS": "false",
        "ALERT_EMAIL_FROM": "sightline@example.com",
        "ALERT_EMAIL_TO": "team@example.com,oncall@example.com",
        "SLACK_WEBHOOK_URL": receiver.url + "/slack", "SLACK_CHANNEL": "#alerts",
        "PAGERDUTY_INTEGRATION_KEY": "pd-routing-key",
        "PAGERDUTY_EVENTS_URL": receiver.url + "/pagerduty",
        "ALERTMANAGER_URL": alertmanager,
        "ALERT_WEBHOOK_URL": receiver.url + "/hook",
    }
    daemon = harness.start_daemon("--ports", str(server.port), "--alert-rules", str(rules),
                                  env=env)
    try:
        with Traffic(server.port) as traffic:
            # Firing: every channel gets one firing notification.
            harness.wait_for(lambda: len(_delivered(receiver, "/pagerduty")) >= 1, timeout=30,
                             message="PagerDuty trigger")
            harness.wait_for(lambda: len(_delivered(receiver, "/slack")) >= 1, timeout=10,
                             message="Slack message after its 429")
            harness.wait_for(lambda: len(_delivered(receiver, "/hook")) >= 1, timeout=10)
            harness.wait_for(lambda: len(_mails(maildir)) >= 1, timeout=10, message="e-mail")
            am = harness.wait_for(lambda: _am_alerts(alertmanager, "HighErrorRate"), timeout=10,
                                  message="Alertmanager lists the alert")
            assert am[0]["labels"] == {
                "alertname": "HighErrorRate", "severity": "warning",
                "metric_name": "http_error_rate", "service_name": service_name,
                "instance": socket.gethostname(), "source": "sightline"}
            assert am[0]["status"]["state"] == "active"
            m = daemon.metrics()
            assert m.total("sightline_alerts_firing", alertname="HighErrorRate",
                           severity="warning", service_name=service_name) == 1

            slack = _received(receiver, "/slack")
            assert [r["status"] for r in slack] == [429, 200]
            assert slack[1]["time"] - slack[0]["time"] >= 0.95  # Retry-After: 1 honoured
            msg = slack[1]["body"]
            assert set(msg) == {"channel", "username", "text", "attachments"}
            assert msg["channel"] == "#alerts" and msg["username"] == "sightline"
            assert msg["text"].startswith(
                "[FIRING] HighErrorRate warning: http_error_rate ")
            assert msg["text"].endswith(f" > 0.2 over 5s (service {service_name})")
            (att,) = msg["attachments"]
            assert set(att) == {"color", "title", "text", "fields", "footer", "ts"}
            assert att["title"] == "HighErrorRate" and att["color"] == "#daa038"
            fields = {f["title"]: f["value"] for f in att["fields"]}
            assert list(fields) == ["Severity", "Service", "Metric", "Value", "Threshold", "Host"]
            assert fields["Severity"] == "warning" and fields["Service"] == service_name
            assert fields["Threshold"] == "> 0.2"
            assert 0.2 < float(fields["Value"]) < 0.4

            (trigger,) = _delivered(receiver, "/pagerduty")
            event = trigger["body"]
            assert trigger["content_type"] == "application/json"
            assert set(event) == {"routing_key", "event_action", "dedup_key", "client", "payload"}
            assert event["routing_key"] == "pd-routing-key"
            assert event["event_action"] == "trigger"
            dedup = f"sightline/{socket.gethostname()}/HighErrorRate/{service_name}"
            assert event["dedup_key"] == dedup
            p = event["payload"]
            assert set(p) == {"summary", "source", "severity", "timestamp", "class", "group",
                              "component", "custom_details"}
            assert p["severity"] == "warning" and p["component"] == service_name
            assert p["class"] == "http_error_rate" and p["source"] == socket.gethostname()
            assert p["custom_details"]["threshold"] == 0.2

            (mail,) = _mails(maildir)
            assert mail["Subject"] == f"[sightline] FIRING warning HighErrorRate ({service_name})"
            assert mail["To"] == "team@example.com, oncall@example.com"
            assert mail["From"] == "sightline@example.com"

            # Recovery: only 200s from now on.
            traffic.errors = 0
            harness.wait_for(lambda: len(_delivered(receiver, "/pagerduty")) >= 2, timeout=30,
                             message="PagerDuty resolve")
            harness.wait_for(lambda: len(_mails(maildir)) >= 2, timeout=10)
            harness.wait_for(lambda: len(_delivered(receiver, "/slack")) >= 2, timeout=10)
            harness.wait_for(lambda: len(_delivered(receiver, "/hook")) >= 2, timeout=10)
            harness.wait_for(lambda: not _am_alerts(alertmanager, "HighErrorRate"), timeout=10,
                             message="Alertmanager no longer lists it as active")
            time.sleep(3)  # more healthy traffic: nothing else may be sent

        resolve = _delivered(receiver, "/pagerduty")[1]["body"]
        assert resolve == {"routing_key": "pd-routing-key", "event_action": "resolve",
                           "dedup_key": dedup}
        slack = _delivered(receiver, "/slack")
        assert len(slack) == 2
        assert slack[1]["body"]["text"].startswith("[RESOLVED] HighErrorRate resolved: ")
        hook = _delivered(receiver, "/hook")
        assert [h["body"]["status"] for h in hook] == ["firing", "resolved"]
        assert hook[0]["body"]["dedup_key"] == hook[1]["body"]["dedup_key"] == dedup
        mails = _mails(maildir)
        assert len(mails) == 2
        assert mails[1]["Subject"] == f"[sightline] RESOLVED HighErrorRate ({service_name})"
        assert len(_delivered(receiver, "/pagerduty")) == 2

        m = daemon.metrics()
        assert m.total("sightline_alerts_firing", alertname="HighErrorRate") == 0
        for channel in ("email", "slack", "pagerduty", "alertmanager", "webhook"):
            assert m.total("sightline_alert_notifications_total", channel=channel,
                           result="sent") == 2, channel
            assert m.total("sightline_alert_notifications_total", channel=channel,
                           result="failed") == 0, channel
            assert m.total("sightline_alert_notifications_total", channel=channel,
                           result="dropped") == 0, channel
            assert m.total("sightline_alert_notification_retries_total",
                           channel=channel) == (1 if channel == "slack" else 0), channel
            assert m.total("sightline_alert_queue_depth", channel=channel) == 0
    finally:
        code = daemon.stop()
    assert code == 0, daemon.stderr_text()[-3000:]


def test_alert_test_reaches_every_channel(privileged, servers, tmp_path, smtp_server,
                                         alertmanager):
    smtp_port, maildir = smtp_server
    receiver = _receiver(servers)
    env = dict(os.environ,
               SMTP_HOST=harness.LOOPBACK, SMTP_PORT=str(smtp_port), SMTP_USE_TLS="false",
               ALERT_EMAIL_FROM="sightline@example.com", ALERT_EMAIL_TO="team@example.com",
               SLACK_WEBHOOK_URL=receiver.url + "/slack",
               PAGERDUTY_INTEGRATION_KEY="pd-key",
               PAGERDUTY_EVENTS_URL=receiver.url + "/pagerduty",
               ALERTMANAGER_URL=alertmanager,
               ALERT_WEBHOOK_URL=receiver.url + "/hook")
    out = subprocess.run([str(harness.daemon_binary()), "alert", "test"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == ["email: ok", "slack: ok", "pagerduty: ok",
                                       "alertmanager: ok", "webhook: ok"]
    assert len(_delivered(receiver, "/slack")) == 1
    assert _delivered(receiver, "/slack")[0]["body"]["text"].startswith(
        "[TEST] SightlineTestAlert test")
    pd = [r["body"]["event_action"] for r in _delivered(receiver, "/pagerduty")]
    assert pd == ["trigger", "resolve"]  # the test incident closes itself
    assert len(_delivered(receiver, "/hook")) == 1
    assert _delivered(receiver, "/hook")[0]["body"]["kind"] == "test"
    (mail,) = harness.wait_for(lambda: _mails(maildir), timeout=5)
    assert mail["Subject"] == "[sightline] TEST SightlineTestAlert"
    (am,) = _am_alerts(alertmanager, "SightlineTestAlert")
    assert am["labels"]["severity"] == "info"

    # A channel that cannot be reached fails the command, naming it.
    env["ALERT_WEBHOOK_URL"] = f"http://{harness.LOOPBACK}:{harness.free_port()}/hook"
    out = subprocess.run([str(harness.daemon_binary()), "alert", "test"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1].startswith("webhook: failed after 3 attempts: ")


def test_bad_alert_rules_file_is_refused(privileged, tmp_path):
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - metric_name: http_error_rat\n    warning_value: 1\n")
    out = subprocess.run([str(harness.daemon_binary()), "--alert-rules", str(rules)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert f"--alert-rules: {rules}:2: rules[0]: unknown metric_name 'http_error_rat'" in out.stderr


def test_smtp_without_starttls_fails_rather_than_sending_in_clear(privileged, smtp_server):
    """SMTP_USE_TLS=true against a server that offers no STARTTLS: the mail is
    not sent at all, and the command says why."""
    smtp_port, maildir = smtp_server
    env = dict(os.environ, SMTP_HOST=harness.LOOPBACK, SMTP_PORT=str(smtp_port),
               SMTP_USE_TLS="true", ALERT_EMAIL_FROM="sightline@example.com",
               ALERT_EMAIL_TO="team@example.com")
    out = subprocess.run([str(harness.daemon_binary()), "alert", "test"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    (line,) = out.stdout.splitlines()
    # Refused at once, not retried: waiting would not make the server offer TLS.
    assert line.startswith("email: failed after 1 attempt: Requested SSL level failed"), line
    time.sleep(0.5)
    assert _mails(maildir) == []
