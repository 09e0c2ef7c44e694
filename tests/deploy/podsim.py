"""The DaemonSet's pod, simulated without a cluster: the daemon runs chrooted in
a mount namespace of its own whose filesystem holds only what a container of
the rendered DaemonSet would see:

  - the image: the host's /usr (read-only; the image is Debian with the same
    libraries), the daemon binary, /etc with the loader's cache;
  - what the runtime gives every container: /dev, a proc of the pod's PID
    namespace (the host's one: hostPID), sysfs, a tmpfs /tmp;
  - every volumeMount of the manifest at its mountPath: hostPath volumes bound
    from the host (read-only where the manifest says so), the ConfigMap's files,
    emptyDirs as tmpfs;
  - the container's capabilities: root keeps only the profile's ones (setpriv
    bounding set), unless the profile is privileged.

wrapper(...) writes an executable that sets this up and execs the daemon with
its arguments, so harness.start_daemon(binary=wrapper) runs it as any daemon
(the wrapper's shell, unshare and chroot each exec the next: one process).
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path


def wrapper(work: Path, daemonset: dict, configmap: dict, binary: Path) -> Path:
    root = work / "root"
    config_dir = work / "configmap"
    config_dir.mkdir(parents=True)
    for name, text in configmap["data"].items():
        (config_dir / name).write_text(text)
    (root / "etc").mkdir(parents=True)
    shutil.copy("/etc/ld.so.cache", root / "etc" / "ld.so.cache")
    shutil.copy(binary, root / "sightline")
    for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                         ("sbin", "usr/sbin")):
        (root / link).symlink_to(target)

    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostPID"] is True, "the simulation gives the pod the host's PID namespace"
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    r = shlex.quote(str(root))
    lines = [
        "set -e",
        # Everything below happens in the private mount namespace only.
        f"for d in usr dev proc sys tmp; do mkdir -p {r}/$d; done",
        f"mount --bind /usr {r}/usr && mount -o remount,bind,ro {r}/usr",
        f"mount --rbind /dev {r}/dev",
        f"mount -t proc proc {r}/proc",
        f"mount -t sysfs sysfs {r}/sys",
        f"mount -t tmpfs tmpfs {r}/tmp",
    ]
    for m in container["volumeMounts"]:
        source = volumes[m["name"]]
        target = shlex.quote(str(root) + m["mountPath"])
        lines.append(f"mkdir -p {target}")
        if "hostPath" in source:
            lines.append(f"mount --rbind {shlex.quote(source['hostPath']['path'])} {target}")
        elif "configMap" in source:
            assert source["configMap"]["name"] == configmap["metadata"]["name"]
            lines.append(f"mount --bind {shlex.quote(str(config_dir))} {target}")
        elif "emptyDir" in source:
            lines.append(f"mount -t tmpfs tmpfs {target}")
        else:
            raise ValueError(f"volume {m['name']}: unsupported source {source}")
        if m.get("readOnly"):
            lines.append(f"mount -o remount,bind,ro {target}")
    # The container's capabilities: the bounding set of the profile (all of them
    # when privileged), so root in the pod holds exactly those.
    sc = container.get("securityContext", {})
    exec_ = "/sightline"
    if not sc.get("privileged"):
        caps = sc["capabilities"]
        assert caps["drop"] == ["ALL"]
        keep = ",".join("+" + c.lower() for c in caps["add"])
        exec_ = f"/usr/bin/setpriv --bounding-set=-all,{keep} " \
                f"--no-new-privs /sightline"
    lines.append(f'exec chroot {r} {exec_} "$@"')
    inner = work / "pod.sh"
    inner.write_text("\n".join(lines) + "\n")
    outer = work / "pod"
    outer.write_text("#!/bin/sh\n"
                     f'exec unshare --mount --propagation private -- sh {shlex.quote(str(inner))} "$@"\n')
    outer.chmod(0o755)
    return outer
