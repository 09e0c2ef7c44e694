"""GenAI accounting: every AI API call is counted with its provider, operation,
models, tokens per type, cost, latency and time to first chunk, from the TLS
plaintext of the calling process, with no change to it.

Clients are real: the official SDKs from npm (openai, @anthropic-ai/sdk,
@google/genai, pinned in tests/fixtures/genai/package-lock.json; Node's fetch,
OpenSSL linked into node), Debian's python3 http.client and curl (system
libssl.so.3). The server is tests/fixtures/genai/mock_provider.js, answering
each provider's routes byte for byte as the SDKs expect, with usage, models,
delays, errors, rate-limit headers, compression and framing set per request by
an x-mock-scenario header (see its header comment).

Two ways to reach it:
  - base URL: the SDKs' baseURL / baseUrl / endpoint point at 127.0.0.1:<port>
    (or localhost:<port>). Anthropic, Gemini and Azure are recognised by their
    request headers (anthropic-version, x-goog-api-key, api-key) on a port the
    daemon knows nothing about; the OpenAI SDK sends no such header, so its mock
    port is declared with --openai-compatible-host 127.0.0.1:<port> and
    localhost:<port>.
  - real host names: inside a network namespace of the test's own, whose
    /etc/hosts (bind-mounted in a private mount namespace) resolves
    api.openai.com, api.anthropic.com, generativelanguage.googleapis.com and
    sightline-test.openai.azure.com to the mock on its loopback port 443. No flag.

Expected values come from the scenario given to the mock, normalised as
GENAI.md says (input includes cached and cache-write tokens; output includes
reasoning), and priced from GENAI.md's table below (dated snapshots fall back to
their base model unless they have an entry of their own; Gemini 2.5 Pro's long
context tier above 200k prompt tokens). Every test has its own service_name and
compares the complete set of gen_ai_* series of that service with what it
expects: labels, exact token counts per type, cost to 1e-9 USD, error types,
retries; time to first chunk (histogram sum / count) within 20 ms above the
mock's programmed delay. Unspecified details are left free: the response model
of a failed attempt, zero-valued series, and a zero "output" observation for
embeddings.

One daemon serves the module (started before the mocks, with --ports limited to
the mocks' ports); the mock itself is a node process the daemon also sees, as a
server: no gen_ai_* series may carry its service name.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

import harness
from harness import GenaiNetns, genai_served

DURATION = "gen_ai_client_operation_duration_seconds"
TOKEN_USAGE = "gen_ai_client_token_usage"
TOKENS = "gen_ai_client_tokens_total"
COST = "gen_ai_client_cost_usd_total"
TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds"
UNKNOWN = "gen_ai_client_token_usage_unknown_total"
UNPRICED = "gen_ai_client_unpriced_operations_total"
RETRIES = "gen_ai_client_retries_total"
RATE_LIMIT = "gen_ai_client_rate_limit_remaining"
GENAI_METRICS = (DURATION, TOKEN_USAGE, TOKENS, COST, TTFC, UNKNOWN, UNPRICED, RETRIES,
                 RATE_LIMIT)

MOCK_SERVICE = "genai-mock"
TOKEN_TYPES = ("input", "output", "cache_read", "cache_creation", "reasoning")
# Time to first chunk: within 20 ms of the programmed delay, either way. The
# mock's timer can fire a little early: Node starts it from the event loop's
# cached clock, which lags when the request head is handled late in a loop turn.
TTFC_SLACK = 0.020
TTFC_EARLY = 0.020

# ---------------------------------------------------------------------------
# Prices (GENAI.md), USD per 1M tokens: (input, cache read, cache write, output).
# None: no such price (the tests never send those tokens to that model).
PRICES = {
    "gpt-4o": (2.50, 1.25, None, 10.00),
    "gpt-4o-2024-05-13": (5.00, None, None, 15.00),
    "gpt-4o-mini": (0.15, 0.075, None, 0.60),
    "gpt-4.1": (2.00, 0.50, None, 8.00),
    "gpt-5": (1.25, 0.125, None, 10.00),
    "gpt-5-mini": (0.25, 0.025, None, 2.00),
    "o3": (2.00, 0.50, None, 8.00),
    "text-embedding-3-small": (0.02, None, None, 0.0),
    "claude-sonnet-4-5": (3.00, 0.30, 3.75, 15.00),
    "claude-haiku-4-5": (1.00, 0.10, 1.25, 5.00),
    "claude-opus-4-1": (15.00, 1.50, 18.75, 75.00),
    "gemini-2.5-pro": (1.25, 0.125, None, 10.00),
    "gemini-2.5-flash": (0.30, 0.03, None, 2.50),
}
# Long-context tiers: model -> (prompt tokens above which it applies, prices).
LONG_CONTEXT = {"gemini-2.5-pro": (200_000, (2.50, None, None, 15.00))}
DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


def price_of(response_model: str, request_model: str, input_tokens: int):
    """The response model's prices, else the request model's; a dated snapshot
    falls back to its base name unless it has an entry of its own. None: unpriced."""
    for name in (response_model, request_model):
        for candidate in (name, DATED.sub("", name)):
            if candidate in PRICES:
                tier = LONG_CONTEXT.get(candidate)
                if tier and input_tokens > tier[0]:
                    return tier[1]
                return PRICES[candidate]
    return None


def cost_usd(tokens: dict, price: tuple) -> float:
    inp, cached, write, out = price
    cache_read = tokens.get("cache_read", 0)
    cache_creation = tokens.get("cache_creation", 0)
    assert cache_read == 0 or cached is not None, "no cache-read price for this model"
    assert cache_creation == 0 or write is not None, "no cache-write price for this model"
    uncached = tokens["input"] - cache_read - cache_creation
    return (uncached * inp + cache_read * (cached or 0.0) + cache_creation * (write or 0.0)
            + tokens["output"] * out) / 1e6


# ---------------------------------------------------------------------------
# What one call should book


# sdk_client.js op -> (gen_ai_provider_name, gen_ai_operation_name, streamed)
SDK_OPS = {
    "openai.chat": ("openai", "chat", False),
    "openai.chat_stream": ("openai", "chat", True),
    "openai.responses": ("openai", "chat", False),
    "openai.responses_stream": ("openai", "chat", True),
    "openai.embeddings": ("openai", "embeddings", False),
    "azure.chat": ("azure.ai.openai", "chat", False),
    "azure.chat_stream": ("azure.ai.openai", "chat", True),
    "anthropic.messages": ("anthropic", "chat", False),
    "anthropic.messages_stream": ("anthropic", "chat", True),
    "gemini.generate": ("gcp.gemini", "generate_content", False),
    "gemini.generate_stream": ("gcp.gemini", "generate_content", True),
}


@dataclass
class Op:
    """One operation as the daemon should book it (`count` times)."""
    provider: str
    operation: str
    request_model: str
    response_model: str
    tokens: Optional[dict] = None  # normalised usage; None: the wire carried none
    error_type: str = ""
    delay_ms: Optional[int] = None  # streamed: time to first chunk, as programmed
    count: int = 1


def usage(input: int, output: int, cache_read: int = 0, cache_creation: int = 0,
          reasoning: int = 0) -> dict:
    return {"input": input, "output": output, "cache_read": cache_read,
            "cache_creation": cache_creation, "reasoning": reasoning}


def sdk(op: str, model: str, response_model: str, tokens: dict, delay_ms: int = 0,
        **extra) -> tuple[dict, Op]:
    """A successful SDK call: (its plan entry for sdk_client.js, what it books)."""
    provider, operation, streamed = SDK_OPS[op]
    scenario = {"model": response_model, "usage": tokens, "delay_ms": delay_ms}
    scenario.update(extra.pop("scenario", {}))
    call = {"op": op, "model": model, "scenario": scenario, **extra}
    known = not (streamed and op.endswith("chat_stream") and extra.get("include_usage") is False)
    return call, Op(provider, operation, model, response_model, tokens if known else None,
                    delay_ms=delay_ms if streamed else None)


def raw_op(provider: str, operation: str, model: str, response_model: str, tokens: dict,
           delay_ms: Optional[int] = None) -> Op:
    return Op(provider, operation, model, response_model, tokens, delay_ms=delay_ms)


# ---------------------------------------------------------------------------
# Expected and observed tables, per service

K4 = ("gen_ai_provider_name", "gen_ai_operation_name", "gen_ai_request_model",
      "gen_ai_response_model")
K_COST = ("gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model")
K_UNKNOWN = ("gen_ai_provider_name", "gen_ai_operation_name", "gen_ai_request_model")
K_RETRIES = ("gen_ai_provider_name", "gen_ai_operation_name")
K_RATE = ("gen_ai_provider_name", "limit_type")
FLOAT_TABLES = ("cost",)


def expected_tables(ops: list[Op], retries: Optional[dict] = None) -> dict:
    t: dict = {name: defaultdict(float) for name in (
        "duration", "tokens", "usage_count", "usage_sum", "cost", "unpriced", "unknown",
        "ttfc_count")}
    ttfc_delay: dict = {}
    for op in ops:
        k4 = (op.provider, op.operation, op.request_model, op.response_model)
        n = op.count
        if op.error_type:
            # The response model of a failed attempt is not specified: left free.
            t["duration"][k4[:3] + ("*", op.error_type)] += n
            continue
        t["duration"][k4 + ("",)] += n
        if op.delay_ms is not None:
            t["ttfc_count"][k4 + ("",)] += n
            ttfc_delay[k4 + ("",)] = op.delay_ms / 1000
        if op.tokens is None:
            t["unknown"][k4[:3]] += n
            continue
        for kind in TOKEN_TYPES:
            if op.tokens.get(kind):
                t["tokens"][k4 + (kind,)] += op.tokens[kind] * n
        for kind in ("input", "output"):
            if op.tokens.get(kind):
                t["usage_sum"][k4 + (kind,)] += op.tokens[kind] * n
                t["usage_count"][k4 + (kind,)] += n
        price = price_of(op.response_model, op.request_model, op.tokens["input"])
        if price is None:
            t["unpriced"][(op.provider, op.request_model, op.response_model)] += n
        else:
            cost = cost_usd(op.tokens, price) * n
            if cost:
                t["cost"][(op.provider, op.request_model, op.response_model)] += cost
    out = {name: dict(table) for name, table in t.items()}
    out["retries"] = dict(retries or {})
    out["ttfc_delay"] = ttfc_delay
    return out


def _table(m: harness.Metrics, sample: str, service: str, names: tuple,
           nonzero: bool = True) -> dict:
    out: dict = defaultdict(float)
    for labels, value in m.samples(sample, service_name=service):
        out[tuple(labels.get(n, "") for n in names)] += value
    return {k: v for k, v in out.items() if v or not nonzero}


def observed_tables(m: harness.Metrics, service: str) -> dict:
    duration: dict = defaultdict(float)
    for (*k4, err), value in _table(m, DURATION + "_count", service, K4 + ("error_type",)).items():
        key = tuple(k4[:3]) + ("*" if err else k4[3], err)
        duration[key] += value
    usage_sum = _table(m, TOKEN_USAGE + "_sum", service, K4 + ("gen_ai_token_type",))
    usage_count = _table(m, TOKEN_USAGE + "_count", service, K4 + ("gen_ai_token_type",))
    ttfc_count = _table(m, TTFC + "_count", service, K4 + ("error_type",))
    ttfc_sum = _table(m, TTFC + "_sum", service, K4 + ("error_type",), nonzero=False)
    return {
        "duration": dict(duration),
        "tokens": _table(m, TOKENS, service, K4 + ("gen_ai_token_type",)),
        # Zero-valued observations (embeddings' output) are left free.
        "usage_sum": usage_sum,
        "usage_count": {k: v for k, v in usage_count.items() if k in usage_sum},
        "cost": _table(m, COST, service, K_COST),
        "unpriced": _table(m, UNPRICED, service, K_COST),
        "unknown": _table(m, UNKNOWN, service, K_UNKNOWN),
        "retries": _table(m, RETRIES, service, K_RETRIES),
        "ttfc_count": ttfc_count,
        "ttfc_mean": {k: ttfc_sum.get(k, 0.0) / n for k, n in ttfc_count.items()},
        "ratelimit": _table(m, RATE_LIMIT, service, K_RATE, nonzero=False),
    }


def compare(want: dict, got: dict, only: Optional[tuple] = None,
            ratelimit: Optional[dict] = None) -> dict:
    """table -> (got, want) for every table that differs."""
    misses = {}
    names = only or ("duration", "tokens", "usage_count", "usage_sum", "cost", "unpriced",
                     "unknown", "retries", "ttfc_count")
    for name in names:
        w, g = want[name], got[name]
        if name in FLOAT_TABLES:
            same = set(w) == set(g) and all(abs(w[k] - g[k]) <= 1e-9 for k in w)
        else:
            same = set(w) == set(g) and all(abs(w[k] - g[k]) < 1e-6 for k in w)
        if not same:
            misses[name] = (g, w)
    if only is None or "ttfc_count" in only:
        bad = {}
        for key, delay in want["ttfc_delay"].items():
            mean = got["ttfc_mean"].get(key)
            if mean is None or not (delay - TTFC_EARLY <= mean <= delay + TTFC_SLACK):
                bad[key] = (mean, f"{delay - TTFC_EARLY:.3f} .. {delay + TTFC_SLACK:.3f} s")
        if bad:
            misses["ttfc_mean"] = (bad, "within the window")
    if ratelimit is not None and got["ratelimit"] != ratelimit:
        misses["ratelimit"] = (got["ratelimit"], ratelimit)
    return misses


def genai_diagnostics(daemon: harness.Daemon, services: tuple) -> str:
    m = daemon.metrics()
    lines = []
    for name in GENAI_METRICS:
        for sample in (name, name + "_count", name + "_sum"):
            for labels, value in sorted(m.samples(sample), key=str):
                if labels.get("service_name") in services:
                    lines.append(f"  {sample}{labels} {value}")
    for name in ("sightline_events_lost_total", "sightline_parse_errors_total",
                 "sightline_http_requests_unanswered_total",
                 "sightline_payload_truncated_events_total", "sightline_series_dropped_total"):
        for labels, value in sorted(m.samples(name), key=str):
            if value:
                lines.append(f"  {name}{labels} {value}")
    for labels, value in sorted(m.samples(harness.CLIENT + "_count"), key=str):
        if labels.get("service_name") in services:
            lines.append(f"  {harness.CLIENT}_count{labels} {value}")
    return "daemon has:\n" + "\n".join(lines)


def expect_genai(env: "GenaiEnv", service: str, ops: list[Op], retries: Optional[dict] = None,
                 ratelimit: Optional[dict] = None, only: Optional[tuple] = None,
                 timeout: float = 20.0, settle_s: float = 1.0) -> harness.Metrics:
    """Polls until the gen_ai_* series of `service` are exactly what `ops` book
    (and `retries`, `ratelimit` when given), waits `settle_s` and checks again; the
    mock's own service name must have no gen_ai_* series at all."""
    want = expected_tables(ops, retries)
    misses: dict = {}

    def reached():
        m = env.daemon.metrics()
        misses.clear()
        misses.update(compare(want, observed_tables(m, service), only, ratelimit))
        mock_series = [(name, labels) for name in GENAI_METRICS
                       for sample in (name, name + "_count")
                       for labels, _ in m.samples(sample, service_name=MOCK_SERVICE)]
        if mock_series:
            misses["mock side"] = (mock_series, "no gen_ai series for the server")
        return None if misses else m

    def report(when: str) -> str:
        parts = [f"{name}:\n    got  {got!r}\n    want {w!r}" for name, (got, w) in misses.items()]
        return (f"{service}: {len(misses)} table(s) off {when}:\n  " + "\n  ".join(parts) + "\n"
                + genai_diagnostics(env.daemon, (service, MOCK_SERVICE)))

    try:
        harness.wait_for(reached, timeout=timeout, message="gen_ai tables")
    except TimeoutError:
        raise AssertionError(report(f"after {timeout}s")) from None
    time.sleep(settle_s)
    m = reached()
    assert m is not None, report(f"{settle_s}s after they matched")
    return m


