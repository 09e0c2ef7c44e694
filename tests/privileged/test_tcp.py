"""TCP health per service (the `tcp` probe): connection opens, closes, failures,
retransmits and resets, from real sockets of real processes, asserted exactly.

Every client and server is a separate Python process with its own
OTEL_SERVICE_NAME, so the daemon names them from their environment. Each stays
alive until the test has seen its counts (it waits on stdin), then exits, and
the counts are checked again after the daemon has folded the exited processes
in: nothing may be lost or counted twice at the exit.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Optional, Sequence

import harness
import pytest

OPENED = "tcp_connections_opened_total"
CLOSED = "tcp_connections_closed_total"
FAILURES = "tcp_connection_failures_total"
RETRANSMITS = "tcp_retransmits_total"
RESETS = "tcp_resets_total"

# Two sweeps of the daemon (one a second): time for an exit to be folded in.
FOLD_WAIT = 2.5


class Peer:
    """A Python process running `code` with its own service name, optionally in a
    network namespace. It prints one line when done, then waits for stdin to close."""

    def __init__(self, code: str, service: str, args: Sequence[str] = (),
                 netns: Optional[str] = None):
        argv = [harness.PYTHON, "-c", code, *args]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=harness.client_env(service))

    def line(self, timeout: float = 60.0) -> str:
        """The next line the process prints (fails with its stderr if it dies)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.proc.stdout.readline()
            if out:
                return out.strip()
            if self.proc.poll() is not None:
                raise AssertionError(f"peer exited {self.proc.returncode}: "
                                     f"{self.proc.stderr.read()}")
        raise TimeoutError("peer printed nothing")

    def finish(self) -> None:
        """Lets the process exit and reaps it."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def peers():
    started: list[Peer] = []

    def start(*args, **kw) -> Peer:
        p = Peer(*args, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


# Connects N times to a closed port; prints how many were refused.
REFUSED_CLIENT = """
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
refused = 0
for _ in range(n):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        refused += 1
    s.close()
print(refused, flush=True)
sys.stdin.read()
"""

# Accepts N connections; reads each to EOF (counting bytes), answers with the
# count, closes. With linger0: closes at once with SO_LINGER 0 instead (a RST).
SERVER = """
import socket, struct, sys
host, port, n, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((host, port))
l.listen(64)
print("ready", flush=True)
total = 0
for _ in range(n):
    c, _ = l.accept()
    if mode == "linger0":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        continue
    got = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += len(b)
    total += got
    c.sendall(str(got).encode())
    c.close()
l.close()
print(total, flush=True)
sys.stdin.read()
"""

# Makes N connections, sends `size` bytes on each, half-closes, reads the
# answer to EOF; prints the bytes the server says it got. With expect_reset:
# sends nothing and prints how many connections were reset by the server.
CLIENT = """
import socket, sys
host, port, n, size, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
out = 0
for _ in range(n):
    if mode == "expect_reset":
        # The handshake completes in the kernel; the reset may come before
        # connect() returns (reported by it) or after (by recv).
        s = socket.socket()
        try:
            s.connect((host, port))
            s.recv(1)
        except ConnectionResetError:
            out += 1
        s.close()
        continue
    s = socket.create_connection((host, port), timeout=120)
    s.sendall(b"x" * size)
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        b = s.recv(100)
        if not b:
            break
        answer += b
    out += int(answer)
    s.close()
