"""Kubernetes workload metadata and the DaemonSet's view of the host.

The metadata tests run the daemon against tests/fixtures/k8s_api.py, an HTTPS
stand-in for the API server serving recorded pods and owners, with a bearer
token and CA file as the in-cluster configuration lays them out. Real
processes (Python's http.server, curl) run in cgroups named the way the
kubelet and containerd name a pod's container, so the daemon reads their
container ids from /proc/<pid>/cgroup exactly as on a node.

The DaemonSet test runs the daemon in its own mount and pid namespaces with
the host's /proc bind-mounted elsewhere (--proc-root), as the manifest does.

Every daemon here follows only this test's ports (--ports), so counts are
exact whatever else runs on the machine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import harness
from harness import CLIENT, PYTHON, SERVER, FIXTURES

K8S_API = FIXTURES / "k8s_api.py"


# ---------------------------------------------------------------------------
# Fake containers: real cgroups with the kubelet's names


def _cgroup2_root() -> Path | None:
    """A writable cgroup v2 mount: /sys/fs/cgroup on a unified host, else the
    hybrid layout's unified hierarchy."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        if fields[sep + 1] == "cgroup2" and os.access(fields[4], os.W_OK):
            return Path(fields[4])
    return None


def _cgroup1_named_root() -> Path | None:
    """cgroup v1's name=systemd hierarchy (no controller: any process may move)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        if fields[sep + 1] == "cgroup" and "name=systemd" in fields[sep + 3]:
            return Path(fields[4])
    return None


class FakeContainer:
    """A container's cgroup: on cgroup v2 the systemd driver's
    kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/
    cri-containerd-<id>.scope, on a v1-only host the cgroupfs driver's
    kubepods/besteffort/pod<uid>/<id> in the name=systemd hierarchy. Both under
    a parent of this test's own, removed afterwards."""

    def __init__(self, pod_uid: str, container_id: str):
        self.pod_uid = pod_uid
        self.container_id = container_id
        top = f"sightline-test-{os.getpid()}-{secrets.token_hex(3)}"
        root = _cgroup2_root()
        if root is not None:
            uid_ = pod_uid.replace("-", "_")
            self.top = root / f"{top}.slice"
            self.dir = (self.top / "kubepods.slice" / "kubepods-besteffort.slice" /
                        f"kubepods-besteffort-pod{uid_}.slice" /
                        f"cri-containerd-{container_id}.scope")
        else:
            root = _cgroup1_named_root()
            if root is None:
                pytest.fail("no writable cgroup hierarchy to place a process in")
            self.top = root / top
            self.dir = self.top / "kubepods" / "besteffort" / f"pod{pod_uid}" / container_id
        self.dir.mkdir(parents=True)

    def wrap(self, argv) -> list[str]:
        """argv run inside the container's cgroup (the shell moves itself, then execs)."""
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.dir / "cgroup.procs"),
                *map(str, argv)]

    def remove(self) -> None:
        # Deepest first; a cgroup goes once its processes have exited. The
        # fixture stops them first; one still there after 2 s is killed.
        for attempt in range(50):
            if attempt == 20:
                procs = self.dir / "cgroup.procs"
                for pid in (procs.read_text().split() if procs.exists() else []):
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            try:
                d = self.dir
                while d != self.top.parent:
                    d.rmdir()
                    d = d.parent
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


@pytest.fixture
def containers():
    made: list[FakeContainer] = []

    def make(pod_uid: str, container_id: str) -> FakeContainer:
        c = FakeContainer(pod_uid, container_id)
        made.append(c)
        return c

    yield make
    for c in made:
        c.remove()


# ---------------------------------------------------------------------------
# Recorded API objects