# ---------------------------------------------------------------------------
# Fixtures


def _need_root_and_daemon() -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "privileged test needs root"
    elif not harness.daemon_binary().exists():
        reason = f"{harness.daemon_binary()} is not built"
    if reason:
        if os.environ.get("SIGHTLINE_REQUIRE_BPF") == "1":
            pytest.fail(f"{reason} (SIGHTLINE_REQUIRE_BPF=1)")
        pytest.skip(reason)


def _need_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("SIGHTLINE_REQUIRE_BPF") == "1":
            pytest.fail("needs root (SIGHTLINE_REQUIRE_BPF=1)")
        pytest.skip("needs root (network namespaces)")


@pytest.fixture(scope="module")
def genai_sdks() -> None:
    """The official SDKs must be installed (scripts/genai-fixtures.sh): fail, not skip."""
    missing = harness.genai_sdks_missing()
    if missing:
        pytest.fail(missing)


@pytest.fixture(scope="module")
def genai_cert(tmp_path_factory) -> Path:
    return harness.make_genai_cert(tmp_path_factory.mktemp("genai_cert"))


@dataclass
class GenaiEnv:
    daemon: harness.Daemon
    cert: Path
    openai_mock: harness.Fixture  # its port is declared --openai-compatible-host
    other_mock: harness.Fixture   # a port the daemon knows nothing about
    netns_mock: harness.Fixture   # 127.0.0.1:443 inside the namespace
    netns: GenaiNetns
    mocks: list = field(default_factory=list)

    @property
    def openai_url(self) -> str:
        return f"https://127.0.0.1:{self.openai_mock.port}"

    @property
    def openai_localhost_url(self) -> str:
        return f"https://localhost:{self.openai_mock.port}"

    @property
    def other_url(self) -> str:
        return f"https://127.0.0.1:{self.other_mock.port}"

    def sdk(self, plan: list[dict], service: str, real_hosts: bool = False,
            base_url: Optional[str] = None) -> dict:
        """Runs sdk_client.js; asserts every call came out as planned."""
        if real_hosts:
            summary = harness.run_genai_sdk(plan, self.cert, netns=self.netns,
                                            service_name=service, check=False)
        else:
            summary = harness.run_genai_sdk(plan, self.cert, base_url=base_url or self.other_url,
                                            service_name=service, check=False)
        assert summary["ok"], json.dumps(summary, indent=1)
        return summary


