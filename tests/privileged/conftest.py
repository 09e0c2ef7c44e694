"""pytest fixtures for the privileged tests (see harness.py for the helpers).

Run as root:  /usr/bin/python3 -m pytest tests/privileged

Tests that use the `daemon` fixture need root and a built build/sightline. When
either is missing they are skipped, unless SIGHTLINE_REQUIRE_BPF=1 (as in CI),
which turns the skip into a failure. Tests that use neither (the parser
self-test) run anywhere.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import Iterable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


def _unavailable(reason: str) -> None:
    if os.environ.get("SIGHTLINE_REQUIRE_BPF") == "1":
        pytest.fail(f"{reason} (SIGHTLINE_REQUIRE_BPF=1)")
    pytest.skip(reason)


def _require_privileged() -> None:
    if os.geteuid() != 0:
        _unavailable("privileged test needs root")
    if not harness.daemon_binary().exists():
        _unavailable(f"{harness.daemon_binary()} is not built")


@pytest.fixture(scope="session")
def daemon():
    """One daemon shared by the session; give each test its own service_name."""
    _require_privileged()
    d = harness.start_daemon()
    yield d
    code = d.stop()
    # A crash during the session should not pass unnoticed.
    assert code == 0, f"daemon exited with {code}:\n{d.stderr_text()}"


@pytest.fixture
def fresh_daemon():
    """A daemon for this test alone, for tests that restart or stress it."""
    _require_privileged()
    d = harness.start_daemon()
    yield d
    d.stop()


@pytest.fixture
def privileged() -> None:
    """For tests that run the daemon themselves: root and a built daemon, or skip."""
    _require_privileged()


@pytest.fixture
def own_daemon():
    """start(ports, *args): a daemon of this test's own following only connections
    with one of `ports` at either end (--ports); stopped, and checked to exit 0,
    at teardown."""
    started: list = []

    def start(ports: Iterable[int], *args: str) -> harness.Daemon:
        _require_privileged()
        d = harness.start_daemon("--ports", ",".join(str(p) for p in ports), *args)
        started.append(d)
        return d

    yield start
    for d in started:
        code = d.stop()
        assert code == 0, f"daemon exited with {code}:\n{d.stderr_text()[-3000:]}"


_names = itertools.count(1)


@pytest.fixture
def service_name(request) -> str:
    """A service name unique to this test, so counts never mix across tests."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")
    return f"t{next(_names)}-{base}"[:60]


@pytest.fixture
def servers():
    """Collects fixtures started by a test and stops them all at teardown.

    Usage: srv = servers(harness.start_python_server(service_name=name))
    """
    started: list = []

    def track(fixture):
        started.append(fixture)
        return fixture

    yield track
    for fixture in reversed(started):
        fixture.stop()


@pytest.fixture(scope="session")
def go_server_bin(tmp_path_factory) -> Path:
    """The Go fixture, built once per session without network access."""
    return harness.build_go_server(tmp_path_factory.mktemp("go_server"))


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> Path:
    """A directory with cert.pem and key.pem: a self-signed EC certificate for
    localhost and 127.0.0.1 (tests/fixtures/tls_cert.sh), made once per session."""
    return harness.make_tls_cert(tmp_path_factory.mktemp("tls_cert"))


@pytest.fixture(scope="session")
def go_tls_bin(tmp_path_factory) -> Path:
    """The Go crypto/tls fixture (tests/fixtures/go_tls), built once per session."""
    return harness.build_go_tls(tmp_path_factory.mktemp("go_tls"))


@pytest.fixture(scope="session")
def go_tls_stripped_bin(tmp_path_factory) -> Path:
    """The same Go fixture linked with -s -w: no symbol table, no DWARF."""
    return harness.build_go_tls(tmp_path_factory.mktemp("go_tls_stripped"), stripped=True)
