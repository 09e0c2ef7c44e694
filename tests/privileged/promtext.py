"""Prometheus text exposition format: a small parser, query helpers and promtool.

parse_metrics() turns a scrape into a Metrics dict keyed by
(sample name, frozenset of (label, value) pairs); harness.py re-exports it.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Mapping, Optional


class ParseError(ValueError):
    pass


Labels = frozenset  # frozenset of (label name, value) pairs


def _parse_value(text: str, lineno: int) -> float:
    special = {"nan": math.nan, "+inf": math.inf, "inf": math.inf, "-inf": -math.inf}
    low = text.lower()
    if low in special:
        return special[low]
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"line {lineno}: bad value {text!r}") from None


def _is_name_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch in "_:")


def _is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "_:")


def _unescape_help(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "\\n":
            out.append("\n" if text[i + 1] == "n" else "\\")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _parse_labels(line: str, pos: int, lineno: int) -> tuple[dict, int]:
    """Parses `{a="x",b="y"}` starting at line[pos] == '{'; returns (labels, next pos)."""
    labels: dict[str, str] = {}
    pos += 1
    n = len(line)
    while True:
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos < n and line[pos] == "}":
            return labels, pos + 1
        start = pos
        if pos >= n or not (line[pos].isascii() and (line[pos].isalpha() or line[pos] == "_")):
            raise ParseError(f"line {lineno}: expected label name at column {pos + 1}")
        while pos < n and line[pos].isascii() and (line[pos].isalnum() or line[pos] == "_"):
            pos += 1
        name = line[start:pos]
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos >= n or line[pos] != "=":
            raise ParseError(f"line {lineno}: expected '=' after label {name!r}")
        pos += 1
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos >= n or line[pos] != '"':
            raise ParseError(f"line {lineno}: expected '\"' to open value of {name!r}")
        pos += 1
        value = []
        while True:
            if pos >= n:
                raise ParseError(f"line {lineno}: unterminated value of label {name!r}")
            ch = line[pos]
            if ch == '"':
                pos += 1
                break
            if ch == "\\":
                if pos + 1 >= n:
                    raise ParseError(f"line {lineno}: dangling escape in label {name!r}")
                esc = line[pos + 1]
                if esc == "n":
                    value.append("\n")
                elif esc in '\\"':
                    value.append(esc)
                else:
                    raise ParseError(f"line {lineno}: bad escape \\{esc} in label {name!r}")
                pos += 2
                continue
            value.append(ch)
            pos += 1
        if name in labels:
            raise ParseError(f"line {lineno}: label {name!r} repeated")
        labels[name] = "".join(value)
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos < n and line[pos] == ",":
            pos += 1
            continue
        if pos < n and line[pos] == "}":
            return labels, pos + 1
        raise ParseError(f"line {lineno}: expected ',' or '}}' after label {name!r}")


def _matches(key_labels: Labels, want: Mapping[str, object]) -> bool:
    have = dict(key_labels)
    return all(name in have and have[name] == str(value) for name, value in want.items())


class Metrics(dict):
    """Parsed exposition: {(sample name, frozenset of (label, value)): float}.

    Also carries `types` and `helps` keyed by metric family name. Label values
    given to the query methods are compared as strings, so
    http_response_status_code=200 works.
    """

    def __init__(self):
        super().__init__()
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}

    def get_sample(self, name: str, /, **labels) -> Optional[float]:
        """The value of the one sample with exactly these labels, or None."""
        return self.get((name, frozenset((k, str(v)) for k, v in labels.items())))

    def samples(self, name: str, /, **labels) -> list[tuple[dict, float]]:
        """All samples of `name` whose labels include `labels`, as (labels, value)."""
        return [(dict(key_labels), value) for (sample, key_labels), value in self.items()
                if sample == name and _matches(key_labels, labels)]

    def total(self, name: str, /, **labels) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 if none)."""
        return sum(value for _, value in self.samples(name, **labels))

    def has(self, name: str, /, **labels) -> bool:
        return bool(self.samples(name, **labels))

    def count(self, metric: str, /, **labels) -> float:
        """Histogram observation count: sum of `<metric>_count` over matching series."""
        return self.total(metric + "_count", **labels)

    def sum_(self, metric: str, /, **labels) -> float:
        """Histogram sum: sum of `<metric>_sum` over matching series."""
        return self.total(metric + "_sum", **labels)

    def bucket(self, metric: str, le: object, /, **labels) -> float:
        """Cumulative count of `<metric>_bucket{le=...}` over matching series."""
        want = float(le)  # float() reads "+Inf" as well as numbers
        return sum(value for got, value in self.samples(metric + "_bucket", **labels)
                   if "le" in got and float(got["le"]) == want)

    def label_values(self, name: str, label: str, /, **labels) -> set[str]:
        """The distinct values `label` takes among matching samples of `name`."""
        return {got[label] for got, _ in self.samples(name, **labels) if label in got}


def parse_metrics(text: str) -> Metrics:
    """Parses the Prometheus text exposition format (version 0.0.4).

    Raises ParseError on malformed lines and on a repeated (name, labels) sample.
    Timestamps are accepted and dropped.
    """
    metrics = Metrics()
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        stripped = line.strip(" \t")
        if not stripped:
            continue
        if stripped.startswith("#"):
            parts = stripped[1:].strip(" \t").split(None, 2)
            if len(parts) >= 2 and parts[0] in ("HELP", "TYPE"):
                name = parts[1]
                rest = parts[2] if len(parts) > 2 else ""
                if parts[0] == "HELP":
                    metrics.helps[name] = _unescape_help(rest)
                else:
                    if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                        raise ParseError(f"line {lineno}: unknown type {rest!r} for {name}")
                    metrics.types[name] = rest
            continue
        pos = len(line) - len(line.lstrip(" \t"))
        start = pos
        if not _is_name_start(line[pos]):
            raise ParseError(f"line {lineno}: expected a metric name")
        while pos < len(line) and _is_name_char(line[pos]):
            pos += 1
        name = line[start:pos]
        labels: dict[str, str] = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = _parse_labels(line, pos, lineno)
        rest = line[pos:]
        if rest and rest[0] not in " \t":
            raise ParseError(f"line {lineno}: expected space after {name}")
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise ParseError(f"line {lineno}: expected value [timestamp] after {name}")
        value = _parse_value(fields[0], lineno)
        if len(fields) == 2 and not fields[1].lstrip("-").isdigit():
            raise ParseError(f"line {lineno}: bad timestamp {fields[1]!r}")
        key = (name, frozenset(labels.items()))
        if key in metrics:
            raise ParseError(f"line {lineno}: sample {name}{labels} repeated")
        metrics[key] = value
    return metrics


@dataclass
class PromtoolResult:
    returncode: int
    output: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def promtool_check(text: str) -> PromtoolResult:
    """Runs `promtool check metrics` on an exposition.

    returncode 0: clean; 3: lint problems (listed in `problems`); 1: unparsable.
    """
    promtool = shutil.which("promtool")
    if promtool is None:
        raise FileNotFoundError("promtool not found (Debian package prometheus)")
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)
    output = (proc.stdout + proc.stderr).strip()
    problems = [line for line in output.splitlines() if line.strip()]
    return PromtoolResult(proc.returncode, output, problems if proc.returncode else [])
