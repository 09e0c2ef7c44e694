"""The fixture servers start, answer with their documented sizes and stop cleanly.

Needs no daemon and no root; guards the fixtures that the privileged tests and
the benchmark build on.
"""

import pytest

import harness


def get(fixture, path):
    status, body = harness.http_get(fixture.url + path)
    return status, len(body)


def check_stop(fixture):
    assert fixture.stop() == 0, fixture.stderr_text()


def test_python_server():
    srv = harness.start_python_server()
    try:
        assert get(srv, "/ok") == (200, 2)
        assert get(srv, "/bad") == (400, 11)
        assert get(srv, "/boom") == (500, 14)
        assert get(srv, "/sleep") == (200, 5)
        assert get(srv, "/nope") == (404, 9)
        assert harness.pipeline(srv.port, 2, paths=["/create"], method="POST",
                                body="x" * 42) == [(201, 16), (201, 16)]
    finally:
        check_stop(srv)


def test_fastapi_app():
    srv = harness.start_fastapi_app()
    try:
        assert get(srv, "/api/health") == (200, 15)
        assert get(srv, "/api/campaigns/42") == (200, 29)
        assert get(srv, "/api/error") == (500, 20)
        assert get(srv, "/nope") == (404, 22)
        assert harness.pipeline(srv.port, 1, paths=["/api/campaigns"], method="POST",
                                body="x" * 42) == [(201, 30)]
        assert harness.pipeline(srv.port, 1, paths=["/api/validate"], method="POST",
                                body="{}") == [(400, 19)]
    finally:
        check_stop(srv)


def test_node_server():
    srv = harness.start_node_server()
    try:
        assert get(srv, "/chunked/0") == (200, 0)
        assert get(srv, "/chunked/7") == (200, 700)
        assert get(srv, "/plain") == (200, 13)
        assert get(srv, "/nope") == (404, 9)
        assert harness.pipeline(srv.port, 3, paths=["/chunked/3", "/plain"]) == \
            [(200, 300), (200, 13), (200, 300)]
    finally:
        check_stop(srv)


def test_go_server(go_server_bin):
    srv = harness.start_go_server(go_server_bin)
    try:
        assert get(srv, "/items/42") == (200, 11)
        assert get(srv, "/missing") == (404, 7)
        assert harness.pipeline(srv.port, 4, paths=["/items/1", "/missing"]) == \
            [(200, 10), (404, 7), (200, 10), (404, 7)]
        assert harness.pipeline(srv.port, 2, paths=["/echo"], method="POST",
                                body="hello") == [(200, 5), (200, 5)]
    finally:
        check_stop(srv)


def test_nginx(tmp_path):
    srv = harness.start_nginx(tmp_path / "nginx", service_name="web")
    try:
        assert get(srv, "/") == (200, 2)
        assert get(srv, "/missing") == (404, 7)
        assert harness.pipeline(srv.port, 3, paths=["/old", "/big", "/nope"]) == \
            [(301, 162), (200, 1048576), (404, 146)]
    finally:
        check_stop(srv)


@pytest.mark.parametrize("mode,args", [
    ("random", []),
    ("random", ["--prefix", "GET / HTTP/1.1\\r\\n"]),
    ("bigheader", []),
    ("truncated", []),
    ("reset", ["--path", "/big"]),
])
def test_hostile_client_against_nginx(tmp_path, mode, args):
    srv = harness.start_nginx(tmp_path / "nginx")
    try:
        line = harness.hostile(mode, srv.port, *args)
        assert line.startswith(f"{mode} sent=")
        # nginx keeps serving after each kind of abuse.
        assert get(srv, "/") == (200, 2)
    finally:
        check_stop(srv)
