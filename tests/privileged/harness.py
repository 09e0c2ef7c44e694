"""Helpers for the privileged tests: run the daemon and real servers, read metrics.

Everything listens on loopback only. The daemon is started as

    build/sightline --listen 127.0.0.1:<port> [--log-level debug] [extra args]

(override the binary with SIGHTLINE_BIN). Fixture servers live in tests/fixtures,
print "ready" once they listen and stop on SIGTERM.

The Prometheus text parser lives in promtext.py and is re-exported here.

The daemon polls its ring buffer about every 100 ms, so metrics lag traffic by
up to about half a second: assert through wait_for() / Daemon.wait_count(), not
a single scrape.

Note that scraping goes through the daemon's own HTTP endpoint, so the scrapes
themselves are loopback HTTP traffic the daemon may observe (as a server, and
for this test process as a client). Tests that assert exact counts should
filter on the service_name of the fixture under test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence, TypeVar

from promtext import Metrics, ParseError, PromtoolResult, parse_metrics, promtool_check

__all__ = [
    "Daemon", "Fixture", "Metrics", "ParseError", "PromtoolResult", "booked", "build_go_server",
    "client_env", "daemon_binary", "free_port", "hostile", "http_get", "keyed", "parse_metrics",
    "pipeline", "diagnostics", "promtool_check", "run_client", "service_names", "start_daemon",
    "start_fastapi_app", "start_fixture", "start_go_server", "start_nginx", "start_node_server",
    "start_python_server", "wait_exact", "wait_for",
    # metric names
    "CLIENT", "CLIENT_REQ_BODY", "CLIENT_RESP_BODY", "CONNECTIONS", "LOST", "PARSE_ERRORS",
    "SERVER", "SERVER_REQ_BODY", "SERVER_RESP_BODY", "UNANSWERED",
]

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
# Debian's interpreter: it has FastAPI and uvicorn; a python3 earlier on PATH may not.
PYTHON = "/usr/bin/python3"
LOOPBACK = "127.0.0.1"

# Metric names the tests assert on.
SERVER = "http_server_request_duration_seconds"
SERVER_REQ_BODY = "http_server_request_body_size_bytes"
SERVER_RESP_BODY = "http_server_response_body_size_bytes"
CLIENT = "http_client_request_duration_seconds"
CLIENT_REQ_BODY = "http_client_request_body_size_bytes"
CLIENT_RESP_BODY = "http_client_response_body_size_bytes"
UNANSWERED = "sightline_http_requests_unanswered_total"
LOST = "sightline_events_lost_total"
PARSE_ERRORS = "sightline_parse_errors_total"
CONNECTIONS = "sightline_connections_total"

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Polling


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.1,
             message: str = "") -> T:
    """Calls predicate until it returns something truthy and returns that value.

    Raises TimeoutError after `timeout` seconds, naming `message` and the last
    value seen (or the last exception the predicate raised).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as err:  # noqa: BLE001 - reported on timeout
            last = err
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            raise TimeoutError(f"{what}: not true after {timeout:.1f}s (last: {last!r})")
        time.sleep(interval)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------
# HTTP


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET on loopback; returns (status, body bytes), also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# ---------------------------------------------------------------------------
# Processes


def client_env(service_name: Optional[str],
               env: Optional[Mapping[str, str]] = None) -> dict:
    """This process's environment plus `env`, with OTEL_SERVICE_NAME set to
    `service_name` (None: unset), for a fixture or client process."""
    merged = dict(os.environ)
    # Without a name the observed service falls back to its executable name;
    # make sure one inherited from the test runner does not leak in.
    merged.pop("OTEL_SERVICE_NAME", None)
    if env:
        merged.update(env)
    if service_name is not None:
        merged["OTEL_SERVICE_NAME"] = service_name
    return merged


