"""Host resource metrics (system_*, OpenTelemetry host-metrics names) and
per-service process resources (process_* with service_name) compared with what
/proc and statvfs say on this host at the moment of the scrape."""

from __future__ import annotations

import os
import re
import shutil
import socket
import time

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


# ---------------------------------------------------------------------------
# Per-service process resources (process_* with service_name), compared with
# what /proc/<pid> says of processes whose CPU, memory, files and threads the
# test controls. Each test has its own listener port (the daemon follows only
# it, --ports) and its own service name.

# A process that opens one TCP connection (so the daemon observes it), then
# holds `mb` MiB of touched memory, `files` open files and `threads` idle
# threads, spins for `spin` seconds (-1: until killed) and idles `idle`
# seconds (-1: until killed) before exiting.
WORKER = r"""
import os, socket, sys, threading, time
port, mb, files, threads = (int(v) for v in sys.argv[1:5])
spin, idle = float(sys.argv[5]), float(sys.argv[6])
conn = socket.create_connection(("127.0.0.1", port))
ballast = b"\x01" * (mb << 20)  # filled, so every page is resident
held = [open(os.devnull, "rb") for _ in range(files)]
stop = threading.Event()
for _ in range(threads):
    threading.Thread(target=stop.wait, daemon=True).start()
print("ready", flush=True)
if spin < 0:
    while True:
        pass
end = time.monotonic() + spin
while time.monotonic() < end:
    pass
if idle < 0:
    stop.wait()
time.sleep(idle)
"""


