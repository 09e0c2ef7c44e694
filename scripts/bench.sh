#!/usr/bin/env bash
# Overhead benchmark: the same load with and without the sightline daemon.
#
# Three targets on loopback, each driven by wrk:
#   nginx      `return 200 "ok"`, one worker      wrk -t1 -c32 (--nginx-conns)
#   nginx-tls  the same over TLS (HTTP/1.1, self-signed EC certificate from
#              tests/fixtures/tls_cert.sh), wrk to https://127.0.0.1:<port>/
#                                                 wrk -t1 -c32 (--nginx-tls-conns)
#   fastapi    FastAPI on uvicorn, GET /api/campaigns/42   wrk -t1 -c8 (--fastapi-conns)
# For every target the script runs --rounds rounds of one run WITHOUT and one
# run WITH the daemon, interleaved (the order flips every round so slow drift
# of the machine hits both sides alike). The daemon is started fresh for each
# WITH run and only measured once /healthz answers 200.
#
# Reported per target:
#   throughput ratio   with/without requests per second, median of the rounds
#   p99 ratio          with/without 99th percentile latency (wrk --latency)
#   kernel ns/request  delta run_time_ns of the daemon's BPF programs over the
#                      WITH run / requests served (kernel.bpf_stats_enabled is
#                      switched on for the run and restored afterwards)
#   cpu s/100k req     daemon utime+stime over the WITH run per 100k requests
#   peak RSS           VmHWM of the daemon
#   lost events        sum of sightline_events_lost_total at the end of a WITH
#                      run ("n/a" when the daemon does not export it)
#   observed/served    requests the daemon counted for the target's service
#                      against the requests wrk completed
#
# The probes trace syscalls host-wide, so anything else busy on the machine
# adds to the kernel time and to the daemon's CPU. Run on a quiet machine.
#
# Usage: scripts/bench.sh [options]     (as root)
#   --duration S        seconds per wrk run (default 10)
#   --rounds N          off/on rounds per target (default 3)
#   --targets LIST      comma-separated: nginx,nginx-tls,fastapi (default all three)
#   --nginx-conns N     wrk connections for nginx (default 32)
#   --nginx-tls-conns N wrk connections for nginx over TLS (default 32)
#   --fastapi-conns N   wrk connections for FastAPI (default 8)
#   --daemon PATH       daemon binary (default build/sightline)
#   --daemon-args ARGS  extra daemon arguments (word-split)
#   --no-daemon         dry mode: only the runs without the daemon
#   --keep              keep the work directory (logs, wrk output)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fixtures=$root/tests/fixtures
python=/usr/bin/python3

duration=10
rounds=3
targets=nginx,nginx-tls,fastapi
nginx_conns=32
nginx_tls_conns=32
fastapi_conns=8
daemon_bin=$root/build/sightline
daemon_args=""
no_daemon=0
keep=0

usage() {
  sed -n '/^# Usage:/,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-2}"
}

while (($#)); do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    --nginx-conns) nginx_conns=$2; shift 2 ;;
    --nginx-tls-conns) nginx_tls_conns=$2; shift 2 ;;
    --fastapi-conns) fastapi_conns=$2; shift 2 ;;
    --daemon) daemon_bin=$2; shift 2 ;;
    --daemon-args) daemon_args=$2; shift 2 ;;
    --no-daemon) no_daemon=1; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) usage 0 ;;
    *) echo "bench: unknown argument $1" >&2; usage ;;
  esac
done

for n in "$duration" "$rounds" "$nginx_conns" "$nginx_tls_conns" "$fastapi_conns"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench: expected a positive integer, got '$n'" >&2; exit 2; }
done
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (BPF statistics, the daemon)" >&2; exit 1; }
for tool in wrk nginx curl bpftool ss "$python"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found; run scripts/setup.sh" >&2; exit 1; }
done
if [[ ,$targets, == *,nginx-tls,* ]] && ! command -v openssl >/dev/null; then
  echo "bench: openssl not found (the nginx-tls target needs a certificate); run scripts/setup.sh" >&2
  exit 1
fi
if ((!no_daemon)) && [[ ! -x $daemon_bin ]]; then
  echo "bench: $daemon_bin is not built (scripts/build.sh), or use --no-daemon" >&2
  exit 1
fi

work=$(mktemp -d -t sightline-bench.XXXXXX)
pids=()          # servers we started, stopped on exit
daemon_pid=""
wrk_pid=""
stats_sysctl=/proc/sys/kernel/bpf_stats_enabled
stats_saved=""

