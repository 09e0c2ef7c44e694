"""The Helm chart (deploy/helm/sightline), rendered offline.

helm is not packaged in Debian, so the chart is rendered by
tests/deploy/helm_render, a small Go program built here from Debian's Go
packages (text/template, Sprig, ghodss/yaml) that mirrors Helm's template
engine; the first test pins that engine's behaviour on a chart of its own.

What the chart must give: with the defaults, the objects of the kustomize
privileged profile (deploy/kubernetes/rendered/privileged.yaml, Namespace
aside) field for field, the ConfigMap byte for byte; with
securityProfile=least-privilege those of least-privilege.yaml; with the
Prometheus Operator objects enabled those of monitoring.yaml. Helm's own
labels (helm.sh/chart, app.kubernetes.io/managed-by, instance, version) are
the only difference allowed. Every value lands where it should, a wrong
securityProfile fails the rendering, and every rendering is valid against the
Kubernetes schemas (npm kubernetes-models, as test_deploy.py uses them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import harness

sys.path.insert(0, str(harness.REPO / "tests" / "deploy"))

from manifests import one, validate  # noqa: E402

REPO = harness.REPO
CHART = REPO / "deploy" / "helm" / "sightline"
KUBE = REPO / "deploy" / "kubernetes"
RENDERER = REPO / "tests" / "deploy" / "helm_render"
GOPATH_DEBIAN = Path("/usr/share/gocode")
HELM_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
               "app.kubernetes.io/version"}
DEFAULT_ORDER = [("ServiceAccount", "serviceaccount.yaml"), ("Secret", "secret.yaml"),
                 ("ConfigMap", "configmap.yaml"), ("ClusterRole", "clusterrole.yaml"),
                 ("ClusterRoleBinding", "clusterrolebinding.yaml"), ("Service", "service.yaml"),
                 ("DaemonSet", "daemonset.yaml")]


def build_helm_render(out_dir: Path) -> Path:
    """Builds tests/deploy/helm_render offline in GOPATH mode from Debian's Go
    packages (scripts/setup.sh installs them)."""
    binary = out_dir / "helm_render"
    if binary.exists():
        return binary
    if not (GOPATH_DEBIAN / "src" / "github.com" / "Masterminds" / "sprig").is_dir():
        pytest.fail("Debian's Go packages for the Helm renderer are missing: run scripts/setup.sh")
    env = dict(os.environ, GO111MODULE="off", GOPATH=f"{GOPATH_DEBIAN}:{out_dir / 'gopath'}",
               GOCACHE=str(out_dir / "gocache"), GOFLAGS="", GOPROXY="off", GOTOOLCHAIN="local",
               CGO_ENABLED="0")
    proc = subprocess.run(["go", "build", "-o", str(binary), "main.go"], cwd=RENDERER, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"go build failed:\n{proc.stdout}{proc.stderr}"
    return binary


@pytest.fixture(scope="session")
def helm_render(tmp_path_factory):
    """run(*args, chart=CHART) -> CompletedProcess of the renderer, release
    `sightline` in namespace `sightline` unless the args say otherwise."""
    binary = build_helm_render(tmp_path_factory.mktemp("helm_render"))

    def run(*args: str, chart: Path = CHART, release: str = "sightline",
            namespace: str = "sightline") -> subprocess.CompletedProcess:
        return subprocess.run([str(binary), "--name", release, "-n", namespace, *args, str(chart)],
                              capture_output=True, text=True, timeout=60)
    return run


@pytest.fixture(scope="session")
def render(helm_render):
    """render(*args) -> the rendered objects (the rendering must succeed)."""
    def run(*args: str, **kw) -> list[dict]:
        proc = helm_render(*args, **kw)
        assert proc.returncode == 0, proc.stderr
        return [d for d in yaml.safe_load_all(proc.stdout) if d]
    return run


def kustomize(name: str) -> list[dict]:
    text = (KUBE / "rendered" / f"{name}.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d and d["kind"] != "Namespace"]


def without_helm_labels(node):
    """A copy without Helm's standard labels, wherever they are (object and pod
    template labels, selectors), and without the pod template's config checksum
    (annotations left empty go too)."""
    if isinstance(node, dict):
        out = {k: without_helm_labels(v) for k, v in node.items()
               if k not in HELM_LABELS and k != "checksum/config"}
        if out.get("annotations") == {} and "checksum/config" in node.get("annotations", {}):
            del out["annotations"]
        return out
    if isinstance(node, list):
        return [without_helm_labels(i) for i in node]
    return node


def config_checksum(objs: list[dict]) -> str:
    return one(objs, "DaemonSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def by_key(objs: list[dict]) -> dict:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def container(objs: list[dict]) -> dict:
    (c,) = one(objs, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    return c


# ---------------------------------------------------------------------------
# The renderer itself


def test_renderer_mirrors_helm_engine(helm_render, tmp_path):
    """The renderer's engine on a chart of its own: built-in objects, value
    merging and typing, Helm's functions, partials, NOTES.txt, empty documents,
    kind order and the output format."""
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "files" / "sub").mkdir(parents=True)
    (chart / "Chart.yaml").write_text('apiVersion: v2\nname: probe\nversion: 1.2.3\n'
                                      'appVersion: "4.5"\n')
    (chart / "values.yaml").write_text("a: {b: 1, c: keep, d: gone}\nbig: 1000000\n"
                                       "s: plain\nl: [x, y]\ntext: '{{ .Release.Name }}-t'\n")
    (chart / "files" / "one.txt").write_text("first\nsecond\n")
    (chart / "files" / "sub" / "two.txt").write_text("2")
    (chart / "templates" / "_defs.tpl").write_text(
        '{{- define "probe.x" -}}x={{ . }}{{- end }}\nthis partial is never emitted\n')
    (chart / "templates" / "NOTES.txt").write_text("notes of {{ .Release.Name }}\n")
    (chart / "templates" / "empty.yaml").write_text("{{- if false }}\nkind: Nope\n{{- end }}\n---\n")
    (chart / "templates" / "z.yaml").write_text("""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
