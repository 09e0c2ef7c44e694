"""Self-test of the harness's Prometheus text parser and query helpers.

Needs neither root nor the daemon:  /usr/bin/python3 -m pytest tests/privileged/test_harness_parser.py
"""

import math
import shutil

import pytest

from harness import ParseError, parse_metrics, promtool_check, wait_for

EXPOSITION = r'''# HELP http_server_request_duration_seconds Duration of HTTP server requests.
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{service_name="shop",http_request_method="GET",http_response_status_code="200",http_route="/items/{id}",le="0.005"} 3
http_server_request_duration_seconds_bucket{service_name="shop",http_request_method="GET",http_response_status_code="200",http_route="/items/{id}",le="0.1"} 5
http_server_request_duration_seconds_bucket{service_name="shop",http_request_method="GET",http_response_status_code="200",http_route="/items/{id}",le="+Inf"} 6
http_server_request_duration_seconds_sum{service_name="shop",http_request_method="GET",http_response_status_code="200",http_route="/items/{id}"} 0.75
http_server_request_duration_seconds_count{service_name="shop",http_request_method="GET",http_response_status_code="200",http_route="/items/{id}"} 6
http_server_request_duration_seconds_bucket{service_name="shop",http_request_method="POST",http_response_status_code="500",http_route="/items",le="0.005"} 0
http_server_request_duration_seconds_bucket{service_name="shop",http_request_method="POST",http_response_status_code="500",http_route="/items",le="0.1"} 1
http_server_request_duration_seconds_bucket{service_name="shop",http_request_method="POST",http_response_status_code="500",http_route="/items",le="+Inf"} 1
http_server_request_duration_seconds_sum{service_name="shop",http_request_method="POST",http_response_status_code="500",http_route="/items"} 0.05
http_server_request_duration_seconds_count{service_name="shop",http_request_method="POST",http_response_status_code="500",http_route="/items"} 1
http_server_request_duration_seconds_count{service_name="other",http_request_method="GET",http_response_status_code="200",http_route="/"} 10
# HELP sightline_events_lost_total Events lost, by reason. Back\\slash and\nnewline.
# TYPE sightline_events_lost_total counter
sightline_events_lost_total{reason="ringbuf_full"} 7
sightline_events_lost_total{reason="capture_truncated"} 2
# TYPE weird gauge
weird{quote="say \"hi\"",backslash="a\\b",newline="line1\nline2",comma="a,b}c",empty=""} 1.5e3
weird{ spaced = "x" , trailing="y",} -Inf 1700000000000
weird NaN
weird_plain 42
'''


@pytest.fixture(scope="module")
def metrics():
    return parse_metrics(EXPOSITION)


def test_types_and_help(metrics):
    assert metrics.types["http_server_request_duration_seconds"] == "histogram"
    assert metrics.types["sightline_events_lost_total"] == "counter"
    assert metrics.helps["sightline_events_lost_total"] == \
        "Events lost, by reason. Back\\slash and\nnewline."


def test_keys_are_name_and_label_set(metrics):
    key = ("sightline_events_lost_total", frozenset({("reason", "ringbuf_full")}))
    assert metrics[key] == 7
    assert metrics[("weird_plain", frozenset())] == 42
    assert len(metrics) == 17


def test_label_value_escapes(metrics):
    labels = {"quote": 'say "hi"', "backslash": "a\\b", "newline": "line1\nline2",
              "comma": "a,b}c", "empty": ""}
    assert metrics.get_sample("weird", **labels) == 1500.0


def test_whitespace_trailing_comma_timestamp_and_specials(metrics):
    assert metrics.get_sample("weird", spaced="x", trailing="y") == -math.inf
    assert math.isnan(metrics.get_sample("weird"))


def test_histogram_helpers(metrics):
    name = "http_server_request_duration_seconds"
    assert metrics.count(name, service_name="shop") == 7
    assert metrics.count(name, service_name="shop", http_request_method="GET",
                         http_response_status_code=200, http_route="/items/{id}") == 6
    assert metrics.count(name, http_response_status_code="500") == 1
    assert metrics.count(name, service_name="nobody") == 0
    assert metrics.sum_(name, service_name="shop") == pytest.approx(0.8)
    assert metrics.bucket(name, 0.1, service_name="shop") == 6
    assert metrics.bucket(name, "+Inf", service_name="shop") == 7
    assert metrics.bucket(name, math.inf, http_request_method="POST") == 1
    assert metrics.label_values(name + "_count", "service_name") == {"shop", "other"}


def test_total_sums_a_counter_over_labels(metrics):
    assert metrics.total("sightline_events_lost_total") == 9
    assert metrics.total("sightline_events_lost_total", reason="capture_truncated") == 2
    assert not metrics.has("sightline_absent_total")


@pytest.mark.parametrize("bad", [
    'm{a="x} 1',                # unterminated value
    'm{a="x\\q"} 1',            # unknown escape
    'm{a="x",a="y"} 1',         # repeated label
    'm{a=x} 1',                 # unquoted value
    'm{a="x"}1',                # no space before the value
    'm{a="x"} one',             # not a number
    'm 1 2 3',                  # too many fields
    'm',                        # no value
    '1m 1',                     # bad name
    'm 1\nm 2',                 # repeated sample
    '# TYPE m flavour',         # unknown type
])
def test_rejects_malformed(bad):
    with pytest.raises(ParseError):
        parse_metrics(bad)


def test_wait_for_returns_value_and_times_out():
    calls = []

    def third_time():
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert wait_for(third_time, timeout=2, interval=0.01) == 3
    with pytest.raises(TimeoutError, match="never"):
        wait_for(lambda: False, timeout=0.05, interval=0.01, message="never")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check():
    good = ("# HELP sightline_events_total Events read.\n"
            "# TYPE sightline_events_total counter\n"
            'sightline_events_total{kind="data"} 3\n')
    assert promtool_check(good).ok
    lint = promtool_check("# TYPE bad counter\nbad 1\n")
    assert lint.returncode == 3 and any("_total" in p for p in lint.problems)
    assert promtool_check('m{a="1 3\n').returncode == 1
