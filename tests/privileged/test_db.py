"""PostgreSQL and Redis calls seen by the real probes, against real servers and
clients from Debian packages (postgresql, pgbench, psql, redis-server,
redis-benchmark, redis-cli).

Every client runs with its own OTEL_SERVICE_NAME, so each test reads its own
series: db_client_operation_duration_seconds counts per operation and error,
open connections, cache lookups, and Redis lists used as queues.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import harness
from dbfixtures import Postgres, Redis, wait_settled

DB = "db_client_operation_duration_seconds"
CONNS = "db_client_connections_open"

# pgbench's built-in tpcb-like transaction, as a script file: with -f and -n
# pgbench sends nothing but these statements (no table probing, no vacuum).
TPCB = textwrap.dedent("""\
    \\set aid random(1, 100000)
    \\set bid random(1, 1)
    \\set tid random(1, 10)
    \\set delta random(-5000, 5000)
    BEGIN;
    UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
    SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
    UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
    UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
    INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
    END;
""")


def operations(m, service: str) -> dict:
    """{(operation, error_type): count} of one service."""
    return {k: v for k, v in harness.keyed(m, DB + "_count", service,
                                            ("db_operation_name", "error_type")).items() if v}


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    server = Postgres().start()
    try:
        init = subprocess.run(["pgbench", "-i", "-s", "1", "-q"],
                              env=server.env("pgbench-init"), capture_output=True, text=True,
                              timeout=120)
        assert init.returncode == 0, init.stderr
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis():
    server = Redis().start()
    yield server
    server.stop()


@pytest.mark.parametrize("mode,sslmode", [("simple", "prefer"), ("extended", "disable"),
                                          ("prepared", "disable")])
def test_pgbench_counts_every_statement(daemon, pg, tmp_path, service_name, mode, sslmode):
    clients, per_client = 4, 50
    script = tmp_path / "tpcb.sql"
    script.write_text(TPCB)
    run = subprocess.run(["pgbench", "-n", "-M", mode, "-c", str(clients), "-j", "2",
                          "-t", str(per_client), "-f", str(script)],
                         env=pg.env(service_name, sslmode), capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, run.stderr
    txns = clients * per_client
    assert f"number of transactions actually processed: {txns}/{txns}" in run.stdout

    want = {"BEGIN": txns, "UPDATE": 3 * txns, "SELECT": txns, "INSERT": txns, "END": txns}
    expected = [(DB, {"service_name": service_name, "db_operation_name": op,
                      "db_system_name": "postgresql", "error_type": ""}, float(n))
                for op, n in want.items()]
    m = harness.wait_exact(daemon, expected, timeout=20)
    # Nothing else: no other operation, no error, nothing unanswered.
    assert operations(m, service_name) == {(op, ""): float(n) for op, n in want.items()}
    assert m.total("sightline_db_operations_unanswered_total", service_name=service_name) == 0
    # pgbench's connections (the clients and its first check) all closed.
    assert m.total(CONNS, service_name=service_name) == 0


def test_psql_errors_carry_their_sqlstate(daemon, pg, service_name):
    assert pg.psql("SELECT 1", service_name).stdout.strip() == "1"
    bad = pg.psql("SELECT * FROM no_such_table", service_name, check=False)
    assert bad.returncode != 0 and "no_such_table" in bad.stderr
    syntax = pg.psql("SELEC 1", service_name, check=False)
    assert syntax.returncode != 0
    dup = pg.psql("CREATE TABLE pg_class_clash (a int); CREATE TABLE pg_class_clash (a int)",
                  service_name, check=False)
    assert dup.returncode != 0
    expected = {("SELECT", ""): 1.0, ("SELECT", "42P01"): 1.0, ("SELEC", "42601"): 1.0,
                ("CREATE", ""): 1.0, ("CREATE", "42P07"): 1.0}
    got = harness.wait_for(lambda: (lambda o: o if o == expected else None)(
        operations(daemon.metrics(), service_name)), timeout=10,
        message=f"psql operations of {service_name}")
    assert got == expected


def test_postgres_inside_tls(daemon, tls_cert, service_name):
    server = Postgres(ssl_dir=tls_cert).start()
    try:
        for _ in range(3):
            assert server.psql("SELECT 41 + 1", service_name, sslmode="require").stdout.strip() == "42"
        assert "SSL" in subprocess.run(
            ["psql", "-X", "-c", r"\conninfo"], env=server.env(None, "require"),
            capture_output=True, text=True).stdout
        m = harness.wait_exact(daemon, [(DB, {"service_name": service_name,
                                             "db_operation_name": "SELECT"}, 3.0)], timeout=10)
        assert operations(m, service_name) == {("SELECT", ""): 3.0}
    finally:
        server.stop()


@pytest.mark.parametrize("pipeline", [1, 16])
def test_redis_benchmark_counts_every_command(daemon, redis, service_name, pipeline):
    n = 2000
    tests = ["set", "get", "incr", "lpush", "rpop", "hset"]
    run = subprocess.run(["redis-benchmark", "-h", harness.LOOPBACK, "-p", str(redis.port),
                          "-n", str(n), "-c", "4", "-P", str(pipeline), "-q",
                          "-t", ",".join(tests)],
                         env=harness.client_env(service_name), capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, run.stderr
    expected = [(DB, {"service_name": service_name, "db_operation_name": t.upper(),
                      "error_type": ""}, float(n)) for t in tests]
    m = harness.wait_exact(daemon, expected, timeout=20)
    ops = operations(m, service_name)
    # Only the benchmark's own configuration reads besides.
    assert {k: v for k, v in ops.items() if k[0] != "CONFIG"} == \
        {(t.upper(), ""): float(n) for t in tests}
    # Its list: n pushed, n popped.
    q = {"service_name": service_name, "messaging_destination_name": "mylist"}
    assert m.total("messaging_client_sent_messages_total", **q) == n
    assert m.total("messaging_client_consumed_messages_total", **q) == n
    assert m.total("sightline_parse_errors_total", protocol="redis") == 0


def test_redis_errors_cache_hits_and_queue_depth(daemon, redis, service_name):
    cli = lambda *a, **k: redis.cli(*a, service_name=service_name, **k)  # noqa: E731
    cli("SET", "plain", "v")
    assert "WRONGTYPE" in cli("LPUSH", "plain", "x")
    assert cli("GET", "plain") == "v"
    assert cli("GET", "absent") == ""
    cli("MGET", "plain", "absent", "absent2")
    # A queue: 50 jobs pushed on one connection, 20 taken by a blocking consumer.
    cli("LPUSH", "jobs", "job", repeat=50)
    cli("BRPOP", "jobs", "1", repeat=20)
    assert cli("LLEN", "jobs") == "30"

    expected = {("SET", ""): 1.0, ("LPUSH", "WRONGTYPE"): 1.0, ("GET", ""): 2.0,
                ("MGET", ""): 1.0, ("LPUSH", ""): 50.0, ("BRPOP", ""): 20.0, ("LLEN", ""): 1.0}
    got = harness.wait_for(lambda: (lambda o: o if o == expected else None)(
        operations(daemon.metrics(), service_name)), timeout=10,
        message=f"redis operations of {service_name}")
    assert got == expected
    m = daemon.metrics()
    cache = {"service_name": service_name, "db_system_name": "redis"}
    assert m.total("db_client_cache_lookups_total", result="hit", **cache) == 2
    assert m.total("db_client_cache_lookups_total", result="miss", **cache) == 3
    q = {"service_name": service_name, "messaging_destination_name": "jobs"}
    assert m.total("messaging_client_sent_messages_total", **q) == 50
    assert m.total("messaging_client_consumed_messages_total", **q) == 20
    depth = m.samples("messaging_queue_depth", messaging_destination_name="jobs",
                      server_port=str(redis.port))
    assert [v for _, v in depth] == [30.0]


def test_redis_connection_pool_size(daemon, redis, service_name):
    # Five connections that each say PING and then stay open.
    holder = textwrap.dedent(f"""
        import socket, sys, time
        conns = []
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", {redis.port}))
            s.sendall(b"*1\\r\\n$4\\r\\nPING\\r\\n")
            assert s.recv(64) == b"+PONG\\r\\n"
            conns.append(s)
        print("ready", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([harness.PYTHON, "-c", holder], stdout=subprocess.PIPE, text=True,
                            env=harness.client_env(service_name))
    try:
        assert proc.stdout.readline().strip() == "ready"
        pool = {"service_name": service_name, "db_system_name": "redis",
                "server_port": str(redis.port)}
        assert harness.wait_for(lambda: daemon.metrics().total(CONNS, **pool) == 5, timeout=10)
    finally:
        proc.kill()
        proc.wait()
    # The process is gone: its connections with it.
    assert harness.wait_for(lambda: daemon.metrics().total(CONNS, **pool) == 0, timeout=10)
    m = daemon.metrics()
    assert operations(m, service_name) == {("PING", ""): 5.0}
