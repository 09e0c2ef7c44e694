"""Real PostgreSQL and Redis servers (Debian packages) for the privileged tests.

Both listen on a free 127.0.0.1 port, keep their data in a temporary directory
and go away at stop(). PostgreSQL refuses to run as root, so its cluster
belongs to the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

import harness

PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]) \
    if glob.glob("/usr/lib/postgresql/*/bin") else Path("/usr/lib/postgresql/15/bin")


def _as_postgres(argv: Sequence[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv]


class Postgres:
    """A throwaway PostgreSQL cluster: trust authentication on 127.0.0.1."""

    def __init__(self, ssl_dir: Optional[Path] = None):
        self.port = harness.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sightline-pg-"))
        self.data = self.dir / "data"
        self.ssl_dir = ssl_dir
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "Postgres":
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U",
                                     "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True, text=True)
        args = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        if self.ssl_dir:
            # The server reads its key as the postgres user, private to it.
            for name in ("cert.pem", "key.pem"):
                dst = self.dir / name
                shutil.copy(self.ssl_dir / name, dst)
                os.chown(dst, pw.pw_uid, pw.pw_gid)
                os.chmod(dst, 0o600)
            args += ["-c", "ssl=on", "-c", f"ssl_cert_file={self.dir / 'cert.pem'}",
                     "-c", f"ssl_key_file={self.dir / 'key.pem'}"]
        else:
            args += ["-c", "ssl=off"]
        log = open(self.dir / "server.log", "w")
        self.proc = subprocess.Popen(
            _as_postgres([str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
                          *args]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        harness.wait_for(lambda: self.proc.poll() is not None or subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", harness.LOOPBACK, "-p", str(self.port)]
        ).returncode == 0, timeout=30, message="postgres ready")
        if self.proc.poll() is not None:
            raise RuntimeError(f"postgres exited: {self.log()}")
        return self

    def log(self) -> str:
        try:
            return (self.dir / "server.log").read_text()[-3000:]
        except OSError:
            return ""

    def env(self, service_name: Optional[str], sslmode: str = "disable",
            extra: Optional[Mapping[str, str]] = None) -> dict:
        """Environment for libpq clients (psql, pgbench) of this server."""
        env = {"PGHOST": harness.LOOPBACK, "PGPORT": str(self.port), "PGUSER": "postgres",
               "PGDATABASE": "postgres", "PGSSLMODE": sslmode, "PGCONNECT_TIMEOUT": "10"}
        if extra:
            env.update(extra)
        return harness.client_env(service_name, env)

    def psql(self, sql: str, service_name: Optional[str], sslmode: str = "disable",
             check: bool = True) -> subprocess.CompletedProcess:
        """Runs one psql -c (no psqlrc, so psql sends nothing but `sql`)."""
        return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              env=self.env(service_name, sslmode), capture_output=True,
                              text=True, timeout=60, check=check)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # smart shutdown: waits for clients
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A redis-server with no persistence on 127.0.0.1."""

    def __init__(self):
        self.port = harness.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sightline-redis-"))
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "Redis":
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", harness.LOOPBACK,
             "--save", "", "--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        harness.wait_for(lambda: self.proc.poll() is not None or self.cli_raw(
            ["PING"], None).stdout.strip() == "PONG", timeout=15, message="redis ready")
        if self.proc.poll() is not None:
            raise RuntimeError("redis-server exited")
        return self

    def cli_raw(self, args: Sequence[str], service_name: Optional[str],
                repeat: int = 0) -> subprocess.CompletedProcess:
        argv = ["redis-cli", "-h", harness.LOOPBACK, "-p", str(self.port)]
        if repeat:
            argv += ["-r", str(repeat)]
        return subprocess.run(argv + list(args), env=harness.client_env(service_name),
                              capture_output=True, text=True, timeout=60)

    def cli(self, *args: str, service_name: Optional[str] = None, repeat: int = 0) -> str:
        """One redis-cli run (one connection; `repeat` runs the command that many times)."""
        r = self.cli_raw(args, service_name, repeat)
        if r.returncode != 0:
            raise RuntimeError(f"redis-cli {args}: {r.stderr}")
        return r.stdout.strip()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_settled(read, timeout: float = 10.0, settle: float = 1.0):
    """Waits until read() returns the same value twice `settle` seconds apart."""
    deadline = time.monotonic() + timeout
    last = read()
    while time.monotonic() < deadline:
        time.sleep(settle)
        now = read()
        if now == last:
            return now
        last = now
    return last