stop_pid() {
  # SIGTERM, up to 5 s grace, then SIGKILL. Only for pids this script started.
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid "$wrk_pid"
  stop_pid "$daemon_pid"
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  if [[ -n $stats_saved ]]; then
    echo "$stats_saved" >"$stats_sysctl" || true
  fi
  if ((keep)); then
    echo "bench: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server <name> <stdout file> <command...>: runs it in the background with
# OTEL_SERVICE_NAME=bench-<name>, waits for its "ready" line, records its pid.
start_server() {
  local name=$1 out=$2
  shift 2
  OTEL_SERVICE_NAME=bench-$name "$@" >"$out" 2>"$out.err" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do
    if grep -qx ready "$out" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  echo "bench: $name did not become ready:" >&2
  cat "$out.err" >&2
  exit 1
}

start_daemon() {
  local port log=$work/daemon.log
  port=$(free_port)
  daemon_url=http://127.0.0.1:$port
  # shellcheck disable=SC2086 # --daemon-args is word-split on purpose
  "$daemon_bin" --listen "127.0.0.1:$port" $daemon_args >>"$log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 200); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$daemon_url/healthz") == 200 ]]; then
      return 0
    fi
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "bench: daemon not healthy within 20 s; its log:" >&2
  tail -n 40 "$log" >&2
  exit 1
}

stop_daemon() {
  stop_pid "$daemon_pid"
  daemon_pid=""
}