class _Listener:
    """A loopback listening socket that never accepts: connecting to it is
    enough for the daemon to see a connection open."""

    def __enter__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((harness.LOOPBACK, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self.sock.close()


def _start_worker(port: int, service: str, mb: int = 0, files: int = 0, threads: int = 0,
                  spin: float = 0, idle: float = -1) -> harness.Fixture:
    argv = [harness.PYTHON, "-c", WORKER, str(port), str(mb), str(files), str(threads),
            str(spin), str(idle)]
    return harness.start_fixture(argv, port, service_name=service, name="resource_worker")


def _stat_ticks(pid: int) -> tuple[int, int]:
    """utime, stime of /proc/<pid>/stat, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[14 - 3]), int(fields[15 - 3])


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name == key:
                return int(rest.split()[0])
    raise KeyError(key)


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _wait_instances(d, service: str, n: int, timeout: float = 10.0, **labels):
    return harness.wait_for(
        lambda: d.metrics().get_sample("process_instances", service_name=service, **labels) == n,
        timeout=timeout, message=f"process_instances{{service_name={service}}} == {n}")


def _cpu(m, service: str, **labels) -> tuple[float, float]:
    return (m.get_sample("process_cpu_time_seconds_total", service_name=service,
                         cpu_mode="user", **labels),
            m.get_sample("process_cpu_time_seconds_total", service_name=service,
                         cpu_mode="system", **labels))


def test_service_cpu_time_matches_proc_stat(own_daemon, service_name):
    with _Listener() as listener:
        d = own_daemon([listener.port])
        worker = _start_worker(listener.port, service_name, spin=-1)
        try:
            _wait_instances(d, service_name, 1)
            time.sleep(2.0)  # let it burn some CPU
            for _ in range(3):
                before = _stat_ticks(worker.pid)
                m = d.metrics()
                after = _stat_ticks(worker.pid)
                user, system = _cpu(m, service_name)
                # The daemon read /proc between our two reads: within them, to the tick.
                assert before[0] / HZ - 1e-9 <= user <= after[0] / HZ + 1e-9, (before, user, after)
                assert before[1] / HZ - 1e-9 <= system <= after[1] / HZ + 1e-9, (before, system,
                                                                                 after)
                total_before = sum(before) / HZ
                assert total_before > 0.5, total_before  # it did spin
                assert abs(user + system - total_before) <= 0.10 * total_before
                time.sleep(0.5)
            assert m.types.get("process_cpu_time_seconds_total") == "counter"
        finally:
            worker.stop()


def test_service_memory_matches_vmrss(own_daemon, service_name):
    with _Listener() as listener:
        d = own_daemon([listener.port])
        worker = _start_worker(listener.port, service_name, mb=200)
        try:
            _wait_instances(d, service_name, 1)
            m = d.metrics()
            rss = _status_kb(worker.pid, "VmRSS") * 1024
            size = _status_kb(worker.pid, "VmSize") * 1024
            got_rss = m.get_sample("process_memory_usage_bytes", service_name=service_name)
            got_size = m.get_sample("process_memory_virtual_bytes", service_name=service_name)
            assert rss > 200 << 20, rss  # the ballast is resident
            assert abs(got_rss - rss) <= 0.05 * rss, (got_rss, rss)
            assert abs(got_size - size) <= 0.05 * size, (got_size, size)
        finally:
            worker.stop()


def test_service_fds_and_threads_exact(own_daemon, service_name):
    with _Listener() as listener:
        d = own_daemon([listener.port])
        worker = _start_worker(listener.port, service_name, files=7, threads=5)
        try:
            _wait_instances(d, service_name, 1)
            m = d.metrics()
            # stdin, stdout, stderr, the socket and the 7 files; main thread and 5 more.
            assert _fd_count(worker.pid) == 11 and _thread_count(worker.pid) == 6
            assert m.get_sample("process_open_file_descriptors", service_name=service_name) == 11
            assert m.get_sample("process_threads", service_name=service_name) == 6
            assert m.get_sample("process_instances", service_name=service_name) == 1
            with open(f"/proc/{worker.pid}/stat") as f:
                start = int(f.read().rpartition(")")[2].split()[22 - 3]) / HZ
            with open("/proc/uptime") as f:
                uptime = float(f.read().split()[0]) - start
            got = m.get_sample("process_uptime_seconds", service_name=service_name)
            assert abs(got - uptime) <= 0.5, (got, uptime)
        finally:
            worker.stop()


def test_two_processes_of_one_service_sum(own_daemon, service_name):
    with _Listener() as listener:
        d = own_daemon([listener.port])
        a = _start_worker(listener.port, service_name, mb=50, files=3, threads=2)
        b = _start_worker(listener.port, service_name, mb=30, files=4, threads=1)
        try:
            _wait_instances(d, service_name, 2)
            before = [_stat_ticks(p.pid) for p in (a, b)]
            m = d.metrics()
            after = [_stat_ticks(p.pid) for p in (a, b)]
            assert m.get_sample("process_open_file_descriptors", service_name=service_name) == \
                (4 + 3) + (4 + 4) == _fd_count(a.pid) + _fd_count(b.pid)
            assert m.get_sample("process_threads", service_name=service_name) == \
                3 + 2 == _thread_count(a.pid) + _thread_count(b.pid)
            rss = sum(_status_kb(p.pid, "VmRSS") * 1024 for p in (a, b))
            got_rss = m.get_sample("process_memory_usage_bytes", service_name=service_name)
            assert rss > 80 << 20 and abs(got_rss - rss) <= 0.05 * rss, (got_rss, rss)
            user, system = _cpu(m, service_name)
            lo = sum(t[0] + t[1] for t in before) / HZ
            hi = sum(t[0] + t[1] for t in after) / HZ
            assert lo - 1e-9 <= user + system <= hi + 1e-9, (lo, user + system, hi)
        finally:
            a.stop()
            b.stop()


def test_exited_worker_keeps_its_cpu(own_daemon, service_name):
    with _Listener() as listener:
        d = own_daemon([listener.port])
        # Spins 1.5 s, idles 1.5 s (the daemon's once-a-second read sees its final
        # CPU), exits; no scrape happens while it lives.
        worker = _start_worker(listener.port, service_name, spin=1.5, idle=1.5)
        _, status, usage = os.wait4(worker.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        used = usage.ru_utime + usage.ru_stime
        assert used > 0.3, used
        _wait_instances(d, service_name, 0)
        m = d.metrics()
        user, system = _cpu(m, service_name)
        # rusage has microseconds, /proc clock ticks: a tick of rounding per mode.
        assert abs(user + system - used) <= max(0.10 * used, 2 / HZ), (user, system, used)
        assert m.get_sample("process_memory_usage_bytes", service_name=service_name) is None
        assert m.get_sample("sightline_service_processes_shed_total",
                            reason="exited_before_read") == 0


def test_pid_label(own_daemon, service_name):
    with _Listener() as listener:
        d = own_daemon([listener.port], "--process-metrics-pid")
        a = _start_worker(listener.port, service_name, files=2, threads=1)
        b = _start_worker(listener.port, service_name, files=5, threads=3)
        try:
            for p, fds, threads in ((a, 6, 2), (b, 9, 4)):
                _wait_instances(d, service_name, 1, process_pid=str(p.pid))
                m = d.metrics()
                assert m.get_sample("process_open_file_descriptors", service_name=service_name,
                                    process_pid=str(p.pid)) == fds
                assert m.get_sample("process_threads", service_name=service_name,
                                    process_pid=str(p.pid)) == threads
            assert len(m.samples("process_instances", service_name=service_name)) == 2
            before = _stat_ticks(b.pid)
        finally:
            b.stop()
        try:
            # b's CPU moves to the service's "exited" series; a's stays its own.
            def b_forgotten():
                m = d.metrics()
                gone = m.get_sample("process_instances", service_name=service_name,
                                    process_pid=str(b.pid)) is None
                return m if gone else None

            m = harness.wait_for(b_forgotten, timeout=10, message="exited process forgotten")
            user, system = _cpu(m, service_name, process_pid="exited")
            assert user >= before[0] / HZ - 1e-9 and system >= before[1] / HZ - 1e-9
            assert user + system <= sum(before) / HZ + 0.1, (user, system, before)
            assert m.get_sample("process_instances", service_name=service_name,
                                process_pid=str(a.pid)) == 1
        finally:
            a.stop()


def test_exe_filter_decides_which_processes_are_followed(own_daemon, service_name):
    python = re.escape(os.path.realpath(harness.PYTHON))
    with _Listener() as listener:
        matching = own_daemon([listener.port], "--exe", f"^{python}$")
        other = own_daemon([listener.port], "--exe", "^/nonexistent/program$")
        worker = _start_worker(listener.port, service_name, threads=2)
        try:
            _wait_instances(matching, service_name, 1)
            assert matching.metrics().get_sample("process_threads",
                                                 service_name=service_name) == 3
            time.sleep(1.5)  # a sweep later, still nothing in the filtering daemon
            m = other.metrics()
            assert m.get_sample("process_instances", service_name=service_name) is None
            assert m.get_sample("sightline_service_processes") == 0
        finally:
            worker.stop()


def test_service_exposition_is_promtool_clean(own_daemon, service_name):
    with _Listener() as listener:
        d = own_daemon([listener.port])
        worker = _start_worker(listener.port, service_name, files=1)
        try:
            _wait_instances(d, service_name, 1)
            text = d.scrape()
        finally:
            worker.stop()
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), sorted(t for t in types if types.count(t) > 1)
    # The daemon's own process_* and the per-service ones side by side.
    for own in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert own in types, own
    ours = "\n".join(line for line in text.splitlines()
                     if line.startswith(("process_", "sightline_service_",
                                         "# HELP process_", "# TYPE process_",
                                         "# HELP sightline_service_", "# TYPE sightline_service_")))
    assert f'process_threads{{service_name="{service_name}"}}' in ours
    result = harness.promtool_check(ours + "\n")
    assert result.ok, f"promtool check metrics failed ({result.returncode}):\n{result.output}"