print(out, flush=True)
sys.stdin.read()
"""


def _series(daemon, service: str) -> dict:
    """The TCP counters of one service, as {(metric, label value): value}."""
    m = daemon.metrics()
    out = {}
    for name, label in ((OPENED, "direction"), (CLOSED, None), (FAILURES, "reason"),
                        (RETRANSMITS, None), (RESETS, "direction")):
        for labels, value in m.samples(name, service_name=service):
            out[(name, labels.get(label) if label else None)] = value
    return out


def _wait_exact(daemon, service: str, expected: dict, timeout: float = 10.0) -> None:
    """Waits until the service's TCP counters are exactly `expected` (series not
    listed must be absent), then checks they stay so for a sweep more."""
    last: list[dict] = [{}]

    def reached() -> bool:
        last[0] = _series(daemon, service)
        return last[0] == expected

    try:
        harness.wait_for(reached, timeout=timeout, interval=0.2)
    except TimeoutError:
        raise AssertionError(f"{service}: expected {expected}, got {last[0]}") from None
    time.sleep(1.2)
    assert _series(daemon, service) == expected, f"{service}: overshot"


def test_refused_connects_are_counted_per_service(daemon, peers, service_name):
    n = 7
    port = harness.free_port()  # nothing listens there
    client = peers(REFUSED_CLIENT, service_name, [str(port), str(n)])
    assert client.line() == str(n)
    # Each refusal is a RST received on the connecting socket, too.
    expected = {(FAILURES, "refused"): n, (RESETS, "received"): n}
    _wait_exact(daemon, service_name, expected)
    client.finish()
    time.sleep(FOLD_WAIT)
    assert _series(daemon, service_name) == expected


def test_successful_connections_open_and_close_on_both_sides(daemon, peers, service_name):
    m, size = 12, 3000
    port = harness.free_port()
    server_name, client_name = service_name + "-srv", service_name + "-cli"
    server = peers(SERVER, server_name, ["127.0.0.1", str(port), str(m), "read"])
    assert server.line() == "ready"
    client = peers(CLIENT, client_name, ["127.0.0.1", str(port), str(m), str(size), "send"])
    assert client.line() == str(m * size)
    assert server.line() == str(m * size)
    _wait_exact(daemon, client_name, {(OPENED, "active"): m, (CLOSED, None): m})
    _wait_exact(daemon, server_name, {(OPENED, "passive"): m, (CLOSED, None): m})
    client.finish()
    server.finish()
    time.sleep(FOLD_WAIT)
    assert _series(daemon, client_name) == {(OPENED, "active"): m, (CLOSED, None): m}
    assert _series(daemon, server_name) == {(OPENED, "passive"): m, (CLOSED, None): m}


def test_zero_linger_close_resets_are_sent_and_received(daemon, peers, service_name):
    k = 9
    port = harness.free_port()
    server_name, client_name = service_name + "-srv", service_name + "-cli"
    server = peers(SERVER, server_name, ["127.0.0.1", str(port), str(k), "linger0"])
    assert server.line() == "ready"
    client = peers(CLIENT, client_name, ["127.0.0.1", str(port), str(k), "0", "expect_reset"])
    assert client.line() == str(k)
    assert server.line() == "0"
    # The reset ends the connection on both sides: closed counts too.
    _wait_exact(daemon, server_name,
                {(OPENED, "passive"): k, (CLOSED, None): k, (RESETS, "sent"): k})
    _wait_exact(daemon, client_name,
                {(OPENED, "active"): k, (CLOSED, None): k, (RESETS, "received"): k})


def _tcp_snmp(netns: str) -> dict:
    """The Tcp: line of /proc/net/snmp inside `netns`, as {field: value}."""
    out = subprocess.run(["ip", "netns", "exec", netns, "cat", "/proc/net/snmp"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split()[1:] for line in out.splitlines() if line.startswith("Tcp:")]
    return dict(zip(rows[0], (int(v) for v in rows[1])))


class NetnsPair:
    """Two network namespaces joined by a veth pair: 10.200.<x>.1 on the client
    side, .2 on the server side. `rules` is an nftables ruleset body for the
    server side's ingress (chain `in` of table netdev `t` on its veth), where
    what the client sends can be dropped or refused before any socket sees it."""

    def __init__(self, rules: str):
        tag = f"{os.getpid() % 10000}"
        self.client_ns, self.server_ns = f"sltcp{tag}a", f"sltcp{tag}b"
        x = os.getpid() % 250 + 1
        self.client_ip, self.server_ip = f"10.200.{x}.1", f"10.200.{x}.2"
        self.delete()
        try:
            self._create(rules.format(client_ip=self.client_ip))
        except BaseException:
            self.delete()
            raise

    @staticmethod
    def _sh(*argv: str, stdin: Optional[str] = None) -> None:
        subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True,
                       timeout=30)

    def _create(self, rules: str) -> None:
        a, b = self.client_ns, self.server_ns
        self._sh("ip", "netns", "add", a)
        self._sh("ip", "netns", "add", b)
        self._sh("ip", "link", "add", "vclient", "netns", a, "type", "veth", "peer", "name",
                 "vserver", "netns", b)
        self._sh("ip", "-n", a, "addr", "add", f"{self.client_ip}/24", "dev", "vclient")
        self._sh("ip", "-n", b, "addr", "add", f"{self.server_ip}/24", "dev", "vserver")
        for ns, dev in ((a, "vclient"), (b, "vserver")):
            self._sh("ip", "-n", ns, "link", "set", "lo", "up")
            self._sh("ip", "-n", ns, "link", "set", dev, "up")
        ruleset = ("table netdev t {\n chain in {\n"
                   "  type filter hook ingress device vserver priority 0;\n"
                   f"  {rules}\n }}\n}}\n")
        self._sh("ip", "netns", "exec", b, "nft", "-f", "-", stdin=ruleset)

    def sysctl(self, ns: str, key: str, value: str) -> None:
        self._sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}")

    def delete(self) -> None:
        for ns in (self.client_ns, self.server_ns):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30)


@pytest.fixture
def lossy_link():
    """The server side drops 30% of what arrives from the client, at random:
    a lossy network for the client's segments and for its ACKs of the server's
    answer. (This kernel has no netem; nftables' random numbers drop at the
    same rate.)"""
    pair = NetnsPair("ip saddr {client_ip} numgen random mod 100 < 30 drop")
    yield pair.client_ns, pair.server_ns, pair.server_ip
    pair.delete()


# Starts N non-blocking connects to each of the given ports at once and
# prints, per port, the errors they ended with (errno names, sorted).
PARALLEL_CONNECTS = """
import errno, select, socket, sys
host, n, ports = sys.argv[1], int(sys.argv[2]), [int(p) for p in sys.argv[3:]]
pending = {}
for port in ports:
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        pending[s] = port
result = {p: [] for p in ports}
while pending:
    _, ready, _ = select.select([], list(pending), [], 60)
    if not ready:
        break
    for s in ready:
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        result[pending.pop(s)].append(errno.errorcode.get(err, str(err)))
        s.close()