data:
  release: {{ list .Release.Service .Release.IsInstall .Release.IsUpgrade .Release.Revision | toJson | quote }}
  chart: {{ list .Chart.Name .Chart.Version .Chart.AppVersion .Chart.APIVersion | toJson | quote }}
  caps: {{ list .Capabilities.KubeVersion.Version .Capabilities.KubeVersion.Major .Capabilities.KubeVersion.Minor (.Capabilities.APIVersions.Has "apps/v1") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") | toJson | quote }}
  values: {{ toJson .Values | quote }}
  missing: "[{{ .Values.nope }}][{{ .Values.a.nope }}]"
  include: {{ include "probe.x" 7 | quote }}
  tpl: {{ tpl .Values.text . | quote }}
  yaml: {{ toYaml .Values.a | fromYaml | toJson | quote }}
  json: {{ list (toJson .Values.a | fromJson) (toJson .Values.l | fromJsonArray) | toJson | quote }}
  lookup: {{ lookup "v1" "Pod" "ns" "name" | toJson | quote }}
  files: {{ list (.Files.Get "files/one.txt") (.Files.Lines "files/one.txt") | toJson | quote }}
  glob: "{{ range $path, $_ := .Files.Glob "files/*/*.txt" }}{{ $path }}{{ end }}"
  template: {{ list .Template.Name .Template.BasePath | toJson | quote }}
  sprig: {{ list (upper "a") (semverCompare ">=1.2" "1.3.0") (b64enc "hi") | toJson | quote }}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
""")
    (chart / "templates" / "a.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\n"
                                                "metadata: {name: sa}\n")
    (chart / "templates" / "m.yaml").write_text("apiVersion: example.com/v1\nkind: Zeta\n"
                                                "metadata: {name: z}\n---\n"
                                                "apiVersion: example.com/v1\nkind: Alpha\n"
                                                "metadata: {name: a}\n")
    values = tmp_path / "override.yaml"
    values.write_text("a: {c: fromfile, d: null}\nl: [z]\n")
    proc = helm_render("-f", str(values), "--set", "a.b=2,s=true,n=007,i=42,neg=-3",
                       "--set-string", "t=true", "--api-versions", "monitoring.coreos.com/v1",
                       "--kube-version", "v1.27.4", chart=chart, release="rel", namespace="ns")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # Kinds in Helm's install order, unknown kinds last by kind name; empty
    # documents, partials and NOTES.txt not emitted.
    assert re.findall(r"^# Source: (.*)\n(?:.*\n)*?kind: (\w+)", out, re.M) == [
        ("probe/templates/a.yaml", "ServiceAccount"), ("probe/templates/z.yaml", "ConfigMap"),
        ("probe/templates/z.yaml", "Service"), ("probe/templates/m.yaml", "Alpha"),
        ("probe/templates/m.yaml", "Zeta")]
    assert out.startswith("---\n# Source: probe/templates/a.yaml\napiVersion: v1\n")
    assert out.count("---\n") == 5 and "notes of" not in out and "partial" not in out
    data = one([d for d in yaml.safe_load_all(out) if d], "ConfigMap")["data"]
    assert json.loads(data["release"]) == ["Helm", True, False, 1]
    assert json.loads(data["chart"]) == ["probe", "1.2.3", "4.5", "v2"]
    assert json.loads(data["caps"]) == ["v1.27.4", "1", "27", True, True]
    # values.yaml, then -f (null deletes a default), then --set typed like Helm
    # (ints, bools, leading-zero strings), --set-string always strings.
    assert json.loads(data["values"]) == {
        "a": {"b": 2, "c": "fromfile"}, "big": 1000000, "s": True, "l": ["z"], "n": "007",
        "i": 42, "neg": -3, "t": "true", "text": "{{ .Release.Name }}-t"}
    assert data["missing"] == "[][]"
    assert data["include"] == "x=7"
    assert data["tpl"] == "rel-t"
    assert json.loads(data["yaml"]) == {"b": 2, "c": "fromfile"}
    assert json.loads(data["json"]) == [{"b": 2, "c": "fromfile"}, ["z"]]
    assert data["lookup"] == "{}"
    assert json.loads(data["files"]) == ["first\nsecond\n", ["first", "second"]]
    assert data["glob"] == "files/sub/two.txt"
    assert json.loads(data["template"]) == ["probe/templates/z.yaml", "probe/templates"]
    assert json.loads(data["sprig"]) == ["A", True, "aGk="]
    notes = helm_render("--notes", chart=chart, release="rel")
    assert notes.stdout.endswith("\nNOTES:\nnotes of rel\n"), notes.stdout

    # required, fail and the functions Helm removes from Sprig.
    (chart / "templates" / "z.yaml").write_text('{{ required "need .Values.x" .Values.x }}\n')
    proc = helm_render(chart=chart)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("Error: execution error at (probe/templates/z.yaml:1:3): "
                           "need .Values.x\n"), proc.stderr
    (chart / "templates" / "z.yaml").write_text('{{ if true }}{{ fail "stop here" }}{{ end }}\n')
    proc = helm_render(chart=chart)
    assert proc.returncode == 1
    assert proc.stderr == "Error: execution error at (probe/templates/z.yaml:1:16): stop here\n"
    (chart / "templates" / "z.yaml").write_text('{{ env "HOME" }}\n')
    proc = helm_render(chart=chart)
    assert proc.returncode == 1 and 'function "env" not defined' in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------
# The chart against the kustomize manifests


def test_chart_metadata():
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (meta["apiVersion"], meta["name"], meta["version"], meta["appVersion"]) == \
        ("v2", "sightline", "0.1.0", "0.1.0")
    assert not list(CHART.glob("templates/namespace*")), "the release namespace is used"


def test_chart_files_are_current():
    """render-manifests.py keeps the chart's copies of the ConfigMap's sources
    current (--check passes) and they are exactly those sources."""
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "render-manifests.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    copies = {str(p.relative_to(CHART / "files")): p.read_text()
              for p in sorted((CHART / "files").rglob("*")) if p.is_file()}
    sources = {"sightline.toml": KUBE / "base" / "sightline.toml",
               "pricing.json": KUBE / "base" / "pricing.json",
               "business-rules.yaml": REPO / "deploy" / "business" / "business-rules.yaml"}
    sources.update({f"alerts/{p.name}": p for p in (REPO / "deploy" / "alerts").glob("*.y*ml")})
    assert copies == {name: path.read_text() for name, path in sources.items()}


def test_stale_chart_files_reported():
    """--check names a chart copy whose source is gone; a run removes it."""
    script = [sys.executable, str(REPO / "scripts" / "render-manifests.py")]
    orphan = CHART / "files" / "alerts" / "removed-rules.yaml"
    orphan.write_text("rules: []\n")
    try:
        proc = subprocess.run(script + ["--check"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1
        assert proc.stderr.rstrip().endswith(": deploy/helm/sightline/files/alerts/removed-rules.yaml")
        proc = subprocess.run(script, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and not orphan.exists()
        assert proc.stdout == "render-manifests: removed deploy/helm/sightline/files/alerts/removed-rules.yaml\n"
    finally:
        orphan.unlink(missing_ok=True)


def test_default_render_equals_privileged_profile(helm_render):
    proc = helm_render()
    assert proc.returncode == 0, proc.stderr
    # helm template's format: each document under the template it came from,
    # in Helm's install order.
    sources = re.findall(r"^---\n# Source: (.*)\n", proc.stdout, re.M)
    assert sources == [f"sightline/templates/{f}" for _, f in DEFAULT_ORDER]
    objs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert [o["kind"] for o in objs] == [k for k, _ in DEFAULT_ORDER]
    for obj in objs:
        assert obj["metadata"]["labels"] == {
            "helm.sh/chart": "sightline-0.1.0", "app.kubernetes.io/name": "sightline",
            "app.kubernetes.io/instance": "sightline", "app.kubernetes.io/version": "0.1.0",
            "app.kubernetes.io/managed-by": "Helm"}, obj["kind"]
    ds = one(objs, "DaemonSet")
    assert ds["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "sightline",
                                                     "app.kubernetes.io/instance": "sightline"}
    assert one(objs, "Service")["spec"]["selector"] == ds["spec"]["selector"]["matchLabels"]
    ours = by_key(without_helm_labels(objs))
    theirs = by_key(kustomize("privileged"))
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], key
    # Spelled out: the pieces that matter most.
    assert ds["spec"]["template"]["spec"] == theirs[("DaemonSet", "sightline")]["spec"]["template"]["spec"]
    assert one(objs, "ClusterRole")["rules"] == theirs[("ClusterRole", "sightline")]["rules"]
    data = one(objs, "ConfigMap")["data"]
    assert data == theirs[("ConfigMap", "sightline-config")]["data"]
    assert data["sightline.toml"] == (KUBE / "base" / "sightline.toml").read_text()
    assert data["alert-rules.yaml"] == (REPO / "deploy" / "alerts" / "alert-rules.yaml").read_text()


def test_least_privilege_equals_kustomize(render):
    objs = render("--set", "securityProfile=least-privilege")
    ours = by_key(without_helm_labels(objs))
    theirs = by_key(kustomize("least-privilege"))
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], key
    sc = container(objs)["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON", "SYS_PTRACE",
                                  "SYS_RESOURCE", "DAC_READ_SEARCH", "CHECKPOINT_RESTORE"]}
    # SYS_ADMIN on top, for the nodes that need it.
    objs = render("--set", "securityProfile=least-privilege", "--set", "extraCapabilities={SYS_ADMIN}")
    assert container(objs)["securityContext"]["capabilities"]["add"][-2:] == \
        ["CHECKPOINT_RESTORE", "SYS_ADMIN"]
    assert container(render("--set", "extraCapabilities={SYS_ADMIN}"))["securityContext"] == \
        {"privileged": True, "runAsUser": 0}


def test_monitoring_equals_component(render):
    objs = render("--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=true")
    theirs = by_key(kustomize("monitoring"))
    ours = by_key(without_helm_labels([o for o in objs if o["kind"] in ("ServiceMonitor",
                                                                         "PodMonitor")]))
    assert ours == theirs
    # What they select exists: the Service's labels, the pods' (which carry the
    # PodMonitor's opt-in label when it is enabled).
    sm, pm = one(objs, "ServiceMonitor"), one(objs, "PodMonitor")
    svc_labels = one(objs, "Service")["metadata"]["labels"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc_labels.items()
    pod_labels = one(objs, "DaemonSet")["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["sightline.io/podmonitor"] == "true"
    assert pm["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert [o["kind"] for o in render("--set", "serviceMonitor.enabled=true")][-1] == "ServiceMonitor"
    only_pm = render("--set", "podMonitor.enabled=true,podMonitor.interval=30s",
                     "--set", "podMonitor.labels.release=prom")
    assert [o["kind"] for o in only_pm if "monitoring" in o["apiVersion"]] == ["PodMonitor"]
    pm = one(only_pm, "PodMonitor")
    assert pm["spec"]["podMetricsEndpoints"][0]["interval"] == "30s"
    assert pm["metadata"]["labels"]["release"] == "prom"
    assert "sightline.io/podmonitor" not in \
        one(render(), "DaemonSet")["spec"]["template"]["metadata"]["labels"]


def test_k8s_pod_label_and_config(render):
    shipped = (KUBE / "base" / "sightline.toml").read_text()
    toml = one(render("--set", "k8sPodLabel=true"), "ConfigMap")["data"]["sightline.toml"]
    assert toml == shipped + "k8s-pod-label = true\n"
    assert tomllib.loads(toml)["k8s-pod-label"] is True
    # Extra keys are appended in key order; one the shipped file sets replaces its line.
    toml = one(render("--set", "config.alert-rules=/etc/sightline/alert-rules.yaml",
                      "--set", "config.log-format=text,config.max-connections=5000",
                      "--set", "config.exclude-ports={22,2379}"), "ConfigMap")["data"]["sightline.toml"]
    assert toml == shipped.replace('log-format = "json"\n', "") + (
        'alert-rules = "/etc/sightline/alert-rules.yaml"\nexclude-ports = [22,2379]\n'
        'log-format = "text"\nmax-connections = 5000\n')
    assert tomllib.loads(toml)["log-format"] == "text"


def test_config_change_rolls_the_pods(render):
    """The pod template carries the ConfigMap's checksum: a configuration change
    changes the template (so `helm upgrade` rolls the pods), anything else not."""
    base = config_checksum(render())
    assert len(base) == 64 and all(c in "0123456789abcdef" for c in base)
    assert config_checksum(render()) == base
    assert config_checksum(render("--set", "image.tag=9.9.9")) == base
    assert config_checksum(render("--set", "k8sPodLabel=true")) != base
    assert config_checksum(render("--set", "alertRules=defaults: true")) != base


def test_values_land_where_expected(render, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({
        "image": {"repository": "registry.example.com/obs/sightline", "tag": "1.2.3",
                  "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "obs",
                         "effect": "NoSchedule"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "sightline.io/skip", "operator": "DoesNotExist"}]}]}}},
        "priorityClassName": "",
        "podAnnotations": {"example.com/team": "obs"},
        "podLabels": {"team": "obs"},
        "extraArgs": ["--log-level", "debug"],
        "extraEnv": [{"name": "SIGHTLINE_ENVIRONMENT", "value": "staging"}],
        "businessRules": "metrics: []\n",
        "pricing": '{"models": {}}\n',
        "alertRules": "defaults: false\nrules: []\n",
        "alerts": {"slack": {"webhookUrl": "https://hooks.example.com/x"}, "smtp": {"port": 25}},
        "service": {"port": 9100},
    }))
    objs = render("-f", str(values))
    c = container(objs)
    pod = one(objs, "DaemonSet")["spec"]["template"]
    assert c["image"] == "registry.example.com/obs/sightline:1.2.3"
    assert c["imagePullPolicy"] == "Always"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    # Maps merge with the defaults, as in Helm: the default CPU limit stays.
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                              "limits": {"cpu": "1", "memory": "256Mi"}}
    assert pod["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Equal",
                                           "value": "obs", "effect": "NoSchedule"}]
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"][0]["key"] == "sightline.io/skip"
    assert "priorityClassName" not in pod["spec"]
    assert pod["metadata"]["annotations"] == {
        "checksum/config": config_checksum(objs), "example.com/team": "obs"}
    assert pod["metadata"]["labels"]["team"] == "obs"
    assert c["args"] == ["--config", "/etc/sightline/sightline.toml", "--log-level", "debug"]
    assert [e["name"] for e in c["env"]] == ["NODE_NAME", "SIGHTLINE_PROC_ROOT",
                                             "SIGHTLINE_ENVIRONMENT"]
    assert c["env"][-1] == {"name": "SIGHTLINE_ENVIRONMENT", "value": "staging"}
    data = one(objs, "ConfigMap")["data"]
    assert (data["business-rules.yaml"], data["pricing.json"], data["alert-rules.yaml"]) == \
        ("metrics: []\n", '{"models": {}}\n', "defaults: false\nrules: []\n")
    secret = one(objs, "Secret")["stringData"]
    assert (secret["SLACK_WEBHOOK_URL"], secret["SMTP_PORT"], secret["SMTP_USE_TLS"]) == \
        ("https://hooks.example.com/x", "25", "true")
    svc = one(objs, "Service")["spec"]["ports"]
    assert svc == [{"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]

    # --set too, with the tag and digest forms of the image.
    objs = render("--set", "image.tag=2.0,resources.limits.cpu=2,tolerations=null")
    assert container(objs)["image"] == "sightline:2.0"
    assert container(objs)["resources"]["limits"] == {"cpu": 2, "memory": "512Mi"}
    assert "tolerations" not in one(objs, "DaemonSet")["spec"]["template"]["spec"]
    assert container(render("--set", "image.digest=sha256:abc"))["image"] == "sightline@sha256:abc"


def test_release_name_namespace_and_existing_secret(render):
    objs = render("--set", "alerts.existingSecret=my-alerts,serviceMonitor.enabled=true",
                  release="obs", namespace="monitoring")
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert names == {("ServiceAccount", "obs-sightline"), ("ConfigMap", "obs-sightline-config"),
                     ("ClusterRole", "obs-sightline"), ("ClusterRoleBinding", "obs-sightline"),
                     ("Service", "obs-sightline"), ("DaemonSet", "obs-sightline"),
                     ("ServiceMonitor", "obs-sightline")}
    for obj in objs:
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "monitoring", obj["kind"]
        else:
            assert "namespace" not in obj["metadata"]
    assert one(objs, "ClusterRoleBinding")["subjects"] == [
        {"kind": "ServiceAccount", "name": "obs-sightline", "namespace": "monitoring"}]
    assert one(objs, "ClusterRoleBinding")["roleRef"]["name"] == "obs-sightline"
    assert one(objs, "ServiceMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["monitoring"]}
    assert container(objs)["envFrom"] == [{"secretRef": {"name": "my-alerts", "optional": True}}]
    pod = one(objs, "DaemonSet")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "obs-sightline"
    assert {v["name"]: v for v in pod["volumes"]}["config"]["configMap"]["name"] == \
        "obs-sightline-config"
    # Without the chart's ServiceAccount and RBAC.
    objs = render("--set", "serviceAccount.create=false,serviceAccount.name=node-observer",
                  "--set", "rbac.create=false")
    assert not {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} & {o["kind"] for o in objs}
    assert one(objs, "DaemonSet")["spec"]["template"]["spec"]["serviceAccountName"] == "node-observer"


def test_bad_values_fail_rendering(helm_render):
    proc = helm_render("--set", "securityProfile=bogus")
    assert proc.returncode == 1 and proc.stdout == ""
    assert re.fullmatch(r'Error: execution error at \(sightline/templates/_helpers\.tpl:\d+:\d+\): '
                        r'securityProfile must be "privileged" or "least-privilege", not "bogus"\n',
                        proc.stderr), proc.stderr
    proc = helm_render("--set", "config.server.port=1")
    assert proc.returncode == 1
    assert proc.stderr.endswith("config.server is a table: sightline.toml keys take strings, "
                                "numbers, booleans or lists\n"), proc.stderr
    proc = helm_render("--set", "image.repository=")
    assert proc.returncode == 1 and proc.stderr.endswith("): image.repository is required\n")


def test_notes(helm_render):
    proc = helm_render("--notes", "--set", "securityProfile=least-privilege")
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("\nNOTES:\n", 1)[1]
    assert "DaemonSet sightline/sightline, security profile least-privilege" in notes
    assert "kubectl label namespace sightline pod-security.kubernetes.io/enforce=privileged" in notes
    assert "serviceMonitor.enabled=true" in notes
    proc = helm_render("--notes", "--set", "serviceMonitor.enabled=true,podMonitor.enabled=true")
    assert "every series is scraped twice" in proc.stdout


def test_renders_valid_against_kubernetes_schemas(render, tmp_path):
    renders = [
        render(),
        render("--set", "securityProfile=least-privilege,extraCapabilities={SYS_ADMIN}"),
        render("--set", "serviceMonitor.enabled=true,podMonitor.enabled=true,k8sPodLabel=true"),
        render("--set", "image.tag=1.0,imagePullSecrets[0].name=regcred,priorityClassName=",
               "--set", "nodeSelector.kubernetes\\.io/os=linux,podAnnotations.a=b,podLabels.c=d",
               "--set", "extraArgs={--log-level,debug},extraEnv[0].name=A",
               "--set-string", "extraEnv[0].value=1",
               "--set", "alerts.existingSecret=mine,serviceAccount.create=false,rbac.create=false",
               release="obs", namespace="monitoring"),
    ]
    assert one(renders[3], "DaemonSet")["spec"]["template"]["spec"]["nodeSelector"] == \
        {"kubernetes.io/os": "linux"}
    assert container(renders[3])["env"][-1] == {"name": "A", "value": "1"}
    result = validate("k8s", renders)
    assert result["code"] == 0 and not result["errors"], result["errors"]
    assert result["checked"] == sum(len(r) for r in renders) == 7 + 7 + 9 + 3
    # A value of the wrong type renders but the schema rejects it.
    broken = render("--set", "service.port=metrics")
    assert one(broken, "Service")["spec"]["ports"][0]["port"] == "metrics"
    bad = validate("k8s", [broken])
    assert bad["code"] == 1 and len(bad["errors"]) == 1, bad
    assert bad["errors"][0].startswith("sightline-validate-") and "Service/sightline" in bad["errors"][0]
    assert "port must be integer" in bad["errors"][0], bad["errors"][0]


def test_chart_config_accepted_by_the_daemon(privileged, render, tmp_path):
    """The daemon runs on the chart's ConfigMap with the pod label and the alert
    rules turned on (paths moved to a temporary directory)."""
    data = one(render("--set", "k8sPodLabel=true",
                      "--set", "config.alert-rules=/etc/sightline/alert-rules.yaml"),
               "ConfigMap")["data"]
    for name, text in data.items():
        (tmp_path / name).write_text(text.replace("/etc/sightline/", f"{tmp_path}/"))
    rules = yaml.safe_load(data["business-rules.yaml"])["metrics"]
    daemon = harness.start_daemon("--config", str(tmp_path / "sightline.toml"), log_level=None)
    try:
        assert daemon.metrics().total("sightline_business_rules") == len(rules) == 5
        # The alert rules file is read: the 10 built-in rules, 2 of them replaced
        # by the shipped file's, which adds CheckoutErrors and ShopTrafficStopped.
        logged = [json.loads(line)["message"] for line in daemon.stderr_text().splitlines()
                  if line.startswith("{")]
        assert any(m.startswith("alerts: 12 rules,") for m in logged), logged[:5]
    finally:
        assert daemon.stop() == 0, daemon.stderr_text()[-3000:]
