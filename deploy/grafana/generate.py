#!/usr/bin/env python3
"""Writes sightline's four Grafana dashboards (dashboards/*.json) from the panel
lists below, so every panel shares one layout, one datasource variable and the
same node/service filters.

    deploy/grafana/generate.py           write the dashboards
    deploy/grafana/generate.py --check   exit 1 if a committed dashboard differs

Every query filters on `instance=~"$node"` and, for per-service series,
`k8s_namespace_name=~"$namespace", service_name=~"$service"` (outside
Kubernetes the namespace label is absent, which ".*", the "All" value, matches). Heavy per-service aggregates read the recording
rules of deploy/prometheus/rules/recording.yml.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
N = 'instance=~"$node"'
S = 'instance=~"$node", k8s_namespace_name=~"$namespace", service_name=~"$service"'
RI = "$__rate_interval"


def q(expr: str, legend: str = "", instant: bool = False) -> dict:
    return {"expr": expr, "legend": legend, "instant": instant}


def ts(title: str, targets: list[dict], unit: str = "short", desc: str = "", w: int = 12,
       stack: bool = False) -> dict:
    return {"kind": "timeseries", "title": title, "targets": targets, "unit": unit,
            "desc": desc, "w": w, "stack": stack}


def stat(title: str, target: dict, unit: str = "short", desc: str = "", w: int = 6) -> dict:
    return {"kind": "stat", "title": title, "targets": [target], "unit": unit, "desc": desc,
            "w": w}


def table(title: str, target: dict, unit: str = "short", desc: str = "", w: int = 12) -> dict:
    target = dict(target, instant=True)
    return {"kind": "table", "title": title, "targets": [target], "unit": unit, "desc": desc,
            "w": w}


def p(quantile: float, metric: str, sel: str, by: str = "") -> str:
    by = f"{by}, le" if by else "le"
    return (f"histogram_quantile({quantile}, sum by ({by}) "
            f"(rate({metric}_bucket{{{sel}}}[{RI}])))")


def rate_sum(metric: str, sel: str, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({metric}{{{sel}}}[{RI}]))"


SERVER = "http_server_request_duration_seconds"
CLIENT = "http_client_request_duration_seconds"
API = [
    stat("Requests / s", q(f"sum(service:http_server_requests:rate5m{{{S}}})"), "reqps"),
    stat("5xx ratio", q(f'(sum(rate({SERVER}_count{{{S}, http_response_status_code=~"5.."}}[{RI}])) '
                        f"or vector(0)) / sum(rate({SERVER}_count{{{S}}}[{RI}]))"), "percentunit"),
    stat("p95 latency", q(p(0.95, SERVER, S)), "s"),
    stat("p99 latency", q(p(0.99, SERVER, S)), "s"),
    ts("Request rate by service", [q(f"sum by (service_name) (service:http_server_requests:rate5m{{{S}}})",
                                     "{{service_name}}")], "reqps"),
    ts("Latency p50 / p95 / p99 by service", [
        q(f"max by (service_name) (service:http_server_request_duration_seconds:p{n}_5m{{{S}}})",
          f"{{{{service_name}}}} p{n}") for n in (50, 95, 99)], "s",
      "Server side: first request byte read to last response byte written."),
    ts("Error rate by route (4xx and 5xx)", [q(rate_sum(f"{SERVER}_count",
                                                        S + ', http_response_status_code=~"[45].."',
                                                        "service_name, http_route, http_response_status_code"),
                                               "{{service_name}} {{http_route}} {{http_response_status_code}}")],
       "reqps"),
    ts("Status codes", [q(rate_sum(f"{SERVER}_count", S, "http_response_status_code"),
                          "{{http_response_status_code}}")], "reqps", stack=True),
    table("Slowest routes (p95 over the range)",
          q(f"topk(10, histogram_quantile(0.95, sum by (service_name, http_route, le) "
            f"(rate({SERVER}_bucket{{{S}}}[$__range]))))", "{{service_name}} {{http_route}}"), "s"),
    ts("Route p95 (recorded)", [q(f"max by (service_name, http_route) "
                                  f"(service_route:http_server_request_duration_seconds:p95_5m{{{S}}})",
                                  "{{service_name}} {{http_route}}")], "s"),
    ts("Outbound requests by destination", [q(rate_sum(f"{CLIENT}_count", S,
                                                       "service_name, server_address, server_port"),
                                              "{{service_name}} → {{server_address}}:{{server_port}}")],
       "reqps"),
    ts("Outbound p95 by destination", [q(p(0.95, CLIENT, S, "service_name, server_address"),
                                         "{{service_name}} → {{server_address}}")], "s"),
    ts("Response bytes / s", [q(rate_sum("http_server_response_body_size_bytes_sum", S, "service_name"),
                                "{{service_name}}")], "Bps"),
    ts("Request bytes / s", [q(rate_sum("http_server_request_body_size_bytes_sum", S, "service_name"),
                               "{{service_name}}")], "Bps"),
]

COST = "gen_ai_client_cost_usd_total"
TOKENS = "gen_ai_client_tokens_total"
OPS = "gen_ai_client_operation_duration_seconds"
AI = [
    stat("Cost over the range (USD)", q(f"sum(increase({COST}{{{S}}}[$__range]))"), "currencyUSD"),
    stat("Cost, last hour (USD)",
         q(f"sum(service_provider_model:gen_ai_client_cost_usd:increase1h{{{S}}})"), "currencyUSD"),
    stat("AI calls / s", q(f"sum(rate({OPS}_count{{{S}}}[{RI}]))"), "reqps"),
    stat("Cache hit ratio (input tokens read from cache)",
         q(f'sum(rate({TOKENS}{{{S}, gen_ai_token_type="cache_read"}}[{RI}])) / '
           f'sum(rate({TOKENS}{{{S}, gen_ai_token_type="input"}}[{RI}]))'), "percentunit"),
    ts("Hourly cost by provider and model", [
        q(f"sum by (gen_ai_provider_name, gen_ai_request_model) "
          f"(service_provider_model:gen_ai_client_cost_usd:increase1h{{{S}}})",
          "{{gen_ai_provider_name}} {{gen_ai_request_model}}")], "currencyUSD",
       "Cost of the last hour's calls, at each point in time."),
    ts("Cost rate by service (USD / hour)", [
        q(f"sum by (service_name) (rate({COST}{{{S}}}[{RI}])) * 3600", "{{service_name}}")],
       "currencyUSD"),
    table("Cost by provider and response model (range)",
          q(f"sum by (gen_ai_provider_name, gen_ai_response_model) (increase({COST}{{{S}}}[$__range]))",
            "{{gen_ai_provider_name}} {{gen_ai_response_model}}"), "currencyUSD"),
    ts("Tokens by type", [q(rate_sum(TOKENS, S, "gen_ai_token_type"), "{{gen_ai_token_type}}")],
       "short", "input includes cached tokens; output includes reasoning.", stack=False),
    ts("Tokens by model", [q(rate_sum(TOKENS, S, "gen_ai_request_model"), "{{gen_ai_request_model}}")]),
    ts("Cached input tokens (billed at the cache price)", [
        q(f'sum by (gen_ai_provider_name, gen_ai_request_model) '
          f'(increase({TOKENS}{{{S}, gen_ai_token_type="cache_read"}}[$__range]))',
          "{{gen_ai_provider_name}} {{gen_ai_request_model}}")], "short",
       "Savings: these tokens times (input price - cache read price) of the price table."),
    ts("Time to first chunk p95", [q(p(0.95, "gen_ai_client_operation_time_to_first_chunk_seconds", S,
                                       "gen_ai_provider_name, gen_ai_request_model"),
                                     "{{gen_ai_provider_name}} {{gen_ai_request_model}}")], "s"),
    ts("Call duration p95", [q(p(0.95, OPS, S, "gen_ai_provider_name, gen_ai_operation_name"),
                               "{{gen_ai_provider_name}} {{gen_ai_operation_name}}")], "s"),
    ts("Rate-limit headroom", [q(f"min by (service_name, gen_ai_provider_name, limit_type) "
                                 f"(gen_ai_client_rate_limit_remaining{{{S}}})",
                                 "{{service_name}} {{gen_ai_provider_name}} {{limit_type}}")]),
    ts("Errors by type", [q(rate_sum(f"{OPS}_count", S + ', error_type!=""',
                                     "gen_ai_provider_name, error_type"),
                            "{{gen_ai_provider_name}} {{error_type}}")], "reqps"),
    ts("SDK retries", [q(rate_sum("gen_ai_client_retries_total", S, "gen_ai_provider_name"),
                         "{{gen_ai_provider_name}}")], "reqps"),
    table("Unpriced calls (range)", q(f"sum by (service_name, gen_ai_request_model) "
                                      f"(increase(gen_ai_client_unpriced_operations_total{{{S}}}[$__range]))"),
          "short", "Calls with tokens but no price: add the model with --pricing-file."),
    table("Calls without usage (range)", q(f"sum by (service_name, gen_ai_request_model) "
                                           f"(increase(gen_ai_client_token_usage_unknown_total{{{S}}}[$__range]))"),
          "short", "Streams without usage (OpenAI without stream_options.include_usage)."),
]

BIZ = [
    stat("Campaigns created (range)", q(f"sum(increase(campaigns_created_total{{{S}}}[$__range]))")),
    stat("Ads published (range)", q(f"sum(increase(ads_published_total{{{S}}}[$__range]))")),
    stat("Video generations (range)", q(f"sum(increase(video_generations_total{{{S}}}[$__range]))")),
    stat("Mean ROAS (last seen per platform)", q(f"avg(roas_value{{{S}}})")),
    ts("Campaign creation rate by platform", [q(rate_sum("campaigns_created_total", S, "platform"),
                                                "{{platform}}")], "ops"),
    ts("Ads published by platform and format", [q(rate_sum("ads_published_total", S, "platform, format"),
                                                  "{{platform}} {{format}}")], "ops", stack=True),
    ts("Video generation rate", [q(rate_sum("video_generations_total", S, "service_name"),
                                   "{{service_name}}")], "ops"),
    ts("ROAS by platform", [q(f"max by (platform) (roas_value{{{S}}})", "{{platform}}")]),
    ts("Prediction accuracy", [q(f"max by (model_type, metric) (prediction_accuracy{{{S}}})",
                                 "{{model_type}} {{metric}}")]),
    table("Business rules: unreadable matches (range)",
          q(f"sum by (metric, reason) (increase(sightline_business_rule_errors_total{{{N}}}[$__range]))"),
          "short", "Matches whose value or label could not be read (see the rules file)."),
    stat("Rules in force", q(f"sum(sightline_business_rules{{{N}}})")),
    ts("Exchanges evaluated by rules", [q(rate_sum("sightline_business_exchanges_total", N, "outcome"),
                                          "{{outcome}}")], "ops", w=18),
]

DB = "db_client_operation_duration_seconds"
SYS = [
    stat("CPU busy", q(f"avg(system_cpu_utilization_ratio{{{N}}})"), "percentunit"),
    stat("Memory used", q(f"avg(system_memory_utilization_ratio{{{N}}})"), "percentunit"),
    stat("Fullest filesystem", q(f"max(system_filesystem_utilization_ratio{{{N}}})"), "percentunit"),
    stat("sightline up", q(f'min(up{{job="sightline", {N}}})'), "bool_yes_no"),
    ts("CPU time by state", [q(rate_sum("system_cpu_time_seconds_total", N, "state") +
                               f" / scalar(sum(system_cpu_logical_count{{{N}}}))", "{{state}}")],
       "percentunit", stack=True),
    ts("Memory", [q(f"sum by (state) (system_memory_usage_bytes{{{N}}})", "{{state}}")], "bytes"),
    ts("Filesystems used", [q(f"max by (instance, mountpoint) (system_filesystem_utilization_ratio{{{N}}})",
                              "{{instance}} {{mountpoint}}")], "percentunit"),
    ts("Disk I/O", [q(rate_sum("system_disk_io_bytes_total", N, "device, direction"),
                      "{{device}} {{direction}}")], "Bps"),
    ts("Network I/O", [q(rate_sum("system_network_io_bytes_total", N, "device, direction"),
                         "{{device}} {{direction}}")], "Bps"),
    ts("Load average", [q(f"max by (instance) (system_load_average_1m{{{N}}})", "{{instance}} 1m"),
                        q(f"max by (instance) (system_load_average_15m{{{N}}})", "{{instance}} 15m")]),
    ts("Database latency p95", [q(f"max by (service_name, db_system_name) "
                                  f"(service_system:db_client_operation_duration_seconds:p95_5m{{{S}}})",
                                  "{{service_name}} {{db_system_name}}")], "s"),
    ts("Database operations by name", [q(rate_sum(f"{DB}_count", S, "db_system_name, db_operation_name"),
                                         "{{db_system_name}} {{db_operation_name}}")], "ops"),
    ts("Database errors", [q(rate_sum(f"{DB}_count", S + ', error_type!=""',
                                      "service_name, db_system_name, error_type"),
                             "{{service_name}} {{db_system_name}} {{error_type}}")], "ops"),
    ts("Cache hit ratio", [q(f'sum by (service_name) (rate(db_client_cache_lookups_total{{{S}, result="hit"}}[{RI}]))'
                             f" / sum by (service_name) (rate(db_client_cache_lookups_total{{{S}}}[{RI}]))",
                             "{{service_name}}")], "percentunit"),
    ts("Connection pools", [q(f"sum by (service_name, db_system_name) (db_client_connections_open{{{S}}})",
                              "{{service_name}} {{db_system_name}}")]),
    ts("Queue depth", [q(f"max by (messaging_destination_name) (messaging_queue_depth{{{N}}})",
                         "{{messaging_destination_name}}")]),
    ts("Queue throughput", [
        q(rate_sum("messaging_client_sent_messages_total", S, "messaging_destination_name"),
          "sent {{messaging_destination_name}}"),
        q(rate_sum("messaging_client_consumed_messages_total", S, "messaging_destination_name"),
          "consumed {{messaging_destination_name}}")], "ops"),
    ts("TCP connections opened", [q(rate_sum("tcp_connections_opened_total", S, "service_name, direction"),
                                    "{{service_name}} {{direction}}")], "ops"),
    ts("TCP connect failures", [q(rate_sum("tcp_connection_failures_total", S, "service_name, reason"),
                                  "{{service_name}} {{reason}}")], "ops"),
    ts("TCP retransmits", [q(rate_sum("tcp_retransmits_total", S, "service_name"), "{{service_name}}")],
       "ops"),
    ts("TCP resets", [q(rate_sum("tcp_resets_total", S, "service_name, direction"),
                        "{{service_name}} {{direction}}")], "ops"),
    ts("Service CPU", [q(rate_sum("process_cpu_time_seconds_total", S, "service_name"),
                         "{{service_name}}")], "percentunit"),
    ts("Service memory (RSS)", [q(f"sum by (service_name) (process_memory_usage_bytes{{{S}}})",
                                  "{{service_name}}")], "bytes"),
    ts("Service file descriptors and threads", [
        q(f"sum by (service_name) (process_open_file_descriptors{{{S}}})", "{{service_name}} fds"),
        q(f"sum by (service_name) (process_threads{{{S}}})", "{{service_name}} threads")]),
    ts("Service instances and uptime", [
        q(f"sum by (service_name) (process_instances{{{S}}})", "{{service_name}} instances"),
        q(f"min by (service_name) (process_uptime_seconds{{{S}}})", "{{service_name}} uptime s")]),
    ts("sightline: events received", [q(rate_sum("sightline_events_total", N, "type"), "{{type}}")],
       "ops"),
    ts("sightline: lost events", [q(rate_sum("sightline_events_lost_total", N, "probe, reason"),
                                    "{{probe}} {{reason}}")], "ops",
       "Events that never arrived: counts are low by this much."),
    ts("sightline: truncated bytes", [q(rate_sum("sightline_payload_truncated_bytes_total", N,
                                                 "probe, reason"), "{{probe}} {{reason}}")], "Bps"),
    ts("sightline: probes attached", [q(f"min by (probe) (sightline_probe_status{{{N}}})", "{{probe}}")]),
    ts("sightline: tracked connections", [q(f"sum by (instance) (sightline_tracked_connections{{{N}}})",
                                            "{{instance}}")]),
    ts("sightline: series folded into overflow", [q(rate_sum("sightline_series_dropped_total", N, "metric"),
                                                    "{{metric}}")], "ops"),
    ts("sightline: own CPU and memory", [
        q(f'sum by (instance) (rate(process_cpu_seconds_total{{job="sightline", {N}}}[{RI}]))',
          "{{instance}} CPU"),
        q(f'sum by (instance) (process_resident_memory_bytes{{job="sightline", {N}}}) / 1e9',
          "{{instance}} RSS GB")]),
]

DASHBOARDS = {
    "api-performance": ("sightline / API performance", API),
    "ai-costs": ("sightline / AI costs", AI),
    "business-metrics": ("sightline / Business metrics", BIZ),
    "system-health": ("sightline / System health", SYS),
}


NAMESPACES = 'label_values(sightline_k8s_workload_info{instance=~"$node"}, k8s_namespace_name)'
SERVICES = ('label_values(process_instances{instance=~"$node", k8s_namespace_name=~"$namespace"}, '
            'service_name)')


def templating() -> dict:
    ds = {"type": "prometheus", "uid": "${datasource}"}
    return {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": ""},
        {"name": "node", "label": "Node", "type": "query", "datasource": ds,
         "query": {"query": "label_values(sightline_build_info, instance)", "refId": "node"},
         "definition": "label_values(sightline_build_info, instance)", "refresh": 2,
         "multi": True, "includeAll": True, "allValue": ".*", "current": {}, "sort": 1},
        {"name": "namespace", "label": "Namespace", "type": "query", "datasource": ds,
         "query": {"query": NAMESPACES, "refId": "namespace"}, "definition": NAMESPACES,
         "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*", "current": {}, "sort": 1},
        {"name": "service", "label": "Service", "type": "query", "datasource": ds,
         "query": {"query": SERVICES, "refId": "service"}, "definition": SERVICES,
         "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*", "current": {}, "sort": 1},
    ]}


def panel(spec: dict, pid: int, x: int, y: int) -> dict:
    ds = {"type": "prometheus", "uid": "${datasource}"}
    h = 4 if spec["kind"] == "stat" else 8
    targets = [{"refId": chr(ord("A") + i), "datasource": ds, "expr": t["expr"],
                "legendFormat": t["legend"] or "__auto", "instant": t["instant"] or spec["kind"] == "stat",
                "range": not (t["instant"] or spec["kind"] in ("stat", "table"))}
               for i, t in enumerate(spec["targets"])]
    out = {"id": pid, "type": spec["kind"], "title": spec["title"], "description": spec["desc"],
           "datasource": ds, "gridPos": {"h": h, "w": spec["w"], "x": x, "y": y}, "targets": targets,
           "fieldConfig": {"defaults": {"unit": spec["unit"]}, "overrides": []}, "options": {}}
    if spec["kind"] == "timeseries":
        out["fieldConfig"]["defaults"]["custom"] = {
            "stacking": {"mode": "normal" if spec["stack"] else "none"}, "fillOpacity": 10}
        out["options"] = {"legend": {"displayMode": "list", "placement": "bottom"},
                          "tooltip": {"mode": "multi"}}
    elif spec["kind"] == "stat":
        out["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    elif spec["kind"] == "table":
        out["transformations"] = [{"id": "merge"}]
    return out


def dashboard(uid: str, title: str, specs: list[dict]) -> dict:
    panels, x, y, row_h = [], 0, 0, 0
    for pid, spec in enumerate(specs, start=1):
        if x + spec["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        p_ = panel(spec, pid, x, y)
        panels.append(p_)
        x += spec["w"]
        row_h = max(row_h, p_["gridPos"]["h"])
    return {"uid": f"sightline-{uid}", "title": title, "tags": ["sightline"], "timezone": "browser",
            "schemaVersion": 39, "version": 1, "editable": True, "refresh": "30s",
            "time": {"from": "now-1h", "to": "now"}, "templating": templating(),
            "annotations": {"list": []}, "panels": panels}


def rendered() -> dict[Path, str]:
    return {OUT / f"{name}.json": json.dumps(dashboard(name, title, specs), indent=2) + "\n"
            for name, (title, specs) in DASHBOARDS.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"dashboards stale (run deploy/grafana/generate.py): {stale}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