def _pod(name, namespace, uid, node, owner, containers, labels=None) -> dict:
    meta = {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": "4471003",
            "creationTimestamp": "2026-11-24T02:00:04Z", "labels": labels or {}}
    if owner:
        kind, owner_name = owner
        meta["ownerReferences"] = [{
            "apiVersion": "apps/v1" if kind != "Job" else "batch/v1", "kind": kind,
            "name": owner_name, "uid": str(uuid.uuid4()), "controller": True,
            "blockOwnerDeletion": True}]
    return {
        "metadata": meta,
        "spec": {"nodeName": node,
                 "containers": [{"name": c, "image": f"registry.example.com/{c}:1.0"}
                                for c, _ in containers]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": c, "ready": True, "restartCount": 0, "started": True,
             "containerID": f"containerd://{cid}",
             "state": {"running": {"startedAt": "2026-11-24T02:00:09Z"}}}
            for c, cid in containers]},
    }


def _owned(kind, name, namespace, owner_kind, owner_name) -> dict:
    return {"kind": kind, "apiVersion": "apps/v1" if kind == "ReplicaSet" else "batch/v1",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                         "ownerReferences": [{"kind": owner_kind, "name": owner_name,
                                              "uid": str(uuid.uuid4()), "controller": True}]}}


class Cluster:
    """The recorded cluster of a test: a node, two pods on it (a Deployment's
    server, a CronJob's client), one on another node, and the owners."""

    def __init__(self, work: Path):
        tag = secrets.token_hex(3)
        self.node = f"node-{tag}"
        self.namespace = f"shop-{tag}"
        self.deployment = f"checkout-{tag}"
        self.cronjob = f"nightly-report-{tag}"
        self.replicaset = f"{self.deployment}-7d9f8b6c5"
        self.job = f"{self.cronjob}-29410560"
        self.server_pod = f"{self.replicaset}-x2x9k"
        self.client_pod = f"{self.job}-7tq4m"
        self.server_uid, self.client_uid = str(uuid.uuid4()), str(uuid.uuid4())
        self.server_id, self.client_id = secrets.token_hex(32), secrets.token_hex(32)
        pods = [
            _pod(self.server_pod, self.namespace, self.server_uid, self.node,
                 ("ReplicaSet", self.replicaset),
                 [("app", self.server_id), ("envoy", secrets.token_hex(32))],
                 {"app": "checkout", "pod-template-hash": "7d9f8b6c5"}),
            _pod(self.client_pod, self.namespace, self.client_uid, self.node,
                 ("Job", self.job), [("report", self.client_id)],
                 {"job-name": self.job}),
            # Another node's pod claims the client's container id: listed, it
            # would rename the client.
            _pod("intruder-0", self.namespace, str(uuid.uuid4()), "node-elsewhere",
                 ("StatefulSet", "intruder"), [("intruder", self.client_id)]),
        ]
        self.rs_path = f"/apis/apps/v1/namespaces/{self.namespace}/replicasets/{self.replicaset}"
        self.job_path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs/{self.job}"
        objects = {
            self.rs_path: _owned("ReplicaSet", self.replicaset, self.namespace, "Deployment",
                                 self.deployment),
            self.job_path: _owned("Job", self.job, self.namespace, "CronJob", self.cronjob),
        }
        self.objects_file = work / "objects.json"
        self.objects_file.write_text(json.dumps({"pods": pods, "objects": objects}))
        self.token = secrets.token_urlsafe(24)
        self.token_file = work / "token"
        self.token_file.write_text(self.token + "\n")


def start_api(cluster: Cluster, cert_dir: Path) -> harness.Fixture:
    port = harness.free_port()
    return harness.start_fixture(
        [PYTHON, str(K8S_API), str(port), "--cert", str(cert_dir / "cert.pem"), "--key",
         str(cert_dir / "key.pem"), "--token-file", str(cluster.token_file), "--node",
         cluster.node, "--objects", str(cluster.objects_file)], port, name="k8s_api")


def api_requests(api: harness.Fixture) -> list[tuple[str, int]]:
    out = []
    for line in list(api._lines):
        if line.startswith('{"request"'):
            d = json.loads(line)
            out.append((d["request"], d["status"]))
    return out


