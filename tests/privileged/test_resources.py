"""Host resource metrics (system_*, OpenTelemetry host-metrics names) compared
with what /proc and statvfs say on this host at the moment of the scrape."""

from __future__ import annotations

import os
import shutil

import harness
import pytest

HZ = os.sysconf("SC_CLK_TCK")


def _meminfo_kb(key: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name == key:
                return int(rest.split()[0])
    raise KeyError(key)


def _cpu_user_seconds() -> float:
    with open("/proc/stat") as f:
        fields = f.readline().split()
    assert fields[0] == "cpu"
    return int(fields[1]) / HZ


def _loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(v) for v in f.read().split()[:3]]


def _lo_bytes() -> tuple[int, int]:
    with open("/proc/net/dev") as f:
        for line in f:
            name, sep, rest = line.partition(":")
            if sep and name.strip() == "lo":
                v = rest.split()
                return int(v[0]), int(v[8])
    raise KeyError("lo")


def test_memory_limit_is_memtotal(daemon):
    m = daemon.metrics()
    assert m.get_sample("system_memory_limit_bytes") == _meminfo_kb("MemTotal") * 1024
    for state in ("used", "free", "buffers", "cached", "available"):
        assert m.get_sample("system_memory_usage_bytes", state=state) is not None, state
    ratio = m.get_sample("system_memory_utilization_ratio")
    assert ratio is not None and 0 <= ratio <= 1


def test_cpu_user_time_matches_proc_stat(daemon):
    before = _cpu_user_seconds()
    m = daemon.metrics()
    after = _cpu_user_seconds()
    value = m.get_sample("system_cpu_time_seconds_total", state="user")
    assert value is not None
    assert before * 0.98 <= value <= after * 1.02, (before, value, after)
    assert m.types.get("system_cpu_time_seconds_total") == "counter"
    with open("/proc/stat") as f:
        online = sum(1 for line in f if line.startswith("cpu") and line[3].isdigit())
    assert m.get_sample("system_cpu_logical_count") == online
    ratio = m.get_sample("system_cpu_utilization_ratio")
    assert ratio is not None and 0 <= ratio <= 1


def test_load_averages_match_proc_loadavg(daemon):
    m = daemon.metrics()
    expected = _loadavg()
    for name, want in zip(("1m", "5m", "15m"), expected):
        got = m.get_sample(f"system_load_average_{name}")
        assert got is not None, name
        assert abs(got - want) <= 0.05, (name, got, want)


def test_root_filesystem_usage_matches_statvfs(daemon):
    m = daemon.metrics()
    st = os.statvfs("/")
    size = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    free = st.f_bavail * st.f_frsize
    got_used = m.samples("system_filesystem_usage_bytes", mountpoint="/", state="used")
    got_free = m.samples("system_filesystem_usage_bytes", mountpoint="/", state="free")
    assert len(got_used) == 1 and len(got_free) == 1, m.samples("system_filesystem_usage_bytes")
    assert abs(got_used[0][1] - used) <= 0.01 * size, (got_used, used)
    assert abs(got_free[0][1] - free) <= 0.01 * size, (got_free, free)
    ratio = m.samples("system_filesystem_utilization_ratio", mountpoint="/")
    assert len(ratio) == 1 and abs(ratio[0][1] - used / size) <= 0.01


def test_loopback_network_bytes_monotonic(daemon):
    rx0, tx0 = _lo_bytes()
    first = daemon.metrics()
    rx1 = first.get_sample("system_network_io_bytes_total", device="lo", direction="receive")
    tx1 = first.get_sample("system_network_io_bytes_total", device="lo", direction="transmit")
    assert rx1 is not None and tx1 is not None
    assert rx1 >= rx0 and tx1 >= tx0, (rx0, rx1, tx0, tx1)
    second = daemon.metrics()
    rx2 = second.get_sample("system_network_io_bytes_total", device="lo", direction="receive")
    tx2 = second.get_sample("system_network_io_bytes_total", device="lo", direction="transmit")
    # The first scrape itself went over loopback.
    assert rx2 > rx1 and tx2 > tx1, (rx1, rx2, tx1, tx2)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_exposition_is_promtool_clean(daemon):
    text = daemon.scrape()
    system = "\n".join(line for line in text.splitlines()
                       if line.startswith(("system_", "# HELP system_", "# TYPE system_")))
    result = harness.promtool_check(system + "\n")
    assert result.ok, f"promtool check metrics failed ({result.returncode}):\n{result.output}"