@pytest.fixture(scope="module")
def env(tmp_path_factory, genai_sdks, genai_cert):
    """A daemon of this module's own, then the three mocks it watches."""
    _need_root_and_daemon()
    work = tmp_path_factory.mktemp("genai")
    openai_port, other_port = harness.free_port(), harness.free_port()
    netns = GenaiNetns(work).create()
    daemon = None
    mocks: list = []
    try:
        daemon = harness.start_daemon(
            "--ports", f"{openai_port},{other_port},443",
            "--openai-compatible-host", f"127.0.0.1:{openai_port}",
            "--openai-compatible-host", f"localhost:{openai_port}")
        for kw in ({"port": openai_port}, {"port": other_port}, {"netns": netns}):
            mocks.append(harness.start_genai_mock(genai_cert, service_name=MOCK_SERVICE, **kw))
        yield GenaiEnv(daemon, genai_cert, mocks[0], mocks[1], mocks[2], netns, mocks)
    finally:
        codes = [mock.stop() for mock in mocks]
        code = daemon.stop() if daemon else 0
        netns.delete()
        assert code == 0, f"daemon exited with {code}:\n{daemon.stderr_text()[-3000:]}"
        assert all(c == 0 for c in codes), f"a mock exited with {codes}"


@pytest.fixture
def service(service_name) -> str:
    """This test's service name, made unique to this run too: two runs on one
    machine (each daemon follows port 443, in every namespace) must not mix."""
    return f"{service_name}-{os.getpid()}"