@pytest.fixture
def daemons():
    """start(*args, env=...): a daemon of this test's own, stopped (exit 0) at teardown."""
    started: list[harness.Daemon] = []

    def start(*args: str, env=None) -> harness.Daemon:
        base = {k: v for k, v in os.environ.items()
                if k not in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}
        base.update(env or {})
        d = harness.start_daemon(*args, env=base)
        started.append(d)
        return d

    yield start
    for d in started:
        code = d.stop()
        assert code == 0, f"daemon exited with {code}:\n{d.stderr_text()[-3000:]}"


def run_curl(argv_prefix, urls, service_name=None) -> list[int]:
    """One curl process fetching `urls` (keep-alive), run through argv_prefix."""
    argv = ["curl", "-sS", "--http1.1", "-w", "%{http_code}\\n"]
    for url in urls:
        argv += ["-o", os.devnull, url]
    proc = subprocess.run(argv_prefix(argv), capture_output=True, text=True, timeout=60,
                          env=harness.client_env(service_name), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return [int(s) for s in proc.stdout.split()]


def wait_pods(d: harness.Daemon, n: int) -> None:
    harness.wait_for(lambda: d.metrics().total("sightline_k8s_pods") == n, timeout=10,
                     message=f"sightline_k8s_pods == {n}")


def info_series(m: harness.Metrics) -> list[dict]:
    return sorted((labels for labels, v in m.samples("sightline_k8s_workload_info") if v == 1),
                  key=lambda l: l["service_name"])


def identities(m, metric: str) -> dict[tuple, float]:
    """(service_name, k8s_namespace_name, k8s_pod_name, k8s_container_name) ->
    sum of `metric` over its series; a label the series lacks reads None."""
    out: dict[tuple, float] = {}
    for labels, value in m.samples(metric):
        key = tuple(labels.get(n) for n in ("service_name", "k8s_namespace_name",
                                              "k8s_pod_name", "k8s_container_name"))
        out[key] = out.get(key, 0) + value
    return out


def k8s_args(cluster: Cluster, api_url: str, cert_dir: Path) -> list[str]:
    return ["--k8s-api-url", api_url, "--k8s-token-file", str(cluster.token_file),
            "--k8s-ca-file", str(cert_dir / "cert.pem")]


# ---------------------------------------------------------------------------


def test_workload_names_from_the_api(privileged, containers, daemons, servers, tls_cert,
                                     tmp_path):
    cluster = Cluster(tmp_path)
    api = servers(start_api(cluster, tls_cert))
    port = harness.free_port()
    d = daemons("--ports", str(port),
                *k8s_args(cluster, f"https://127.0.0.1:{api.port}", tls_cert),
                env={"NODE_NAME": cluster.node})
    wait_pods(d, 2)  # this node's two; the other node's pod is not listed

    server_box = containers(cluster.server_uid, cluster.server_id)
    client_box = containers(cluster.client_uid, cluster.client_id)
    server = servers(harness.start_fixture(
        server_box.wrap([PYTHON, FIXTURES / "python_server.py", port]), port,
        name="python_server"))
    paths = ["/ok", "/ok?page=2", "/bad", "/ok", "/boom"]
    statuses = run_curl(client_box.wrap, [f"{server.url}{p}" for p in paths])
    assert statuses == [200, 200, 400, 200, 500]

    m = harness.wait_exact(d, [(SERVER, {"service_name": cluster.deployment}, 5),
                               (CLIENT, {"service_name": cluster.cronjob}, 5)])
    # Nothing under the executables' names: every request carries the workload.
    assert harness.service_names(m, "server") == {cluster.deployment: 5}
    assert harness.service_names(m, "client") == {cluster.cronjob: 5}
    # Every series names the namespace and container it comes from (the pod
    # only with --k8s-pod-label).
    ns = cluster.namespace
    assert identities(m, SERVER + "_count") == {(cluster.deployment, ns, None, "app"): 5}
    assert identities(m, CLIENT + "_count") == {(cluster.cronjob, ns, None, "report"): 5}
    # TCP health (read once a second) names them the same way.
    workloads = {(cluster.deployment, ns, None, "app"), (cluster.cronjob, ns, None, "report")}
    harness.wait_for(lambda: workloads <= set(identities(d.metrics(),
                                                         "tcp_connections_opened_total")),
                     timeout=10, message="TCP series with the pods' labels")
    assert {k for k in identities(d.metrics(), "tcp_connections_opened_total")
            if k[0] in (cluster.deployment, cluster.cronjob)} == workloads
    assert info_series(m) == [
        {"service_name": cluster.deployment, "k8s_namespace_name": cluster.namespace,
         "k8s_workload_kind": "Deployment", "k8s_workload_name": cluster.deployment,
         "k8s_pod_name": cluster.server_pod, "k8s_container_name": "app"},
        {"service_name": cluster.cronjob, "k8s_namespace_name": cluster.namespace,
         "k8s_workload_kind": "CronJob", "k8s_workload_name": cluster.cronjob,
         "k8s_pod_name": cluster.client_pod, "k8s_container_name": "report"},
    ]
    assert m.total("sightline_k8s_api_errors_total") == 0
    # The list asked for this node only; each owner was fetched once and cached.
    reqs = api_requests(api)
    lists = [r for r in reqs if r[0].startswith("/api/v1/pods")]
    assert lists and all(
        r == (f"/api/v1/pods?fieldSelector=spec.nodeName%3D{cluster.node}&resourceVersion=0",
              200) for r in lists), lists
    assert reqs.count((cluster.rs_path, 200)) == 1
    assert reqs.count((cluster.job_path, 200)) == 1
    assert len(reqs) == len(lists) + 2, reqs


def test_alerts_name_the_namespace_and_container(privileged, containers, daemons, servers,
                                                 tls_cert, tmp_path):
    cluster = Cluster(tmp_path)
    api = servers(start_api(cluster, tls_cert))
    port = harness.free_port()
    rules = tmp_path / "alerts.yaml"
    rules.write_text(f"""defaults: false
rules:
  - name: WorkloadErrors
    metric_name: http_error_rate
    warning_value: 0.1
    duration_seconds: 0
    window_seconds: 60
    min_requests: 5
    service: {cluster.deployment}
""")
    d = daemons("--ports", str(port), "--alert-rules", str(rules),
                *k8s_args(cluster, f"https://127.0.0.1:{api.port}", tls_cert),
                env={"NODE_NAME": cluster.node})
    wait_pods(d, 2)
    server_box = containers(cluster.server_uid, cluster.server_id)
    client_box = containers(cluster.client_uid, cluster.client_id)
    server = servers(harness.start_fixture(
        server_box.wrap([PYTHON, FIXTURES / "python_server.py", port]), port,
        name="python_server"))
    paths = ["/ok", "/boom", "/ok", "/boom", "/ok"]
    assert run_curl(client_box.wrap, [f"{server.url}{p}" for p in paths]) == [200, 500, 200, 500, 200]

    def firing():
        return [labels for labels, v in d.metrics().samples("sightline_alerts_firing") if v == 1]
    alerts = harness.wait_for(firing, timeout=10, message="the alert fires")
    # 2 of 5 answered 5xx in the Deployment's container: one alert, naming where it runs.
    assert alerts == [{"alertname": "WorkloadErrors", "severity": "warning",
                       "service_name": cluster.deployment,
                       "k8s_namespace_name": cluster.namespace, "k8s_container_name": "app"}]


def test_otel_service_name_wins_over_the_workload(privileged, containers, daemons, servers,
                                                  tls_cert, tmp_path, service_name):
    cluster = Cluster(tmp_path)
    api = servers(start_api(cluster, tls_cert))
    port = harness.free_port()
    d = daemons("--ports", str(port),
                *k8s_args(cluster, f"https://127.0.0.1:{api.port}", tls_cert), "--k8s-pod-label",
                env={"NODE_NAME": cluster.node})
    wait_pods(d, 2)
    box = containers(cluster.server_uid, cluster.server_id)
    server = servers(harness.start_fixture(
        box.wrap([PYTHON, FIXTURES / "python_server.py", port]), port,
        service_name=service_name, name="python_server"))
    assert run_curl(lambda a: a, [server.url + "/ok"] * 3, service_name="plain-curl") == [200] * 3
    m = harness.wait_exact(d, [(SERVER, {"service_name": service_name}, 3),
                               (CLIENT, {"service_name": "plain-curl"}, 3)])
    assert harness.service_names(m, "server") == {service_name: 3}
    # The OTEL name still carries where it runs, pod included (--k8s-pod-label);
    # the host's curl carries no k8s labels.
    assert identities(m, SERVER + "_count") == {
        (service_name, cluster.namespace, cluster.server_pod, "app"): 3}
    assert identities(m, CLIENT + "_count") == {("plain-curl", None, None, None): 3}
    # The info series joins the OTEL name to where it runs; the host curl has none.
    assert [(s["service_name"], s["k8s_workload_name"], s["k8s_container_name"])
            for s in info_series(m)] == [(service_name, cluster.deployment, "app")]


def _fallback_case(containers, daemons, servers, cluster, api_url, ca_dir, reason, needle):
    port = harness.free_port()
    d = daemons("--ports", str(port), *k8s_args(cluster, api_url, ca_dir),
                env={"NODE_NAME": cluster.node})
    harness.wait_for(lambda: d.metrics().total("sightline_k8s_api_errors_total",
                                               reason=reason) >= 1, timeout=10,
                     message=f"an API error counted as {reason}")
    server = servers(harness.start_python_server(port, service_name="fallback-server"))
    box = containers(cluster.client_uid, cluster.client_id)
    assert run_curl(box.wrap, [server.url + "/ok"] * 4) == [200] * 4
    # The container's process is named by its executable, not lost.
    m = harness.wait_exact(d, [(CLIENT, {"service_name": "curl"}, 4),
                               (SERVER, {"service_name": "fallback-server"}, 4)])
    assert harness.service_names(m, "client") == {"curl": 4}
    assert info_series(m) == []
    assert m.total("sightline_k8s_pods") == 0
    assert d.alive() and d.healthz() == 200
    # One clear line, not one per attempt (the unknown container asked for more).
    lines = [l for l in d.stderr_text().splitlines() if "Kubernetes API" in l and needle in l]
    assert len(lines) == 1, d.stderr_text()[-3000:]
    return m


def test_api_unreachable_falls_back_to_executable_names(privileged, containers, daemons,
                                                        servers, tls_cert, tmp_path):
    cluster = Cluster(tmp_path)
    closed = harness.free_port()  # nothing listens there
    _fallback_case(containers, daemons, servers, cluster, f"https://127.0.0.1:{closed}",
                   tls_cert, "connect", "(connect:")


def test_api_refusing_the_token_falls_back(privileged, containers, daemons, servers, tls_cert,
                                           tmp_path):
    cluster = Cluster(tmp_path)
    api = servers(start_api(cluster, tls_cert))
    cluster.token_file.write_text("not-the-token\n")
    _fallback_case(containers, daemons, servers, cluster, f"https://127.0.0.1:{api.port}",
                   tls_cert, "unauthorized", "HTTP 401")
    assert {s for _, s in api_requests(api)} == {401}


def test_no_cluster_no_metadata(privileged, daemons):
    d = daemons()
    m = d.metrics()
    assert m.samples("sightline_k8s_pods") == []
    assert "Kubernetes metadata" not in d.stderr_text()


# ---------------------------------------------------------------------------
# DaemonSet simulation


def _start_in_namespaces(tmp_path: Path, port: int, *args: str) -> harness.Daemon:
    """The daemon in a mount and a pid namespace of its own, the host's /proc
    bind-mounted at <tmp>/host/proc first (as the DaemonSet mounts it)."""
    host_proc = tmp_path / "host" / "proc"
    host_proc.mkdir(parents=True)
    wrapper = tmp_path / "sightline-in-namespaces"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Host /proc first, then a pid namespace whose own /proc covers /proc.\n"
        f"exec unshare --mount --propagation private -- sh -c "
        f"'mount --bind /proc \"$0\" && exec unshare --mount --pid --fork --mount-proc -- "
        f"\"$@\"' {host_proc} {harness.daemon_binary()} --proc-root {host_proc} \"$@\"\n")
    wrapper.chmod(0o755)
    return harness.start_daemon(*args, port=port, binary=wrapper)