print(" ".join(f"{p}:" + ",".join(sorted(result[p])) for p in ports), flush=True)
sys.stdin.read()
"""


def test_connect_timeouts_and_unreachable_hosts_are_told_apart(daemon, peers, service_name):
    """SYNs to one port vanish (the client gives up after its SYN retries); SYNs
    to another are answered with ICMP host-unreachable."""
    dropped, refused_icmp = 7001, 7002
    pair = NetnsPair(f"tcp dport {dropped} drop\n"
                     f"  tcp dport {refused_icmp} reject with icmp type host-unreachable")
    try:
        # One SYN retry: the connect times out after about 3 s, not 2 minutes.
        pair.sysctl(pair.client_ns, "net.ipv4.tcp_syn_retries", "1")
        n = 4
        client = peers(PARALLEL_CONNECTS, service_name,
                       [pair.server_ip, str(n), str(dropped), str(refused_icmp)],
                       netns=pair.client_ns)
        line = client.line(timeout=30)
        assert line == (f"{dropped}:" + ",".join(["ETIMEDOUT"] * n) + f" {refused_icmp}:" +
                        ",".join(["EHOSTUNREACH"] * n)), line
        # SYNs retransmitted before giving up, as the kernel counted them.
        retrans = _tcp_snmp(pair.client_ns)["RetransSegs"]
        assert retrans >= n
        expected = {(FAILURES, "timeout"): n, (FAILURES, "unreachable"): n,
                    (RETRANSMITS, None): retrans}
        _wait_exact(daemon, service_name, expected)
        client.finish()
        time.sleep(FOLD_WAIT)
        assert _series(daemon, service_name) == expected
    finally:
        pair.delete()


def test_retransmits_match_the_kernels_count_per_namespace(daemon, peers, service_name,
                                                           lossy_link):
    client_ns, server_ns, server_ip = lossy_link
    size = 3 << 20
    port = 8080
    server_name, client_name = service_name + "-srv", service_name + "-cli"
    before = (_tcp_snmp(client_ns)["RetransSegs"], _tcp_snmp(server_ns)["RetransSegs"])
    assert before == (0, 0)
    server = peers(SERVER, server_name, [server_ip, str(port), "1", "read"], netns=server_ns)
    assert server.line() == "ready"
    client = peers(CLIENT, client_name, [server_ip, str(port), "1", str(size), "send"],
                   netns=client_ns)
    assert client.line(timeout=180) == str(size)
    assert server.line() == str(size)
    client.finish()
    server.finish()

    # Each namespace holds only that one process's sockets: the kernel's own
    # count there is the service's count. The last retransmits (of a FIN) may
    # come after the processes exit; they are still theirs.
    def settled() -> Optional[tuple]:
        kernel = (_tcp_snmp(client_ns)["RetransSegs"], _tcp_snmp(server_ns)["RetransSegs"])
        m = daemon.metrics()
        seen = (m.total(RETRANSMITS, service_name=client_name),
                m.total(RETRANSMITS, service_name=server_name))
        return (kernel, seen) if kernel == seen else None

    try:
        kernel, seen = harness.wait_for(settled, timeout=30, interval=0.5)
    except TimeoutError as err:
        raise AssertionError(f"retransmits (client, server) never matched the kernel's: {err}")
    print(f"retransmits (client, server): kernel {kernel}, daemon {seen}")
    assert seen[0] > 0, "30% loss and no retransmit"
    time.sleep(1.5)  # and it stays so: the daemon was not just passing through
    assert settled() is not None, f"retransmits moved apart after matching at {kernel}"
    s = _series(daemon, client_name)
    assert s[(OPENED, "active")] == 1 and s[(CLOSED, None)] == 1
    s = _series(daemon, server_name)
    assert s[(OPENED, "passive")] == 1 and s[(CLOSED, None)] == 1


# Waits for a line on stdin, then connects N times to a port (closing each at
# once); prints N and waits for stdin to close.
GATED_CLIENT = """
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
sys.stdin.readline()
for _ in range(n):
    socket.create_connection(("127.0.0.1", port)).close()
print(n, flush=True)
sys.stdin.read()
"""


def test_pids_filter_counts_only_the_listed_processes(privileged, peers, service_name):
    """--pids: only the listed process is counted; its peers (not listed) are not."""
    n = 5
    port = harness.free_port()
    server = peers(SERVER, service_name + "-srv", ["127.0.0.1", str(port), str(2 * n), "read"])
    assert server.line() == "ready"
    listed = peers(GATED_CLIENT, service_name + "-in", [str(port), str(n)])
    other = peers(GATED_CLIENT, service_name + "-out", [str(port), str(n)])
    d = harness.start_daemon("--pids", str(listed.proc.pid))
    try:
        for p in (listed, other):
            p.proc.stdin.write("go\n")
            p.proc.stdin.flush()
            assert p.line() == str(n)
        assert server.line() == "0"
        _wait_exact(d, service_name + "-in", {(OPENED, "active"): n, (CLOSED, None): n})
        assert _series(d, service_name + "-out") == {}
        assert _series(d, service_name + "-srv") == {}
    finally:
        assert d.stop() == 0, d.stderr_text()[-3000:]