# ---------------------------------------------------------------------------
# The fixtures themselves, without the daemon


def _wire_usage_matches(call: dict, tokens: dict) -> bool:
    """The usage the SDK reported, read back into normalised terms."""
    u = call["usage"]
    op = call["op"]
    if op.startswith(("openai.chat", "azure.chat")):
        got = usage(u["prompt_tokens"], u["completion_tokens"],
                    u["prompt_tokens_details"]["cached_tokens"],
                    u["prompt_tokens_details"].get("cache_write_tokens", 0),
                    u["completion_tokens_details"]["reasoning_tokens"])
    elif op.startswith("openai.responses"):
        got = usage(u["input_tokens"], u["output_tokens"],
                    u["input_tokens_details"]["cached_tokens"], 0,
                    u["output_tokens_details"]["reasoning_tokens"])
    elif op == "openai.embeddings":
        got = usage(u["prompt_tokens"], 0)
    elif op.startswith("anthropic."):
        got = usage(u["input_tokens"] + u["cache_read_input_tokens"]
                    + u["cache_creation_input_tokens"], u["output_tokens"],
                    u["cache_read_input_tokens"], u["cache_creation_input_tokens"],
                    (u.get("output_tokens_details") or {}).get("thinking_tokens", 0))
    else:
        got = usage(u["promptTokenCount"] + u.get("toolUsePromptTokenCount", 0),
                    u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0),
                    u.get("cachedContentTokenCount", 0), 0, u.get("thoughtsTokenCount", 0))
    return got == tokens


def _fixture_plan(tag: str) -> tuple[list[dict], list[dict]]:
    """(plan, tokens per call or None) covering every op, the errors and a retry."""
    rows = [
        sdk("openai.chat", "gpt-4o", "gpt-4o-2024-08-06", usage(1200, 80, cache_read=1024)),
        sdk("openai.chat_stream", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", usage(300, 40),
            delay_ms=150),
        sdk("openai.chat_stream", "gpt-4.1", "gpt-4.1-2025-04-14", usage(10, 3),
            include_usage=False),
        sdk("openai.responses", "gpt-5", "gpt-5-2025-08-07", usage(64, 32, reasoning=16)),
        sdk("openai.responses_stream", "gpt-5", "gpt-5-2025-08-07",
            usage(500, 300, cache_read=100, reasoning=200), delay_ms=100),
        sdk("openai.embeddings", "text-embedding-3-small", "text-embedding-3-small", usage(42, 0)),
        sdk("azure.chat", "gpt-4o", "gpt-4o-2024-11-20", usage(800, 60)),
        sdk("azure.chat_stream", "gpt-4o", "gpt-4o-2024-11-20", usage(500, 30), delay_ms=90),
        sdk("anthropic.messages", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929",
            usage(2350, 120, cache_read=2000, cache_creation=300)),
        sdk("anthropic.messages_stream", "claude-haiku-4-5", "claude-haiku-4-5-20251001",
            usage(1000, 90, cache_read=600, cache_creation=100, reasoning=30), delay_ms=200,
            scenario={"message_deltas": 2}),
        sdk("gemini.generate", "gemini-2.5-flash", "gemini-2.5-flash",
            usage(400, 100, cache_read=100, reasoning=40)),
        sdk("gemini.generate_stream", "gemini-2.5-pro", "gemini-2.5-pro", usage(700, 60),
            delay_ms=120),
        sdk("openai.chat", "gpt-4o", "gpt-4o-2024-08-06", usage(100, 10),
            scenario={"id": f"{tag}-429", "error": {"status": 429, "fail_first": 2}}),
    ]
    plan = [call for call, _ in rows]
    tokens = [op.tokens for _, op in rows]
    plan += [
        {"op": "anthropic.messages", "model": "claude-sonnet-4-5", "expect": "error",
         "scenario": {"id": f"{tag}-529", "error": {"status": 529}}},
        {"op": "gemini.generate", "model": "gemini-2.5-flash", "expect": "error",
         "scenario": {"error": {"status": 429}}},
        {"op": "anthropic.messages_stream", "model": "claude-haiku-4-5", "expect": "error",
         "scenario": {"stream_error": True}},
    ]
    tokens += [None, None, None]
    return plan, tokens


def _check_fixture_summary(summary: dict, plan: list[dict], tokens: list) -> None:
    calls = summary["calls"]
    assert summary["ok"] and len(calls) == len(plan), json.dumps(summary, indent=1)
    for call, entry, want in zip(calls, plan, tokens):
        if entry.get("expect") == "error":
            continue
        assert call["response_model"] == entry["scenario"]["model"], call
        if want is None:
            assert call["usage"] is None, call
        else:
            assert _wire_usage_matches(call, want), (call, want)
        delay = entry["scenario"].get("delay_ms")
        if call["first_chunk_ms"] is not None and delay:
            assert call["first_chunk_ms"] >= delay - 1, call
    errors = {c["op"]: c["error"] for c in calls if c["outcome"] == "error"}
    assert errors["anthropic.messages"]["status"] == 529, errors
    assert errors["anthropic.messages"]["type"] == "overloaded_error", errors
    assert errors["gemini.generate"]["status"] == 429, errors
    assert errors["gemini.generate"]["type"] == "RESOURCE_EXHAUSTED", errors
    assert errors["anthropic.messages_stream"]["status"] is None, errors


def _check_served(served: list[dict], tag: str, host: Optional[str] = None) -> None:
    def attempts(scenario_id):
        return [(s["status"], s["retry_count"]) for s in served if s["scenario"] == scenario_id]
    # The OpenAI SDK retried twice after 429s, numbering its attempts.
    assert attempts(f"{tag}-429") == [(429, "0"), (429, "1"), (200, "2")], served
    # Anthropic's SDK gave up after three 529s.
    assert attempts(f"{tag}-529") == [(529, "0"), (529, "1"), (529, "2")], served
    by_op = defaultdict(set)
    for s in served:
        if s["status"] == 200:
            by_op[(s["provider"], s["stream"])].add(s["encoding"])
    # Node's fetch offers br: OpenAI JSON comes back br, Anthropic and Gemini gzip,
    # OpenAI's streams uncompressed.
    assert by_op[("openai", False)] == {"br"} and by_op[("openai", True)] == {"identity"}, by_op
    assert by_op[("anthropic", True)] == {"gzip"} and by_op[("gemini", True)] == {"gzip"}, by_op
    if host:
        assert {s["host"] for s in served} == {host}, {s["host"] for s in served}