def _stop_process(proc: subprocess.Popen, timeout: float) -> int:
    """SIGTERM, wait, then SIGKILL the process group; returns the exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The leader is not reaped yet, so its group id still names our group.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
    return proc.returncode


class _Running:
    """A process of ours listening on a loopback port, with its stderr in a file."""

    stop_timeout = 5.0

    def __init__(self, proc: subprocess.Popen, port: int, stderr_path: Path):
        self.proc = proc
        self.port = port
        self._stderr_path = stderr_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def stderr_text(self) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float | None = None) -> int:
        """SIGTERM (SIGKILL after `timeout`); returns the exit status."""
        return _stop_process(self.proc, self.stop_timeout if timeout is None else timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Fixture(_Running):
    """A running fixture server (see start_fixture)."""

    def __init__(self, proc: subprocess.Popen, port: int, name: str, stderr_path: Path):
        super().__init__(proc, port, stderr_path)
        self.name = name
        self._lines: list[str] = []


def start_fixture(argv: Sequence[str], port: int, *, service_name: Optional[str] = None,
                  env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
                  ready_timeout: float = 15.0, name: Optional[str] = None) -> Fixture:
    """Starts a server that prints "ready" on stdout once it listens.

    `service_name` becomes OTEL_SERVICE_NAME in its environment (None: unset, so
    the observed name is the executable's). The process gets its own process
    group. Raises RuntimeError with its stderr if it exits or stays silent for
    `ready_timeout` seconds.
    """
    name = name or Path(argv[0]).name
    err_fd, err_path = tempfile.mkstemp(prefix=f"sightline-{name}-", suffix=".stderr")
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err_fd, cwd=cwd, env=client_env(service_name, env),
                                start_new_session=True, text=True)
    finally:
        os.close(err_fd)
    fixture = Fixture(proc, port, name, Path(err_path))

    ready = threading.Event()

    def pump() -> None:
        # Keep reading so a chatty fixture never blocks on a full pipe.
        for line in proc.stdout:
            fixture._lines.append(line.rstrip("\n"))
            if line.strip() == "ready":
                ready.set()
        ready.set()

    threading.Thread(target=pump, name=f"{name}-stdout", daemon=True).start()
    if not ready.wait(ready_timeout) or "ready" not in fixture._lines:
        fixture.stop(timeout=2)
        raise RuntimeError(f"{name} did not print 'ready' within {ready_timeout}s "
                           f"(exit {proc.returncode}); argv {list(argv)}\n"
                           f"stdout: {fixture._lines}\nstderr:\n{fixture.stderr_text()}")
    return fixture


def start_python_server(port: Optional[int] = None, service_name: Optional[str] = None,
                        **kw) -> Fixture:
    port = port or free_port()
    return start_fixture([PYTHON, str(FIXTURES / "python_server.py"), str(port)], port,
                         service_name=service_name, name="python_server", **kw)


def start_fastapi_app(port: Optional[int] = None, service_name: Optional[str] = None,
                      **kw) -> Fixture:
    port = port or free_port()
    return start_fixture([PYTHON, str(FIXTURES / "fastapi_app.py"), str(port)], port,
                         service_name=service_name, name="fastapi_app", **kw)


def start_node_server(port: Optional[int] = None, service_name: Optional[str] = None,
                      **kw) -> Fixture:
    port = port or free_port()
    node = shutil.which("node") or shutil.which("nodejs") or "node"
    return start_fixture([node, str(FIXTURES / "node_chunked_server.js"), str(port)], port,
                         service_name=service_name, name="node_chunked_server", **kw)


def build_go_server(out_dir: Path) -> Path:
    """Builds tests/fixtures/go_server into out_dir (offline, caches under out_dir)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / "go_server"
    if binary.exists():
        return binary
    env = dict(os.environ, GOCACHE=str(out_dir / "gocache"), GOPATH=str(out_dir / "gopath"),
               GOPROXY="off", GOFLAGS="", GOTOOLCHAIN="local", CGO_ENABLED="0")
    proc = subprocess.run(["go", "build", "-o", str(binary), "main.go"],
                          cwd=FIXTURES / "go_server", env=env, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"go build failed:\n{proc.stdout}{proc.stderr}")
    return binary


def start_go_server(binary: Path, port: Optional[int] = None,
                    service_name: Optional[str] = None, **kw) -> Fixture:
    port = port or free_port()
    return start_fixture([str(binary), str(port)], port, service_name=service_name,
                         name="go_server", **kw)


def start_nginx(work_dir: Path, port: Optional[int] = None,
                service_name: Optional[str] = None, **kw) -> Fixture:
    """nginx from nginx_conf.sh: pid is the master; one worker serves.

    nginx overwrites /proc/<pid>/environ with its process title, so whether
    OTEL_SERVICE_NAME is seen depends on how the daemon reads the environment.
    """
    port = port or free_port()
    return start_fixture(["bash", str(FIXTURES / "nginx_conf.sh"), str(work_dir), str(port),
                          "--run"], port, service_name=service_name, name="nginx", **kw)


def run_client(argv: Sequence[str], timeout: float = 60.0,
               check: bool = True) -> subprocess.CompletedProcess:
    """Runs a client to completion, capturing text output."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check)


def pipeline(port: int, k: int, paths: Iterable[str] = ("/",), method: str = "GET",
             body: Optional[str] = None) -> list[tuple[int, int]]:
    """Runs pipeline_client.py; returns [(status, body bytes)] in response order."""
    argv = [PYTHON, str(FIXTURES / "pipeline_client.py"), str(port), str(k), "--method", method]
    for path in paths:
        argv += ["--path", path]
    if body is not None:
        argv += ["--body", body]
    out = run_client(argv).stdout.split()
    return [(int(out[i]), int(out[i + 1])) for i in range(0, len(out), 2)]


def hostile(mode: str, port: int, *args: str) -> str:
    """Runs hostile_client.py in `mode`; returns its one result line."""
    return run_client([PYTHON, str(FIXTURES / "hostile_client.py"), mode, str(port),
                       *args]).stdout.strip()


# ---------------------------------------------------------------------------
# The daemon


def daemon_binary() -> Path:
    return Path(os.environ.get("SIGHTLINE_BIN", REPO / "build" / "sightline"))


class Daemon(_Running):
    """A running sightline daemon (see start_daemon)."""

    stop_timeout = 10.0

    def __init__(self, proc: subprocess.Popen, port: int, stderr_path: Path, argv: list[str]):
        super().__init__(proc, port, stderr_path)
        self.argv = argv

    def alive(self) -> bool:
        return self.proc.poll() is None

    def healthz(self) -> int:
        return http_get(self.url + "/healthz", timeout=2)[0]

    def scrape(self) -> str:
        """The raw /metrics text; raises if the daemon died or answered non-200."""
        if not self.alive():
            raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n"
                               f"{self.stderr_text()}")
        status, body = http_get(self.url + "/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}: {body[:500]!r}")
        return body.decode("utf-8")

    def metrics(self) -> Metrics:
        return parse_metrics(self.scrape())

    def count(self, metric: str, /, **labels) -> float:
        """Histogram `_count` summed over series matching `labels`, from a fresh scrape."""
        return self.metrics().count(metric, **labels)

    def sum_(self, metric: str, /, **labels) -> float:
        """Histogram `_sum` summed over series matching `labels`, from a fresh scrape."""
        return self.metrics().sum_(metric, **labels)

    def total(self, name: str, /, **labels) -> float:
        """Sum of the samples of `name` matching `labels`, from a fresh scrape."""
        return self.metrics().total(name, **labels)

    def wait_count(self, metric: str, expected: float, /, timeout: float = 5.0,
                   settle: float = 0.5, **labels) -> Metrics:
        """Waits until the histogram count for `labels` reaches `expected`.

        Then waits `settle` seconds more and checks it did not overshoot, so an
        exact assertion is meaningful. Returns the last scrape. Raises
        AssertionError with the count seen.
        """
        seen = [0.0]

        def reached() -> Optional[Metrics]:
            m = self.metrics()
            seen[0] = m.count(metric, **labels)
            return m if seen[0] >= expected else None

        try:
            wait_for(reached, timeout=timeout, message=f"{metric}{labels} count")
        except TimeoutError:
            raise AssertionError(f"{metric}_count{labels} = {seen[0]}, expected {expected} "
                                 f"within {timeout}s") from None
        if settle > 0:
            time.sleep(settle)
        final = self.metrics()
        got = final.count(metric, **labels)
        if got != expected:
            raise AssertionError(f"{metric}_count{labels} = {got}, expected {expected}")
        return final


def start_daemon(*extra_args: str, port: Optional[int] = None,
                 log_level: Optional[str] = "debug", timeout: float = 20.0,
                 binary: Optional[Path] = None,
                 env: Optional[Mapping[str, str]] = None) -> Daemon:
    """Starts the daemon on a free loopback port and waits for /healthz 200.

    Raises RuntimeError with the daemon's stderr when it exits or is not
    healthy within `timeout` seconds.
    """
    binary = Path(binary) if binary else daemon_binary()
    if not binary.exists():
        raise FileNotFoundError(f"daemon binary {binary} not built")
    port = port or free_port()
    argv = [str(binary), "--listen", f"{LOOPBACK}:{port}"]
    if log_level:
        argv += ["--log-level", log_level]
    argv += list(extra_args)
    err_fd, err_path = tempfile.mkstemp(prefix="sightline-daemon-", suffix=".stderr")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err_fd, stderr=err_fd,
                                env=dict(os.environ, **(env or {})), start_new_session=True)
    finally:
        os.close(err_fd)
    daemon = Daemon(proc, port, Path(err_path), argv)

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode} before becoming "
                               f"healthy; argv {argv}\n{daemon.stderr_text()}")
        try:
            status = daemon.healthz()
            if status == 200:
                return daemon
            last = f"/healthz {status}"
        except OSError as err:
            last = str(err)
        time.sleep(0.1)
    daemon.stop(timeout=5)
    raise RuntimeError(f"daemon not healthy within {timeout}s ({last}); argv {argv}\n"
                       f"{daemon.stderr_text()}")


# ---------------------------------------------------------------------------
# Exact waits


def diagnostics(daemon: Daemon, expected: list[tuple[str, dict, float]]) -> str:
    """What the daemon has for the metrics in `expected` under any service name,
    and its non-zero loss and error counters: what a failed wait needs explained."""
    m = daemon.metrics()
    lines = []
    for metric in sorted({metric for metric, _, _ in expected}):
        side = metric.split("_")[1]  # server or client
        for sample in (metric + "_count", f"http_{side}_response_body_size_bytes_sum"):
            for labels, value in sorted(m.samples(sample), key=str):
                lines.append(f"  {sample}{labels} {value}")
    for name in ("sightline_events_total", "sightline_events_lost_total",
                 "sightline_parse_errors_total",
                 "sightline_http_requests_unanswered_total", "sightline_connections_total",
                 "sightline_stream_events_total", "sightline_payload_truncated_events_total"):
        for labels, value in sorted(m.samples(name), key=str):
            if value:
                lines.append(f"  {name}{labels} {value}")
    return "daemon has:\n" + "\n".join(lines)


def wait_exact(daemon: Daemon, expected: list[tuple[str, dict, float]],
               timeout: float = 10.0, settle: float = 1.0) -> Metrics:
    """Waits until every histogram `_count` in `expected` reaches its value, then
    `settle` seconds more, and asserts each is exactly its value (no over-count)."""
    seen: dict = {}

    def reached():
        m = daemon.metrics()
        ok = True
        for metric, labels, want in expected:
            got = m.count(metric, **labels)
            seen[(metric, tuple(sorted(labels.items())))] = got
            ok = ok and got >= want
        return m if ok else None

    try:
        wait_for(reached, timeout=timeout, message="histogram counts")
    except TimeoutError:
        raise AssertionError(f"counts not reached within {timeout}s: seen {seen}, "
                             f"expected {expected}\n{diagnostics(daemon, expected)}") from None
    time.sleep(settle)
    final = daemon.metrics()
    got = [(metric, labels, final.count(metric, **labels)) for metric, labels, _ in expected]
    assert got == expected, "counts after settling differ from expected (over-count?)"
    return final


# ---------------------------------------------------------------------------
# Booked tables: what the daemon has per label key, for one service and side

# side -> (duration histogram, request body histogram, response body histogram)
SIDE_METRICS = {
    "server": (SERVER, SERVER_REQ_BODY, SERVER_RESP_BODY),
    "client": (CLIENT, CLIENT_REQ_BODY, CLIENT_RESP_BODY),
}
# side -> the labels a booked() key is made of (service_name aside)
SIDE_LABELS = {
    "server": ("http_request_method", "http_response_status_code", "http_route"),
    "client": ("http_request_method", "http_response_status_code", "server_address",
               "server_port"),
}


def keyed(m: Metrics, sample: str, service: str, names: Sequence[str]) -> dict:
    """The samples named `sample` of `service`, summed per tuple of the `names` labels."""
    out: dict = {}
    for labels, value in m.samples(sample, service_name=service):
        key = tuple(labels.get(n, "") for n in names)
        out[key] = out.get(key, 0) + value
    return out


def booked(m: Metrics, service: str, side: str, body_counts: bool = True) -> dict:
    """key -> (count, request body sum, response body sum) as the daemon has it for
    `service` on `side` ("server" or "client"; keys per SIDE_LABELS). With
    `body_counts`, asserts that the body histograms hold one observation per
    request, like the duration histogram."""
    dur, req, resp = SIDE_METRICS[side]
    names = SIDE_LABELS[side]
    counts = keyed(m, dur + "_count", service, names)
    if body_counts:
        for hist in (req, resp):
            other = keyed(m, hist + "_count", service, names)
            assert other == counts, f"{service}: {hist} counts {other} != {dur} counts {counts}"
    req_sum = keyed(m, req + "_sum", service, names)
    resp_sum = keyed(m, resp + "_sum", service, names)
    return {k: (n, req_sum.get(k, 0), resp_sum.get(k, 0)) for k, n in counts.items()}


def service_names(m: Metrics, side: str) -> dict[str, float]:
    """service_name -> requests booked on `side`, for every name the daemon has."""
    out: dict[str, float] = {}
    for labels, value in m.samples(SIDE_METRICS[side][0] + "_count"):
        out[labels["service_name"]] = out.get(labels["service_name"], 0) + value
    return out


# ---------------------------------------------------------------------------
# TLS fixtures: certificate, nginx over TLS, the Go crypto/tls binary and the
# HTTPS clients (https_client.py, node_https_client.js, go_tls client, curl).

__all__ += [
    "build_go_tls", "https_url", "make_tls_cert", "run_curl_https", "run_go_tls_client",
    "run_https_client", "run_node_https_client", "start_go_tls_server", "start_nginx_tls",
]

import json as _json  # noqa: E402 - used by the TLS helpers only

NODE = "/usr/bin/node"


def make_tls_cert(cert_dir: Path) -> Path:
    """tls_cert.sh: a self-signed EC certificate for localhost / 127.0.0.1 in
    cert_dir (cert.pem, key.pem); returns cert_dir."""
    cert_dir = Path(cert_dir)
    run_client(["bash", str(FIXTURES / "tls_cert.sh"), str(cert_dir)], timeout=60)
    return cert_dir


def https_url(port: int, host: str = "localhost") -> str:
    """https://<host>:<port>; the certificate names localhost and 127.0.0.1."""
    return f"https://{host}:{port}"


def start_nginx_tls(work_dir: Path, cert_dir: Path, port: Optional[int] = None,
                    h2_port: Optional[int] = None, service_name: Optional[str] = None,
                    **kw) -> Fixture:
    """nginx from nginx_conf.sh --tls: HTTP/1.1 over TLS on `port`, and with
    `h2_port` HTTP/2 over TLS there too. The fixture's h2_port attribute is that
    port (or None); its url stays http://, use https_url(fixture.port)."""
    port = port or free_port()
    argv = ["bash", str(FIXTURES / "nginx_conf.sh"), str(work_dir), str(port),
            "--tls", str(cert_dir)]
    if h2_port is not None:
        argv += ["--h2-port", str(h2_port)]
    fixture = start_fixture(argv + ["--run"], port, service_name=service_name,
                            name="nginx_tls", **kw)
    fixture.h2_port = h2_port
    return fixture


def build_go_tls(out_dir: Path, stripped: bool = False) -> Path:
    """Builds tests/fixtures/go_tls into out_dir (offline, caches under out_dir);
    `stripped` links with -s -w (no symbol table, no DWARF)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / ("go_tls_stripped" if stripped else "go_tls")
    if binary.exists():
        return binary
    env = dict(os.environ, GOCACHE=str(out_dir / "gocache"), GOPATH=str(out_dir / "gopath"),
               GOPROXY="off", GOFLAGS="", GOTOOLCHAIN="local", CGO_ENABLED="0")
    argv = ["go", "build", "-o", str(binary)]
    if stripped:
        argv.append("-ldflags=-s -w")
    proc = subprocess.run(argv + ["main.go"], cwd=FIXTURES / "go_tls", env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"go build failed:\n{proc.stdout}{proc.stderr}")
    return binary


def start_go_tls_server(binary: Path, cert_dir: Path, port: Optional[int] = None,
                        service_name: Optional[str] = None, h2: bool = False,
                        **kw) -> Fixture:
    """The go_tls server: HTTP/1.1 only, or with `h2` net/http's HTTP/2."""
    port = port or free_port()
    cert_dir = Path(cert_dir)
    return start_fixture([str(binary), "h2server" if h2 else "server", str(port),
                          str(cert_dir / "cert.pem"), str(cert_dir / "key.pem")], port,
                         service_name=service_name, name=Path(binary).name, **kw)


def _run_json_client(argv: Sequence[str], service_name: Optional[str],
                     env: Optional[Mapping[str, str]] = None, timeout: float = 60.0) -> dict:
    """Runs a client that prints one JSON summary line; raises with its output
    when it exits non-zero."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          env=client_env(service_name, env), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"client exited {proc.returncode}: {list(argv)}\n"
                           f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return _json.loads(proc.stdout.strip().splitlines()[-1])


def _request_args(count: int, paths: Iterable[str], method: str,
                  body: Optional[str]) -> list[str]:
    args = ["--count", str(count), "--method", method]
    for path in paths:
        args += ["--path", path]
    if body is not None:
        args += ["--body", body]
    return args


def run_https_client(url: str, cert_dir: Path, count: int, paths: Iterable[str] = ("/",),
                     service_name: Optional[str] = None, method: str = "GET",
                     body: Optional[str] = None, connections: int = 1,
                     linger: float = 0.0) -> dict:
    """https_client.py (Debian python3, system libssl): its JSON summary."""
    argv = [PYTHON, str(FIXTURES / "https_client.py"), url, "--cafile",
            str(Path(cert_dir) / "cert.pem"), "--connections", str(connections),
            "--linger", str(linger), *_request_args(count, paths, method, body)]
    return _run_json_client(argv, service_name)


def run_node_https_client(mode: str, url: str, cert_dir: Path, count: int,
                          paths: Iterable[str] = ("/",), service_name: Optional[str] = None,
                          method: str = "GET", body: Optional[str] = None,
                          delay: float = 1.5, linger: float = 0.0) -> dict:
    """node_https_client.js in `mode` (https or fetch): its JSON summary.
    NODE_EXTRA_CA_CERTS names the certificate (fetch trusts it that way)."""
    cert = str(Path(cert_dir) / "cert.pem")
    argv = [NODE, str(FIXTURES / "node_https_client.js"), mode, url, "--cafile", cert,
            "--delay", str(delay), "--linger", str(linger),
            *_request_args(count, paths, method, body)]
    return _run_json_client(argv, service_name, env={"NODE_EXTRA_CA_CERTS": cert})


def run_go_tls_client(binary: Path, url: str, cert_dir: Path, count: int,
                      paths: Iterable[str] = ("/",), service_name: Optional[str] = None,
                      method: str = "GET", body: Optional[str] = None, h2: bool = False,
                      connections: int = 1, delay: float = 1.5, linger: float = 0.0) -> dict:
    """The go_tls client (HTTP/1.1 only, or with `h2` HTTP/2): its JSON summary."""
    argv = [str(binary), "h2client" if h2 else "client", "--cafile",
            str(Path(cert_dir) / "cert.pem"), "--connections", str(connections),
            "--delay", str(delay), "--linger", str(linger),
            *_request_args(count, paths, method, body), url]
    return _run_json_client(argv, service_name)


def run_curl_https(urls: Sequence[str], cert_dir: Path, service_name: Optional[str] = None,
                   http2: bool = False) -> list[tuple[int, int, str, int]]:
    """One curl process fetching `urls` in order (one connection per host:port,
    kept alive), trusting only the test certificate. Returns per URL (status,
    body bytes, HTTP version, connections curl opened for it)."""
    argv = ["curl", "-sS", "--cacert", str(Path(cert_dir) / "cert.pem"),
            "--http2" if http2 else "--http1.1",
            "-w", "%{http_code} %{size_download} %{http_version} %{num_connects}\\n"]
    for url in urls:
        argv += ["-o", os.devnull, url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env=client_env(service_name, None), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"curl exited {proc.returncode}: {argv}\n{proc.stdout}{proc.stderr}")
    out = []
    for line in proc.stdout.splitlines():
        status, size, version, connects = line.split()
        out.append((int(status), int(size), version, int(connects)))
    return out


# ---------------------------------------------------------------------------
# GenAI fixtures (tests/fixtures/genai): the mock provider, the official SDKs
# (sdk_client.js), raw http.client requests (raw_client.py), and a network
# namespace in which the providers' real host names resolve to the mock.

__all__ += [
    "GENAI", "GENAI_HOSTS", "GenaiNetns", "genai_sdks_missing", "genai_served",
    "make_genai_cert", "run_genai_raw", "run_genai_sdk", "start_genai_mock",
]

GENAI = FIXTURES / "genai"
# Names the certificate covers and GenaiNetns resolves to its loopback.
GENAI_HOSTS = ("api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com",
               "sightline-test.openai.azure.com")


def make_genai_cert(cert_dir: Path) -> Path:
    """genai_cert.sh: a self-signed certificate for localhost, 127.0.0.1 and
    GENAI_HOSTS (cert.pem, key.pem in cert_dir); returns cert_dir."""
    cert_dir = Path(cert_dir)
    run_client(["bash", str(GENAI / "genai_cert.sh"), str(cert_dir)], timeout=60)
    return cert_dir


def genai_sdks_missing() -> Optional[str]:
    """Why sdk_client.js cannot run (scripts/genai-fixtures.sh not run), or None."""
    for package in ("openai", "@anthropic-ai/sdk", "@google/genai"):
        if not (GENAI / "node_modules" / package / "package.json").exists():
            return (f"{package} is not installed in {GENAI / 'node_modules'}: "
                    f"run scripts/genai-fixtures.sh")
    return None


class GenaiNetns:
    """A network namespace of the test's own (only loopback, up) where GENAI_HOSTS
    resolve to 127.0.0.1: wrap(argv) runs a command in it with a hosts file of its
    own bind-mounted over /etc/hosts in a private mount namespace, so the
    machine's resolver is never touched. Use as a context manager."""

    def __init__(self, work_dir: Path, name: Optional[str] = None,
                 hosts: Sequence[str] = GENAI_HOSTS):
        self.name = name or f"sl-genai-{os.getpid()}"
        self.path = f"/run/netns/{self.name}"
        self.hosts_file = Path(work_dir) / f"{self.name}.hosts"
        self.hosts = tuple(hosts)

    def create(self) -> "GenaiNetns":
        self.hosts_file.parent.mkdir(parents=True, exist_ok=True)
        self.hosts_file.write_text("127.0.0.1 localhost\n::1 localhost\n"
                                   f"127.0.0.1 {' '.join(self.hosts)}\n")
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
        for argv in (["ip", "netns", "add", self.name],
                     ["ip", "-n", self.name, "link", "set", "lo", "up"]):
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if proc.returncode != 0:
                raise RuntimeError(f"{argv} failed: {proc.stderr}")
        return self

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv run inside the namespace, with the namespace's /etc/hosts. One
        process throughout (unshare, sh and nsenter each exec the next), so a
        signal to it reaches the command."""
        script = 'mount --bind "$0" /etc/hosts && ns=$1 && shift && exec nsenter --net="$ns" -- "$@"'
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                str(self.hosts_file), self.path, *map(str, argv)]

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=30)

    def __enter__(self) -> "GenaiNetns":
        return self.create()

    def __exit__(self, *exc) -> None:
        self.delete()


def start_genai_mock(cert_dir: Path, port: Optional[int] = None,
                     service_name: Optional[str] = "genai-mock",
                     netns: Optional[GenaiNetns] = None, **kw) -> Fixture:
    """mock_provider.js on 127.0.0.1:`port` (in `netns`: its loopback, port 443 by
    default). genai_served(fixture) lists the requests it answered."""
    port = port or (443 if netns else free_port())
    cert_dir = Path(cert_dir)
    argv = [NODE, str(GENAI / "mock_provider.js"), str(port), "--cert",
            str(cert_dir / "cert.pem"), "--key", str(cert_dir / "key.pem")]
    if netns is not None:
        argv = netns.wrap(argv)
    return start_fixture(argv, port, service_name=service_name,
                         name="genai_mock_netns" if netns else "genai_mock", **kw)


def genai_served(mock: Fixture) -> list[dict]:
    """The requests the mock has answered so far (its {"served": ...} lines)."""
    out = []
    for line in list(mock._lines):
        if line.startswith('{"served"'):
            out.append(_json.loads(line)["served"])
    return out


def run_genai_sdk(plan: Sequence[Mapping], cert_dir: Path, *, base_url: Optional[str] = None,
                  netns: Optional[GenaiNetns] = None, service_name: Optional[str] = None,
                  delay: float = 1.5, warmup: bool = True, check: bool = True,
                  timeout: float = 120.0) -> dict:
    """sdk_client.js: the official SDKs make the calls of `plan` against the mock,
    through `base_url`, or (with `netns`) under the providers' real host names,
    after `delay` seconds and (with `warmup`) a stream from the mock's non-AI
    warm-up route, so the first timed call does not carry node's cold start.
    Returns its JSON summary; with `check`, raises unless every call came out as
    expected (exit 0)."""
    if (base_url is None) == (netns is None):
        raise ValueError("give one of base_url and netns")
    argv = [NODE, str(GENAI / "sdk_client.js")]
    argv += ["--real-hosts"] if netns else ["--base-url", base_url]
    argv += ["--plan", _json.dumps(list(plan)), "--delay", str(delay)]
    if warmup:
        argv.append("--warmup")
    if netns is not None:
        argv = netns.wrap(argv)
    env = {"NODE_EXTRA_CA_CERTS": str(Path(cert_dir) / "cert.pem")}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=client_env(service_name, env), stdin=subprocess.DEVNULL)
    lines = proc.stdout.strip().splitlines()
    if (check and proc.returncode != 0) or not lines:
        raise RuntimeError(f"sdk_client exited {proc.returncode}\nstdout: {proc.stdout}\n"
                           f"stderr: {proc.stderr[-3000:]}")
    return _json.loads(lines[-1])


def run_genai_raw(base_url: str, cert_dir: Path, plan: Sequence[Mapping],
                  service_name: Optional[str] = None, delay: float = 0.0) -> dict:
    """raw_client.py (Debian python3, system libssl): the requests of `plan` on one
    keep-alive connection; its JSON summary. Raises unless every response was
    complete with its expected status."""
    argv = [PYTHON, str(GENAI / "raw_client.py"), base_url, "--cafile",
            str(Path(cert_dir) / "cert.pem"), "--plan", _json.dumps(list(plan)),
            "--delay", str(delay)]
    return _run_json_client(argv, service_name)
