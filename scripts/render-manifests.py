#!/usr/bin/env python3
"""Renders sightline's Kubernetes manifests without kubectl.

    scripts/render-manifests.py           write deploy/kubernetes/base/configmap.yaml,
                                          deploy/kubernetes/rendered/*.yaml and the
                                          Helm chart's copies (deploy/helm/sightline/files/)
    scripts/render-manifests.py --check   exit 1 if any committed file differs

The ConfigMap is generated from its sources (base/sightline.toml, base/pricing.json,
deploy/business/business-rules.yaml and, when present, deploy/alerts/*.yaml):
kustomize refuses files outside a kustomization's directory, so it is committed
rendered. Each overlay is then built with the subset of kustomize the overlays
use: resources (files and directories), components, strategic-merge patches by
path (maps merged, lists of named items merged by name) and the namespace.
`kubectl kustomize deploy/kubernetes/overlays/<profile>` gives the same objects.

Helm cannot read files outside its chart either: deploy/helm/sightline/files/
holds copies of the ConfigMap's sources (alert rules under files/alerts/), and
copies whose source is gone are removed (reported by --check).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
HELM_FILES = ROOT / "deploy" / "helm" / "sightline" / "files"
PROFILES = ("privileged", "least-privilege")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
# kustomize's output order (its legacy ordering), the rest after, by name.
KIND_ORDER = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
              "Secret", "Service", "DaemonSet", "ServiceMonitor", "PodMonitor"]


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def merge(base, patch):
    """Strategic merge as the overlays need it: maps recursively; lists whose
    items are all maps with a name merged item by item; anything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (isinstance(base, list) and isinstance(patch, list)
            and all(isinstance(i, dict) and "name" in i for i in base + patch)):
        out = [copy.deepcopy(i) for i in base]
        index = {i["name"]: n for n, i in enumerate(out)}
        for item in patch:
            if item["name"] in index:
                out[index[item["name"]]] = merge(out[index[item["name"]]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def key(obj: dict) -> tuple:
    meta = obj.get("metadata", {})
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


def build(directory: Path, inherited: list[dict] | None = None) -> list[dict]:
    """Objects of the kustomization (or component) in `directory`."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objs = [copy.deepcopy(o) for o in inherited or []]
    for res in spec.get("resources", []):
        path = directory / res
        objs += build(path) if path.is_dir() else load_docs(path)
    for comp in spec.get("components", []):
        objs = build(directory / comp, objs)
    for patch in spec.get("patches", []):
        for doc in load_docs(directory / patch["path"]):
            matches = [n for n, o in enumerate(objs)
                       if (o["kind"], o["metadata"]["name"]) == (doc["kind"], doc["metadata"]["name"])]
            if len(matches) != 1:
                raise SystemExit(f"{directory / patch['path']}: {doc['kind']}/"
                                 f"{doc['metadata']['name']} matches {len(matches)} objects")
            objs[matches[0]] = merge(objs[matches[0]], doc)
    if "namespace" in spec:
        for obj in objs:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = spec["namespace"]
            for subject in obj.get("subjects", []):
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = spec["namespace"]
    seen = set()
    for obj in objs:
        if key(obj) in seen:
            raise SystemExit(f"{directory}: {key(obj)} defined twice")
        seen.add(key(obj))
    return objs


def ordered(objs: list[dict]) -> list[dict]:
    def rank(obj):
        kind = obj["kind"]
        return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind,
                obj["metadata"]["name"])
    return sorted(objs, key=rank)


def dump(objs: list[dict], header: str) -> str:
    body = "---\n".join(yaml.safe_dump(o, sort_keys=True, default_flow_style=False, width=100)
                        for o in ordered(objs))
    return header + body


def config_sources() -> dict[str, Path]:
    """The ConfigMap's keys and the files they hold."""
    sources = {
        "sightline.toml": KUBE / "base" / "sightline.toml",
        "pricing.json": KUBE / "base" / "pricing.json",
        "business-rules.yaml": ROOT / "deploy" / "business" / "business-rules.yaml",
    }
    alerts = ROOT / "deploy" / "alerts"
    if alerts.is_dir():
        for path in sorted(alerts.glob("*.y*ml")):
            # Mounted at /etc/sightline/<name>: enable with alert-rules in sightline.toml.
            sources[path.name] = path
    return sources


def helm_files() -> dict[Path, str]:
    """The chart's copies of the ConfigMap's sources: alert rules under alerts/."""
    alerts = ROOT / "deploy" / "alerts"
    out = {}
    for name, src in config_sources().items():
        out[(HELM_FILES / "alerts" if src.parent == alerts else HELM_FILES) / name] = src.read_text()
    return out


def stale_helm_files() -> list[Path]:
    """Files in the chart's files/ that are no copy of a current source."""
    want = {p.resolve() for p in helm_files()}
    if not HELM_FILES.is_dir():
        return []
    return sorted(p for p in HELM_FILES.rglob("*") if p.is_file() and p.resolve() not in want)


def configmap() -> str:
    data = {name: src.read_text() for name, src in config_sources().items()}
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "sightline-config", "namespace": "sightline",
                        "labels": {"app.kubernetes.io/name": "sightline"}},
           "data": data}
    return ("# Generated by scripts/render-manifests.py from base/sightline.toml, base/pricing.json,\n"
            "# deploy/business/business-rules.yaml and deploy/alerts/: edit those, then rerun it.\n"
            + yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=100))


def outputs() -> dict[Path, str]:
    """Every generated file and its content, the ConfigMap first (the overlays read it)."""
    out = {KUBE / "base" / "configmap.yaml": configmap()}
    header = ("# Generated by scripts/render-manifests.py from deploy/kubernetes/overlays/{}:\n"
              "# do not edit; `kubectl apply -f` this file or `kubectl apply -k` the overlay.\n")
    for profile in PROFILES:
        out[KUBE / "rendered" / f"{profile}.yaml"] = dump(
            build(KUBE / "overlays" / profile), header.format(profile))
    out[KUBE / "rendered" / "monitoring.yaml"] = dump(
        build(KUBE / "components" / "monitoring"),
        "# Generated by scripts/render-manifests.py from deploy/kubernetes/components/monitoring\n"
        "# (Prometheus Operator ServiceMonitor and PodMonitor).\n")
    out.update(helm_files())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed file is stale")
    args = parser.parse_args()
    stale = []
    # The ConfigMap must be current before the overlays that include it are built.
    first = KUBE / "base" / "configmap.yaml"
    want = configmap()
    if first.exists() and first.read_text() == want:
        pass
    elif args.check:
        stale.append(first)
    else:
        first.write_text(want)
    for path, text in outputs().items():
        if path == first or (path.exists() and path.read_text() == text):
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"render-manifests: wrote {path.relative_to(ROOT)}")
    for path in stale_helm_files():
        if args.check:
            stale.append(path)
        else:
            path.unlink()
            print(f"render-manifests: removed {path.relative_to(ROOT)}")
    if stale:
        print("render-manifests: stale, its sources (base/, deploy/business/, deploy/alerts/) "
              "changed: run scripts/render-manifests.py and commit the result: "
              + ", ".join(str(p.relative_to(ROOT)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