def _stop_group(d: harness.Daemon) -> int:
    """SIGTERM to the whole group: unshare's waiting parent ignores it, the
    daemon (pid 1 of its namespace, with a handler) stops cleanly."""
    try:
        os.killpg(d.proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return d.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(d.proc.pid, signal.SIGKILL)
        d.proc.wait(timeout=5)
        return -9


def test_daemonset_view_of_the_host(privileged, servers, tmp_path, tls_cert, service_name):
    server_port, tls_port, port = harness.free_port(), harness.free_port(), harness.free_port()
    d = _start_in_namespaces(tmp_path, port, "--ports", f"{server_port},{tls_port},{port}")
    try:
        # It really is elsewhere: its own mount and pid namespaces, where it is pid 1.
        binary = os.path.realpath(harness.daemon_binary())
        pids = subprocess.run(["pgrep", "-f", "--", f"--listen 127.0.0.1:{port}"],
                              capture_output=True, text=True).stdout.split()
        daemon_pid = next(int(p) for p in pids
                          if os.path.realpath(f"/proc/{p}/exe") == binary)
        assert os.readlink(f"/proc/{daemon_pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
        assert os.readlink(f"/proc/{daemon_pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        status = Path(f"/proc/{daemon_pid}/status").read_text()
        assert re.search(r"^NSpid:\s+\d+\s+1$", status, re.M), status

        server_name, client_name, scraper = (f"{service_name}-srv", f"{service_name}-cli",
                                             f"{service_name}-scrape")
        server = servers(harness.start_python_server(server_port, service_name=server_name))
        tls = servers(harness.start_nginx_tls(tmp_path / "nginx", tls_cert, port=tls_port,
                                              service_name=f"{service_name}-tls"))
        assert run_curl(lambda a: a, [server.url + p for p in ("/ok", "/bad", "/boom")],
                        service_name=client_name) == [200, 400, 500]
        # Its own endpoint, fetched by curl: the client side is seen, and the
        # daemon's own server side must not be.
        assert run_curl(lambda a: a, [d.url + "/healthz"] * 2, service_name=scraper) == [200] * 2
        got = harness.run_curl_https([harness.https_url(tls_port)] * 2, tls_cert,
                                     service_name=f"{service_name}-tlscli")
        assert [g[0] for g in got] == [200, 200]
        m = harness.wait_exact(d, [
            (SERVER, {"service_name": server_name}, 3),
            (CLIENT, {"service_name": client_name}, 3),
            (CLIENT, {"service_name": scraper, "server_port": str(port)}, 2),
            (CLIENT, {"service_name": f"{service_name}-tlscli"}, 2),
        ], timeout=15)
        # No server series of the daemon itself (it would be "sightline").
        servers_seen = harness.service_names(m, "server")
        assert "sightline" not in servers_seen, servers_seen
        assert servers_seen.get(server_name) == 3
        assert harness.service_names(m, "client").get(client_name) == 3
    finally:
        code = _stop_group(d)
    assert code == 0, d.stderr_text()[-3000:]