def test_genai_fixtures_through_base_url(tmp_path, genai_sdks, genai_cert):
    """Without a daemon: every SDK op gets the scenario's model and usage back in
    the SDK's own terms, retries are numbered, errors carry the provider's type;
    the raw client and curl get gzip, br, deflate, chunked and plain answers that
    decode to the same usage."""
    mock = harness.start_genai_mock(genai_cert, service_name=MOCK_SERVICE)
    try:
        plan, tokens = _fixture_plan("standalone")
        summary = harness.run_genai_sdk(plan, genai_cert, base_url=f"https://127.0.0.1:{mock.port}",
                                        delay=0)
        _check_fixture_summary(summary, plan, tokens)
        _check_served(genai_served(mock), "standalone", host=f"127.0.0.1:{mock.port}")

        raw = harness.run_genai_raw(f"https://127.0.0.1:{mock.port}", genai_cert, RAW_OPENAI_PLAN)
        raw2 = harness.run_genai_raw(f"https://127.0.0.1:{mock.port}", genai_cert, RAW_OTHER_PLAN)
        _check_raw(raw["responses"] + raw2["responses"], RAW_OPENAI_PLAN + RAW_OTHER_PLAN)

        for argv, encoding in _curl_cases(f"https://127.0.0.1:{mock.port}", genai_cert):
            proc = subprocess.run(argv + ["-D", "-"], capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
            assert f"content-encoding: {encoding}" in proc.stdout.lower(), proc.stdout[:600]
            assert '"usage"' in proc.stdout or "message_delta" in proc.stdout, proc.stdout[-600:]
    finally:
        assert mock.stop() == 0


def test_genai_fixtures_under_real_host_names(tmp_path, genai_sdks, genai_cert):
    """Without a daemon, as root: inside a namespace of its own the SDKs reach the
    mock as api.openai.com, api.anthropic.com, generativelanguage.googleapis.com and
    sightline-test.openai.azure.com on port 443; the machine's /etc/hosts is left
    as it was."""
    _need_root()
    before = Path("/etc/hosts").read_bytes()
    with GenaiNetns(tmp_path, name=f"sl-genai-fx-{os.getpid()}") as netns:
        mock = harness.start_genai_mock(genai_cert, service_name=MOCK_SERVICE, netns=netns)
        try:
            plan, tokens = _fixture_plan("realhosts")
            summary = harness.run_genai_sdk(plan, genai_cert, netns=netns, delay=0)
            assert summary["mode"] == "real-hosts"
            _check_fixture_summary(summary, plan, tokens)
            served = genai_served(mock)
            _check_served(served, "realhosts")
            hosts = {(s["provider"], s["host"]) for s in served}
            assert hosts == {("openai", "api.openai.com"), ("anthropic", "api.anthropic.com"),
                             ("gemini", "generativelanguage.googleapis.com"),
                             ("azure", "sightline-test.openai.azure.com")}, hosts
        finally:
            assert mock.stop() == 0
    assert Path("/etc/hosts").read_bytes() == before


# ---------------------------------------------------------------------------
# Raw clients: plans shared by the fixture test and the daemon test

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
GEMINI_HEADERS = {"x-goog-api-key": "test-key"}
CHAT = [{"role": "user", "content": "hello"}]


def _raw(path, model, response_model, tokens, encoding, accept=None, framing="auto", delay_ms=0,
         stream=False, headers=None, body=None):
    scenario = {"model": response_model, "usage": tokens, "encoding": encoding,
                "framing": framing, "delay_ms": delay_ms}
    req = {"path": path, "scenario": scenario, "headers": headers or {},
           "body": body if body is not None else {"model": model, "messages": CHAT}}
    if accept:
        req["accept_encoding"] = accept
    if stream:
        req["body"]["stream"] = True
    return req


# Against the declared OpenAI-compatible port.
RAW_OPENAI_PLAN = [
    # JSON, gzip, chunked in three pieces.
    _raw("/v1/chat/completions", "gpt-4o", "gpt-4o-2024-08-06", usage(77, 11), "auto",
         accept="gzip", framing="chunked"),
    # JSON, br, Content-Length.
    _raw("/v1/chat/completions", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", usage(88, 12), "auto",
         accept="br", framing="length"),
    # JSON, deflate, Content-Length.
    _raw("/v1/chat/completions", "gpt-4.1", "gpt-4.1-2025-04-14", usage(99, 13), "auto",
         accept="deflate", framing="length"),
    # JSON, not compressed, chunked.
    _raw("/v1/chat/completions", "gpt-5", "gpt-5-2025-08-07", usage(66, 14, reasoning=4),
         "identity", framing="chunked"),
    # SSE with usage, gzip, flushed per event.
    _raw("/v1/chat/completions", "o3", "o3-2025-04-16", usage(55, 15, cache_read=32), "gzip",
         accept="gzip", delay_ms=60, stream=True,
         body={"model": "o3", "messages": CHAT, "stream_options": {"include_usage": True}}),
]
# Against the undeclared port: recognised by their request headers.
RAW_OTHER_PLAN = [
    # Anthropic SSE, br.
    _raw("/v1/messages", "claude-haiku-4-5", "claude-haiku-4-5-20251001",
         usage(500, 20, cache_read=400), "br", accept="br", delay_ms=70, stream=True,
         headers=ANTHROPIC_HEADERS,
         body={"model": "claude-haiku-4-5", "max_tokens": 64, "messages": CHAT}),
    # Gemini SSE, gzip as offered.
    _raw("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "gemini-2.5-flash",
         "gemini-2.5-flash", usage(300, 30), "auto", accept="gzip", delay_ms=50,
         headers=GEMINI_HEADERS, body={"contents": [{"parts": [{"text": "hello"}]}]}),
    # Anthropic JSON, gzip, chunked.
    _raw("/v1/messages", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929",
         usage(1500, 45, cache_creation=1000), "gzip", accept="gzip", framing="chunked",
         headers=ANTHROPIC_HEADERS,
         body={"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": CHAT}),
]
# What each raw request books.
RAW_OPS = [
    raw_op("openai", "chat", "gpt-4o", "gpt-4o-2024-08-06", usage(77, 11)),
    raw_op("openai", "chat", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", usage(88, 12)),
    raw_op("openai", "chat", "gpt-4.1", "gpt-4.1-2025-04-14", usage(99, 13)),
    raw_op("openai", "chat", "gpt-5", "gpt-5-2025-08-07", usage(66, 14, reasoning=4)),
    raw_op("openai", "chat", "o3", "o3-2025-04-16", usage(55, 15, cache_read=32), delay_ms=60),
    raw_op("anthropic", "chat", "claude-haiku-4-5", "claude-haiku-4-5-20251001",
           usage(500, 20, cache_read=400), delay_ms=70),
    raw_op("gcp.gemini", "generate_content", "gemini-2.5-flash", "gemini-2.5-flash",
           usage(300, 30), delay_ms=50),
    raw_op("anthropic", "chat", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929",
           usage(1500, 45, cache_creation=1000)),
]
# (content-encoding, chunked) each raw answer must have had.
RAW_WIRE = [("gzip", True), ("br", False), ("deflate", False), (None, True), ("gzip", True),
            ("br", True), ("gzip", True), ("gzip", True)]


def _check_raw(responses: list[dict], plan: list[dict]) -> None:
    assert len(responses) == len(plan), responses
    for resp, req, (encoding, chunked), op in zip(responses, plan, RAW_WIRE, RAW_OPS):
        assert resp["status"] == 200 and resp["decoded"], resp
        assert resp["content_encoding"] == encoding, (req["path"], resp)
        assert (resp["transfer_encoding"] == "chunked") == chunked, (req["path"], resp)
        if encoding:
            assert resp["wire_bytes"] != resp["body_bytes"], resp
        u = resp["usage"]
        if "prompt_tokens" in u:
            got = (u["prompt_tokens"], u["completion_tokens"])
        elif "promptTokenCount" in u:
            got = (u["promptTokenCount"], u["candidatesTokenCount"])
        else:
            got = (u["input_tokens"] + u["cache_read_input_tokens"]
                   + u["cache_creation_input_tokens"], u["output_tokens"])
        assert got == (op.tokens["input"], op.tokens["output"]), (req["path"], u)


def _curl_cases(base: str, cert: Path) -> list[tuple[list[str], str]]:
    """curl --compressed: OpenAI JSON asking for br only; Anthropic SSE with curl's
    own Accept-Encoding (gzip chosen)."""
    common = ["curl", "-sS", "--http1.1", "--cacert", str(Path(cert) / "cert.pem"), "--compressed",
              "-H", "content-type: application/json"]
    openai = common + [
        "-H", "Accept-Encoding: br",
        "-H", "x-mock-scenario: " + json.dumps({"model": "gpt-4o-2024-08-06",
                                                "usage": usage(500, 25, cache_read=256)}),
        "-d", json.dumps({"model": "gpt-4o", "messages": CHAT}), f"{base}/v1/chat/completions"]
    anthropic = common + [
        "-H", "anthropic-version: 2023-06-01", "-H", "x-api-key: sk-ant-test",
        "-H", "x-mock-scenario: " + json.dumps({"model": "claude-opus-4-1-20250805",
                                                "usage": usage(3000, 200, cache_read=2048),
                                                "delay_ms": 40}),
        "-d", json.dumps({"model": "claude-opus-4-1", "max_tokens": 64, "stream": True,
                          "messages": CHAT}), f"{base}/v1/messages"]
    return [(openai, "br"), (anthropic, "gzip")]


CURL_OPS = [
    Op("openai", "chat", "gpt-4o", "gpt-4o-2024-08-06", usage(500, 25, cache_read=256)),
    Op("anthropic", "chat", "claude-opus-4-1", "claude-opus-4-1-20250805",
       usage(3000, 200, cache_read=2048), delay_ms=40),
]


# ---------------------------------------------------------------------------
# The daemon: the official SDKs through a base URL


def test_openai_sdk(env, service):
    """Chat (JSON and stream with include_usage), Responses (JSON and stream with
    reasoning), embeddings, and one call through localhost: models, tokens per
    type (input includes cached), cost from the snapshot's base model, time to
    first chunk past the role-only chunk and the Responses preamble."""
    rows = [
        sdk("openai.chat", "gpt-4o", "gpt-4o-2024-08-06", usage(1200, 80, cache_read=1024)),
        sdk("openai.chat_stream", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", usage(300, 40),
            delay_ms=150),
        sdk("openai.responses", "gpt-4.1", "gpt-4.1-2025-04-14", usage(2000, 50, cache_read=1500)),
        sdk("openai.responses_stream", "gpt-5", "gpt-5-2025-08-07",
            usage(500, 300, cache_read=100, reasoning=200), delay_ms=100),
        sdk("openai.embeddings", "text-embedding-3-small", "text-embedding-3-small",
            usage(42, 0)),
    ]
    env.sdk([c for c, _ in rows], service, base_url=env.openai_url)
    local = [sdk("openai.chat", "o3", "o3-2025-04-16", usage(900, 700, cache_read=512,
                                                             reasoning=600))]
    env.sdk([c for c, _ in local], service, base_url=env.openai_localhost_url)
    expect_genai(env, service, [op for _, op in rows + local])


def test_openai_stream_without_usage(env, service):
    """A chat stream without stream_options.include_usage has no usage on the wire:
    the call is counted (duration, time to first chunk) and its tokens are unknown,
    never zeros, never priced."""
    rows = [sdk("openai.chat_stream", "gpt-4.1", "gpt-4.1-2025-04-14", usage(10, 3),
                delay_ms=80, include_usage=False)]
    env.sdk([c for c, _ in rows], service, base_url=env.openai_url)
    expect_genai(env, service, [op for _, op in rows])


def test_anthropic_sdk(env, service):
    """Messages (JSON, and a stream whose message_start holds input and cache counts
    and whose two message_delta events carry cumulative output): input is the sum
    of the three input fields, cache-write tokens priced at the write price,
    thinking tokens as reasoning, time to first chunk past message_start and ping."""
    rows = [
        sdk("anthropic.messages", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929",
            usage(2350, 120, cache_read=2000, cache_creation=300)),
        sdk("anthropic.messages_stream", "claude-haiku-4-5", "claude-haiku-4-5-20251001",
            usage(1000, 90, cache_read=600, cache_creation=100, reasoning=30), delay_ms=200,
            scenario={"message_deltas": 2}),
    ]
    env.sdk([c for c, _ in rows], service)
    expect_genai(env, service, [op for _, op in rows])


def test_gemini_sdk(env, service):
    """generateContent and streamGenerateContent (SSE with CRLF separators, usage in
    every chunk, final in the last): output includes thoughts, reasoning is the
    thoughts, cached content is cache_read; Gemini 2.5 Pro above 200k prompt
    tokens is priced at its long-context tier."""
    rows = [
        sdk("gemini.generate", "gemini-2.5-flash", "gemini-2.5-flash",
            usage(400, 100, cache_read=100, reasoning=40)),
        sdk("gemini.generate_stream", "gemini-2.5-pro", "gemini-2.5-pro", usage(700, 60),
            delay_ms=120),
        sdk("gemini.generate", "gemini-2.5-pro", "gemini-2.5-pro", usage(250_000, 1000)),
    ]
    env.sdk([c for c, _ in rows], service)
    expect_genai(env, service, [op for _, op in rows])


def test_azure_sdk(env, service):
    """AzureOpenAI (api-key header, /openai/deployments/{d}/...?api-version=): the
    provider is azure.ai.openai and the response model prices the call; the
    stream's empty content-filter chunk is not its first chunk."""
    rows = [
        sdk("azure.chat", "gpt-4o", "gpt-4o-2024-11-20", usage(800, 60, cache_read=256),
            deployment="gpt-4o"),
        sdk("azure.chat_stream", "gpt-4o", "gpt-4o-2024-11-20", usage(500, 30), delay_ms=90,
            deployment="gpt-4o"),
    ]
    env.sdk([c for c, _ in rows], service)
    expect_genai(env, service, [op for _, op in rows])


def test_pricing_snapshots_and_unpriced(env, service):
    """gpt-4o-2024-05-13 has its own price; claude-opus-4-1-20250805 falls back to
    claude-opus-4-1; a model missing from the table is counted as unpriced (with
    its tokens) and costs nothing."""
    rows = [
        sdk("openai.chat", "gpt-4o", "gpt-4o-2024-05-13", usage(1000, 200)),
        sdk("openai.chat", "sightline-unpriced-model", "sightline-unpriced-model-2026-01-01",
            usage(321, 123)),
    ]
    env.sdk([c for c, _ in rows], service, base_url=env.openai_url)
    opus = [sdk("anthropic.messages", "claude-opus-4-1", "claude-opus-4-1-20250805",
                usage(5000, 400, cache_read=3000, cache_creation=1000))]
    env.sdk([c for c, _ in opus], service)
    ops = [op for _, op in rows + opus]
    assert price_of("sightline-unpriced-model-2026-01-01", "sightline-unpriced-model", 321) is None
    expect_genai(env, service, ops)


def test_errors_and_retries(env, service):
    """OpenAI 429 twice then 200: two rate_limit_exceeded attempts, one success with
    its tokens, two retries (x-stainless-retry-count 1 and 2). Anthropic 529 on
    every attempt: three overloaded_error, two retries, no tokens. Gemini 429
    (its SDK does not retry): one RESOURCE_EXHAUSTED, no retry."""
    ok_call, ok_op = sdk("openai.chat", "gpt-4o", "gpt-4o-2024-08-06", usage(100, 10),
                         scenario={"id": f"{service}-429",
                                   "error": {"status": 429, "fail_first": 2}})
    env.sdk([ok_call], service, base_url=env.openai_url)
    env.sdk([
        {"op": "anthropic.messages", "model": "claude-sonnet-4-5", "expect": "error",
         "scenario": {"id": f"{service}-529", "error": {"status": 529}}},
        {"op": "gemini.generate", "model": "gemini-2.5-flash", "expect": "error",
         "scenario": {"error": {"status": 429}}},
    ], service)
    ops = [
        ok_op,
        Op("openai", "chat", "gpt-4o", "", error_type="rate_limit_exceeded", count=2),
        Op("anthropic", "chat", "claude-sonnet-4-5", "", error_type="overloaded_error", count=3),
        Op("gcp.gemini", "generate_content", "gemini-2.5-flash", "",
           error_type="RESOURCE_EXHAUSTED"),
    ]
    expect_genai(env, service, ops,
                 retries={("openai", "chat"): 2, ("anthropic", "chat"): 2})
    served = genai_served(env.openai_mock)
    assert [(s["status"], s["retry_count"]) for s in served
            if s["scenario"] == f"{service}-429"] == [(429, "0"), (429, "1"), (200, "2")]


def test_error_inside_a_stream(env, service):
    """An Anthropic stream answered 200 that breaks off with event: error
    (overloaded_error) is an operation with that error type."""
    env.sdk([{"op": "anthropic.messages_stream", "model": "claude-haiku-4-5", "expect": "error",
              "scenario": {"model": "claude-haiku-4-5-20251001", "stream_error": True}}],
            service)
    expect_genai(env, service,
                 [Op("anthropic", "chat", "claude-haiku-4-5", "", error_type="overloaded_error")],
                 only=("duration",))


def test_rate_limit_headroom(env, service):
    """The remaining requests and tokens in the last response's rate-limit headers,
    per provider: x-ratelimit-remaining-* (OpenAI), anthropic-ratelimit-*-remaining
    (requests, tokens, input and output tokens)."""
    rows = [sdk("openai.chat", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", usage(20, 2),
                scenario={"ratelimit": {"requests": 4321, "tokens": 65432}})]
    env.sdk([c for c, _ in rows], service, base_url=env.openai_url)
    more = [sdk("anthropic.messages", "claude-haiku-4-5", "claude-haiku-4-5-20251001",
                usage(30, 3), scenario={"ratelimit": {"requests": 49, "tokens": 7000,
                                                      "input_tokens": 5000,
                                                      "output_tokens": 2000}})]
    env.sdk([c for c, _ in more], service)
    expect_genai(env, service, [op for _, op in rows + more], ratelimit={
        ("openai", "requests"): 4321, ("openai", "tokens"): 65432,
        ("anthropic", "requests"): 49, ("anthropic", "tokens"): 7000,
        ("anthropic", "input_tokens"): 5000, ("anthropic", "output_tokens"): 2000,
    })


# ---------------------------------------------------------------------------
# Raw clients: compression and framing


def test_raw_compressed_and_chunked(env, service):
    """http.client (libssl.so.3) with Accept-Encoding gzip, br, deflate or none:
    JSON answers gzip+chunked, br+length, deflate+length, plain+chunked; SSE
    answers gzip and br flushed per event (OpenAI, Anthropic, Gemini). Every one
    is de-chunked, decompressed and booked exactly."""
    raw = harness.run_genai_raw(env.openai_url, env.cert, RAW_OPENAI_PLAN,
                                service_name=service)
    raw2 = harness.run_genai_raw(env.other_url, env.cert, RAW_OTHER_PLAN,
                                 service_name=service)
    _check_raw(raw["responses"] + raw2["responses"], RAW_OPENAI_PLAN + RAW_OTHER_PLAN)
    expect_genai(env, service, RAW_OPS)


def test_curl_compressed(env, service):
    """curl --compressed: OpenAI JSON in br (Accept-Encoding: br), Anthropic SSE in
    gzip; both booked exactly."""
    cases = _curl_cases(env.openai_url, env.cert)[:1] + _curl_cases(env.other_url, env.cert)[1:]
    for argv, encoding in cases:
        proc = subprocess.run(argv + ["-D", "-"], capture_output=True, text=True, timeout=30,
                              env=harness.client_env(service))
        assert proc.returncode == 0, proc.stderr
        assert f"content-encoding: {encoding}" in proc.stdout.lower(), proc.stdout[:600]
    expect_genai(env, service, CURL_OPS)


# ---------------------------------------------------------------------------
# The daemon: the official SDKs under the providers' real host names


def test_sdks_under_real_host_names(env, service):
    """In a network namespace where api.openai.com, api.anthropic.com,
    generativelanguage.googleapis.com and sightline-test.openai.azure.com are the
    mock on port 443: providers are recognised by host name alone (no flag), with
    the same models, tokens, cost and time to first chunk."""
    rows = [
        sdk("openai.chat", "gpt-4o", "gpt-4o-2024-08-06", usage(1200, 80, cache_read=1024)),
        sdk("openai.chat_stream", "gpt-5-mini", "gpt-5-mini-2025-08-07",
            usage(640, 320, cache_read=128, reasoning=256), delay_ms=100),
        sdk("anthropic.messages_stream", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929",
            usage(4000, 250, cache_read=3000, cache_creation=500), delay_ms=110),
        sdk("gemini.generate_stream", "gemini-2.5-flash", "gemini-2.5-flash",
            usage(900, 150, cache_read=300, reasoning=50), delay_ms=120),
        sdk("azure.chat", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", usage(700, 70),
            deployment="gpt-4o-mini"),
    ]
    before = len(genai_served(env.netns_mock))
    env.sdk([c for c, _ in rows], service, real_hosts=True)
    hosts = {s["host"] for s in genai_served(env.netns_mock)[before:]}
    assert hosts == set(harness.GENAI_HOSTS), hosts
    expect_genai(env, service, [op for _, op in rows])


# ---------------------------------------------------------------------------
# The daemon: the price table reloaded on SIGHUP

RELOAD_MODEL = "sightline-reload-model"  # in no embedded table: priced by the file alone
RELOAD_TOKENS = usage(1000, 500)


def _write_reload_prices(path: Path, input_price: float, output_price: float) -> None:
    path.write_text(json.dumps({"models": {RELOAD_MODEL: {
        "provider": "openai", "input": input_price, "output": output_price}}}))


def _reload_cost(input_price: float, output_price: float) -> float:
    return cost_usd(RELOAD_TOKENS, (input_price, None, None, output_price))


def test_pricing_file_reloaded_on_sighup(tmp_path, genai_sdks, genai_cert, service):
    """A daemon of the test's own with --pricing-file pricing a model the embedded
    table lacks (input 1, output 2 per 1M): a call costs exactly that. The file
    rewritten (3 and 4) and SIGHUP: "price table reloaded", and the next identical
    call costs the new prices. Malformed JSON and SIGHUP: "price table not
    reloaded", the daemon stays healthy and the next call is still priced at 3
    and 4. No call is ever counted as unpriced."""
    _need_root_and_daemon()
    unpriced = subprocess.run([str(harness.daemon_binary()), "pricing", RELOAD_MODEL,
                               "--input", "1000", "--output", "500"],
                              capture_output=True, text=True, timeout=30)
    assert unpriced.returncode == 1, f"{RELOAD_MODEL} has an embedded price:\n{unpriced.stdout}"
    prices = tmp_path / "prices.json"
    _write_reload_prices(prices, 1.0, 2.0)
    port = harness.free_port()
    url = f"https://127.0.0.1:{port}"
    call, _ = sdk("openai.chat", RELOAD_MODEL, RELOAD_MODEL, RELOAD_TOKENS)
    daemon = harness.start_daemon("--ports", str(port),
                                  "--openai-compatible-host", f"127.0.0.1:{port}",
                                  "--pricing-file", str(prices))
    mock = None
    try:
        mock = harness.start_genai_mock(genai_cert, port=port, service_name=MOCK_SERVICE)
        calls = 0
        cost = 0.0

        def booked(want_cost: float) -> tuple[float, float, float]:
            m = daemon.metrics()
            got = (m.count(DURATION, service_name=service),
                   m.total(COST, service_name=service), m.total(UNPRICED, service_name=service))
            return got if got[0] == calls and abs(got[1] - want_cost) <= 1e-9 else None

        def one_call(input_price: float, output_price: float, stage: str) -> None:
            nonlocal calls, cost
            summary = harness.run_genai_sdk([call], genai_cert, base_url=url,
                                            service_name=service, check=False)
            assert summary["ok"], json.dumps(summary, indent=1)
            calls += 1
            want = cost + _reload_cost(input_price, output_price)
            try:
                harness.wait_for(lambda: booked(want), timeout=20, message=f"{stage} cost")
            except TimeoutError:
                raise AssertionError(
                    f"{stage}: want {calls} call(s) costing {want!r} USD in total (+"
                    f"{want - cost!r} at {input_price}/{output_price})\n"
                    + genai_diagnostics(daemon, (service, MOCK_SERVICE))) from None
            time.sleep(1.0)
            got = booked(want)
            assert got is not None, f"{stage}: changed after it matched\n" + genai_diagnostics(
                daemon, (service, MOCK_SERVICE))
            assert got[2] == 0, f"{stage}: {got[2]} unpriced operation(s)"
            cost = want

        def hangup(phrase: str) -> None:
            seen = daemon.stderr_text().count(phrase)
            daemon.proc.send_signal(signal.SIGHUP)
            try:
                harness.wait_for(lambda: daemon.stderr_text().count(phrase) > seen, timeout=10,
                                 message=f"log {phrase!r}")
            except TimeoutError:
                raise AssertionError(f"no {phrase!r} after SIGHUP:\n"
                                     f"{daemon.stderr_text()[-3000:]}") from None
            assert daemon.alive(), daemon.stderr_text()[-3000:]
            assert daemon.healthz() == 200

        one_call(1.0, 2.0, "first prices")
        _write_reload_prices(prices, 3.0, 4.0)
        hangup("price table reloaded")
        one_call(3.0, 4.0, "after the reload")
        prices.write_text('{"models": {"' + RELOAD_MODEL + '": {"provider": "openai", "input": ')
        hangup("price table not reloaded")
        one_call(3.0, 4.0, "after the failed reload")
        assert abs(cost - (0.002 + 0.005 + 0.005)) <= 1e-9
        assert daemon.total(UNPRICED, service_name=service) == 0
    finally:
        mock_code = mock.stop() if mock else 0
        code = daemon.stop()
        assert code == 0, f"daemon exited with {code}:\n{daemon.stderr_text()[-3000:]}"
        assert mock_code == 0, f"the mock exited with {mock_code}"