# The daemon's BPF program ids, from the prog fds it holds open. Other sightline
# instances on the host (their programs carry the same sl_ names) are not ours.
daemon_prog_ids() {
  local f
  for f in /proc/"$daemon_pid"/fdinfo/*; do
    awk '$1 == "prog_id:" { print $2 }' "$f" 2>/dev/null || true
  done | sort -un | paste -sd, -
}

# bpf_runtime <ids>: "run_time_ns run_cnt" summed over the sl_ programs among
# <ids> (all sl_ programs when <ids> is empty).
bpf_runtime() {
  bpftool prog show --json | "$python" -c '
import json, sys
ids = {int(x) for x in sys.argv[1].split(",") if x}
ns = cnt = 0
for prog in json.load(sys.stdin):
    if not prog.get("name", "").startswith("sl_"):
        continue
    if ids and prog["id"] not in ids:
        continue
    ns += prog.get("run_time_ns", 0)
    cnt += prog.get("run_cnt", 0)
print(ns, cnt)' "$1"
}

other_sl_progs() {
  bpftool prog show --json | "$python" -c '
import json, sys
ids = {int(x) for x in sys.argv[1].split(",") if x}
print(sum(1 for p in json.load(sys.stdin)
          if p.get("name", "").startswith("sl_") and p["id"] not in ids))' "${1:-}"
}

cpu_ticks() {
  # Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the
  # command name, which may itself contain spaces.
  sed 's/.*) //' /proc/"$daemon_pid"/stat | awk '{ print $12 + $13 }'
}

vm_hwm_kb() {
  awk '$1 == "VmHWM:" { print $2 }' /proc/"$daemon_pid"/status
}

# lost_events: sum of sightline_events_lost_total, or n/a when not exported.
# observed_requests <service...>: server request count for those services.
scrape() {
  curl -s --max-time 5 "$daemon_url/metrics" >"$work/metrics.txt" || : >"$work/metrics.txt"
}
lost_events() {
  awk '/^sightline_events_lost_total[{ ]/ { found = 1; sum += $NF }
       END { if (found) printf "%d\n", sum; else print "n/a" }' "$work/metrics.txt"
}
observed_requests() {
  local names
  names=$(printf '%s|' "$@")
  awk -v names="|${names}" '
    /^http_server_request_duration_seconds_count\{/ {
      if (match($0, /service_name="[^"]*"/)) {
        svc = substr($0, RSTART + 14, RLENGTH - 15)
        if (index(names, "|" svc "|")) sum += $NF
      }
    }
    END { printf "%d\n", sum }' "$work/metrics.txt"
}

# run_wrk <out> <conns> <url>: wrk in the background so a signal is handled at
# once (the pid stays visible to the cleanup trap); sets w_rps, w_p99 (us),
# w_req and w_problems (socket errors plus non-2xx/3xx answers).
run_wrk() {
  local out=$1 conns=$2 url=$3
  wrk -t1 -c"$conns" -d"${duration}s" --latency "$url" >"$out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid"
  wrk_pid=""
  read -r w_rps w_p99 w_req w_problems < <(awk '
    function us(v) {
      if (v ~ /us$/) return v + 0
      if (v ~ /ms$/) return v * 1000
      if (v ~ /s$/) return v * 1000000
      return v
    }
    /^ +99%/ { p99 = us($2) }
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { problems += $NF }
    /Socket errors:/ { gsub(/,/, ""); problems += $4 + $6 + $8 + $10 }
    END { printf "%s %s %s %d\n", rps + 0, p99 + 0, requests + 0, problems }' "$out")
  if ((w_req == 0)); then
    echo "bench: wrk served no requests on $url:" >&2
    cat "$out" >&2
    exit 1
  fi
}

# col_values <target> <side> <column>: one value per round from the results file.
col_values() {
  awk -v t="$1" -v side="$2" -v col="$3" '$1 == t && $3 == side { print $col }' "$results"
}

# round_ratios <target> <column>: with/without per round. Each pair ran back to
# back, so slow drift of the machine cancels within it.
round_ratios() {
  awk -v t="$1" -v col="$2" '$1 == t { v[$2, $3] = $col; seen[$2] = 1 }
    END { for (r in seen) if (v[r, "off"] > 0) printf "%.4f\n", v[r, "on"] / v[r, "off"] }' "$results"
}

sum() {
  awk '{ s += $1 } END { printf "%d\n", s }'
}

median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---------------------------------------------------------------------------

echo "bench: work directory $work"
echo "bench: ${rounds} round(s) of ${duration}s per side, targets: $targets"

declare -A url conns services
if [[ ,$targets, == *,nginx,* ]]; then
  port=$(free_port)
  start_server nginx "$work/nginx.out" bash "$fixtures/nginx_conf.sh" "$work/nginx" "$port" --run
  url[nginx]=http://127.0.0.1:$port/
  conns[nginx]=$nginx_conns
  # nginx overwrites what /proc/<pid>/environ shows, so it may be named by its executable.
  services[nginx]="bench-nginx nginx"
fi
if [[ ,$targets, == *,nginx-tls,* ]]; then
  port=$(free_port)
  bash "$fixtures/tls_cert.sh" "$work/cert" >/dev/null
  start_server nginx-tls "$work/nginx-tls.out" \
    bash "$fixtures/nginx_conf.sh" "$work/nginx-tls" "$port" --tls "$work/cert" --run
  # wrk speaks TLS itself (and does not check the certificate).
  url[nginx-tls]=https://127.0.0.1:$port/
  conns[nginx-tls]=$nginx_tls_conns
  services[nginx-tls]="bench-nginx-tls nginx"
fi
if [[ ,$targets, == *,fastapi,* ]]; then
  port=$(free_port)
  start_server fastapi "$work/fastapi.out" "$python" "$fixtures/fastapi_app.py" "$port"
  url[fastapi]=http://127.0.0.1:$port/api/campaigns/42
  conns[fastapi]=$fastapi_conns
  services[fastapi]="bench-fastapi python3"
fi
selected=()
for t in nginx nginx-tls fastapi; do
  [[ -n ${url[$t]:-} ]] && selected+=("$t")
done
((${#selected[@]})) || { echo "bench: no known target in '$targets'" >&2; exit 2; }

if ((!no_daemon)); then
  stats_saved=$(cat "$stats_sysctl")
  echo 1 >"$stats_sysctl"
fi

# A short warm-up per target so the first measured run does not pay for cold caches.
for t in "${selected[@]}"; do
  wrk -t1 -c"${conns[$t]}" -d2s "${url[$t]}" >/dev/null 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid"
  wrk_pid=""
done

results=$work/results.txt   # target round side rps p99_us requests problems kns cpu_s hwm_kb lost observed
: >"$results"

warned_others=0

problems_note() {
  if ((w_problems)); then echo "  ($w_problems errors/non-2xx)"; fi
}

measure_off() {
  local t=$1 r=$2
  run_wrk "$work/wrk-$t-$r-off.txt" "${conns[$t]}" "${url[$t]}"
  echo "$t $r off $w_rps $w_p99 $w_req $w_problems - - - - -" >>"$results"
  printf '  %-9s round %d  without  %8.0f req/s  p99 %7.0f us  %8d requests%s\n' \
    "$t" "$r" "$w_rps" "$w_p99" "$w_req" "$(problems_note)"
}

measure_on() {
  local t=$1 r=$2 ids others
  start_daemon
  ids=$(daemon_prog_ids)
  others=$(other_sl_progs "$ids")
  if ((others && !warned_others)); then
    echo "bench: warning: $others other sl_ programs are loaded on this host (another" \
      "sightline?); both sides pay for them" >&2
    warned_others=1
  fi
  local bpf0 cpu0 bpf1 cpu1 hwm lost observed
  bpf0=$(bpf_runtime "$ids")
  cpu0=$(cpu_ticks)
  run_wrk "$work/wrk-$t-$r-on.txt" "${conns[$t]}" "${url[$t]}"
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "bench: the daemon exited during the $t run; its log:" >&2
    tail -n 40 "$work/daemon.log" >&2
    exit 1
  fi
  bpf1=$(bpf_runtime "$ids")
  cpu1=$(cpu_ticks)
  # Let the daemon drain its ring buffer before reading its counters.
  sleep 1
  scrape
  hwm=$(vm_hwm_kb)
  lost=$(lost_events)
  # shellcheck disable=SC2086 # the service list is word-split on purpose
  observed=$(observed_requests ${services[$t]})
  stop_daemon
  local hz kns cpu_s
  hz=$(getconf CLK_TCK)
  kns=$(awk -v a="${bpf0% *}" -v b="${bpf1% *}" -v n="$w_req" 'BEGIN { printf "%.0f", (b - a) / n }')
  cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" -v n="$w_req" \
    'BEGIN { printf "%.3f", (b - a) / hz / n * 100000 }')
  echo "$t $r on $w_rps $w_p99 $w_req $w_problems $kns $cpu_s $hwm $lost $observed" >>"$results"
  printf '  %-9s round %d  with     %8.0f req/s  p99 %7.0f us  %8d requests  %s kernel ns/req  %s cpu s/100k  counted %s%s\n' \
    "$t" "$r" "$w_rps" "$w_p99" "$w_req" "$kns" "$cpu_s" "$observed" "$(problems_note)"
}

for ((r = 1; r <= rounds; r++)); do
  for t in "${selected[@]}"; do
    if ((no_daemon)); then
      measure_off "$t" "$r"
    elif ((r % 2)); then
      measure_off "$t" "$r"
      measure_on "$t" "$r"
    else
      measure_on "$t" "$r"
      measure_off "$t" "$r"
    fi
  done
done

# ---------------------------------------------------------------------------

echo
echo "sightline overhead (${rounds} rounds x ${duration}s, medians)"
for t in "${selected[@]}"; do
  rps_off=$(col_values "$t" off 4 | median)
  p99_off=$(col_values "$t" off 5 | median)
  echo "$t (wrk -t1 -c${conns[$t]} ${url[$t]})"
  printf '  throughput without   %.0f req/s\n' "$rps_off"
  printf '  p99 without          %.0f us\n' "$p99_off"
  if ((no_daemon)); then
    echo "  (dry run: --no-daemon, nothing measured with the daemon)"
    continue
  fi
  printf '  throughput with      %.0f req/s\n' "$(col_values "$t" on 4 | median)"
  printf '  p99 with             %.0f us\n' "$(col_values "$t" on 5 | median)"
  printf '  throughput ratio     %.3f (with/without)\n' "$(round_ratios "$t" 4 | median)"
  printf '  p99 latency ratio    %.3f (with/without)\n' "$(round_ratios "$t" 5 | median)"
  echo "  kernel time          $(col_values "$t" on 8 | median | xargs printf '%.0f') ns per request (BPF run time of the daemon's programs)"
  echo "  daemon CPU           $(col_values "$t" on 9 | median) s per 100k requests"
  echo "  daemon peak RSS      $(col_values "$t" on 10 | sort -n | tail -1 |
    awk '{ printf "%.1f", $1 / 1024 }') MiB (VmHWM, max over runs)"
  lost=$(col_values "$t" on 11 | awk '$1 != "n/a" { found = 1; s += $1 }
    END { if (found) printf "%d\n", s; else print "n/a" }')
  echo "  lost events          $lost (sum over runs)"
  # wrk leaves out the requests still in flight when it stops, so the daemon may
  # count up to one more per connection and run.
  echo "  counted / served     $(col_values "$t" on 12 | sum) / $(col_values "$t" on 6 | sum) requests" \
    "(sum over runs; up to ${conns[$t]} per run in flight at wrk's stop are not in served)"
done
