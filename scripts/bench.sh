#!/usr/bin/env bash
# Benchmarks iotkit-rs against the Eclipse Paho C client (MQTTClient,
# OpenSSL) on the same mosquitto with mutual TLS on loopback, then runs the
# many-devices load generator against mosquitto and against iotkit-sim.
# Prints the machine, every RESULT line and a table of iotkit / Paho ratios.
#
# Also the clients' own CPU time (user + system, getrusage) per QoS 0 message
# and per QoS 1 round trip, measured with blocking waits (bench/*_bench.c).
#
# Usage: scripts/bench.sh [--csv FILE] [--compare FILE] [--clients-only] [--rounds N]
#   --csv FILE      also write the summary as CSV to FILE (it is always in
#                   RESULTS/summary.csv; the last lines printed are
#                   "SUMMARY <broker> <metric> ..." lines, one per metric)
#   --compare FILE  a CSV of an earlier run (--csv): also print iotkit's
#                   medians of both runs and their ratio (this run / that one)
#   --clients-only  iotkit vs Paho only, default broker only: no load_gen,
#                   no set_tcp_nodelay broker (SKIP_LOAD=1 SKIP_NODELAY=1)
#   --rounds N      as BENCH_ROUNDS
# Prerequisites (Debian): mosquitto, libpaho-mqtt-dev (else iotkit only),
# openssl, python3, a C compiler, cargo. Works as root (see with_mosquitto.sh).
# Environment (all optional):
#   BENCH_ARGS     arguments for iotkit_bench and paho_bench
#                  (default: --connects 20 --qos0 20000 --qos1 1000 --idle 10;
#                  also --cpu-qos0 N --cpu-qos1 N, default 5000 and 500)
#   BENCH_ROUNDS   alternating iotkit/Paho rounds; the table shows medians (default 3)
#   LOAD_DEVICES   devices for load_gen, space-separated runs (default "100 1000")
#   LOAD_SECONDS   message phase of load_gen (default 10)
#   SKIP_LOAD=1    skip load_gen; SKIP_SIM=1 skip the iotkit-sim run
#   SKIP_NODELAY=1 skip the rounds against mosquitto with set_tcp_nodelay true
#   IOTKIT_LIB     a prebuilt libiotkit.a (else: cargo build --release)
#   IOTKIT_SIM     a prebuilt iotkit-sim (else: cargo build -p iotkit-sim)
#   BENCH_WORK     work directory (default: a new temporary one)
set -euo pipefail
csv_out=
compare=
while [ $# -gt 0 ]; do
  case $1 in
    --csv) csv_out=${2:?--csv needs a file}; shift 2 ;;
    --compare) compare=$(realpath "${2:?--compare needs a file}"); shift 2 ;;
    --clients-only) export SKIP_LOAD=1 SKIP_NODELAY=1; shift ;;
    --rounds) BENCH_ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
    *) echo "usage: $0 [--csv FILE] [--compare FILE] [--clients-only] [--rounds N]" >&2; exit 2 ;;
  esac
done
[ -z "$csv_out" ] || csv_out=$(realpath -m "$csv_out")
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_WORK:-$(mktemp -d)}
mkdir -p "$work"
target=${CARGO_TARGET_DIR:-$root/target}
rounds=${BENCH_ROUNDS:-3}
bench_args=${BENCH_ARGS:---connects 20 --qos0 20000 --qos1 1000 --idle 10}

lib=${IOTKIT_LIB:-}
if [ -z "$lib" ]; then
  (cd "$root" && cargo build --release --lib --locked) >&2
  lib=$target/release/libiotkit.a
fi

bin=$work/bin
mkdir -p "$bin"
cflags=(-O2 -Wall -Wextra -Werror)
native_libs=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
cc "${cflags[@]}" -fPIC -shared -o "$bin/libmalloc_count.so" "$root/bench/malloc_count.c"
cc "${cflags[@]}" -I"$root/include" -o "$bin/iotkit_bench" "$root/bench/iotkit_bench.c" "$lib" "${native_libs[@]}"
cc "${cflags[@]}" -I"$root/include" -o "$bin/load_gen" "$root/bench/load_gen.c" "$lib" "${native_libs[@]}"
have_paho=0
if echo '#include <MQTTClient.h>' | cc -E - >/dev/null 2>&1; then
  cc "${cflags[@]}" -o "$bin/paho_bench" "$root/bench/paho_bench.c" -lpaho-mqtt3cs -ldl && have_paho=1
fi
[ "$have_paho" = 1 ] || echo "Paho C not found (apt-get install libpaho-mqtt-dev): iotkit only" >&2

echo "== machine"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "nproc:   $(nproc)"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
echo "kernel:  $(uname -r)"
echo "mosquitto: $(mosquitto -h 2>/dev/null | head -1 || true)"
echo "ulimit -n: $(ulimit -n)"
echo "library: $lib"

# One round: iotkit then Paho against the same broker, each under the shim.
run_round() {
  local round=$1 out=${2:-$bench_results}
  mkdir -p "$out"
  LD_PRELOAD="$bin/libmalloc_count.so" "$bin/iotkit_bench" $bench_args | tee "$out/iotkit-$round.txt"
  if [ "$have_paho" = 1 ]; then
    LD_PRELOAD="$bin/libmalloc_count.so" "$bin/paho_bench" --mode callbacks $bench_args | tee "$out/paho-$round.txt"
    LD_PRELOAD="$bin/libmalloc_count.so" "$bin/paho_bench" --mode sync $bench_args | tee "$out/pahosync-$round.txt"
  fi
}
# The same rounds against a second mosquitto on the same PKI with
# set_tcp_nodelay true: with mosquitto's default (Nagle on) a QoS 1 round
# trip can wait ~40 ms for a delayed ACK (see docs/PERFORMANCE.md).
run_nodelay_rounds() {
  local rounds=$1 base=$2
  cp "$base" "$base.nodelay"
  echo "set_tcp_nodelay true" >>"$base.nodelay"
  # shellcheck source=mosquitto_lib.sh
  . "$root/scripts/mosquitto_lib.sh"
  start_mosquitto "$base.nodelay" "$base.nodelay.conf" "$base.nodelay.log" || return 1
  local broker=$mosquitto_pid port=$mosquitto_port
  echo "-- mosquitto with set_tcp_nodelay true on port $port"
  for r in $(seq 1 "$rounds"); do IOTX_MQTT_PORT=$port run_round "$r" "$bench_results/nodelay"; done
  kill "$broker"
  wait "$broker" 2>/dev/null || true
}
export -f run_round run_nodelay_rounds
bench_results=$work/results
export root bin bench_results bench_args have_paho
mkdir -p "$work/results"

echo
echo "== iotkit vs Paho C: $rounds rounds, $bench_args, load $(cut -d' ' -f1 /proc/loadavg)"
"$root/scripts/with_mosquitto.sh" "$work/mosquitto" bash -c '
  for r in $(seq 1 '"$rounds"'); do run_round "$r"; done
  if [ "${SKIP_NODELAY:-0}" != 1 ]; then run_nodelay_rounds '"$rounds"' "'"$work"'/mosquitto/mosquitto.base.conf"; fi'

if [ "${SKIP_LOAD:-0}" != 1 ]; then
  for n in ${LOAD_DEVICES:-100 1000}; do
    echo
    echo "== load_gen: $n devices against mosquitto (one shared certificate), load $(cut -d' ' -f1 /proc/loadavg)"
    "$root/scripts/with_mosquitto.sh" "$work/mosquitto-load" bash -c \
      'LD_PRELOAD="$0/libmalloc_count.so" "$0/load_gen" --shared-cert --devices "$1" --seconds "$2"' \
      "$bin" "$n" "${LOAD_SECONDS:-10}" | tee "$bench_results/load-mosquitto-$n.txt" || true
    if [ "${SKIP_SIM:-0}" != 1 ]; then
      echo
      echo "== load_gen: $n devices against iotkit-sim (own certificates, identity learned), load $(cut -d' ' -f1 /proc/loadavg)"
      "$root/scripts/load_gen.sh" "$bin/load_gen" "$n" "$work/sim-$n" | tee "$bench_results/load-sim-$n.txt" || true
    fi
  done
fi

echo
echo "== summary (medians over rounds; ratio = iotkit / the better of Paho's two modes)"
python3 - "$work/results" "$csv_out" "$compare" <<'PY'
import csv, glob, os, statistics, sys
d, csv_out, compare = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []  # (broker, metric, unit, iotkit, paho, paho-sync, ratio, better) for the CSV
better = {"connect_mean": "lower", "connect_p50": "lower", "qos0_msgs_per_s": "higher",
          "qos1_rtt_p50": "lower", "qos1_rtt_p99": "lower", "qos0_allocs_per_msg": "lower",
          "qos1_allocs_per_msg": "lower", "heap_per_idle_conn": "lower", "peak_heap_first_conn": "lower",
          "rss_per_idle_conn": "lower", "cpu_qos0_per_msg": "lower", "cpu_qos1_per_rtt": "lower",
          "cpu_allocs_per_msg": "lower"}
iotkit_only = ("qos0_hal_allocs_per_msg", "hal_heap_per_idle_conn", "yield0_idle", "cpu_qos0_per_msg_yield1",
               "cpu_qos1_per_rtt_yield1", "cpu_yield1_idle")
fmt = lambda v: f"{v:.2f}" if v is not None else "-"
def summary(dirname, broker, title):
    vals = {}
    for path in sorted(glob.glob(os.path.join(dirname, "*-*.txt"))):
        if os.path.basename(path).startswith("load-"):
            continue
        for line in open(path):
            p = line.split()
            if len(p) == 5 and p[0] == "RESULT":
                vals.setdefault((p[1], p[2]), []).append((float(p[3]), p[4]))
    if not vals:
        return
    def med(key):
        v = vals.get(key)
        return (statistics.median(x for x, _ in v), v[0][1]) if v else (None, "")
    print(title)
    print()
    print("| metric | iotkit | Paho callbacks | Paho sync | iotkit / best Paho | better |")
    print("|---|---:|---:|---:|---:|---|")
    for m in better:
        ours, unit = med(("iotkit", m))
        if ours is None:
            continue
        cb, _ = med(("paho", m))
        sy, _ = med(("paho-sync", m))
        paho = [v for v in (cb, sy) if v is not None]
        best = (max(paho) if better[m] == "higher" else min(paho)) if paho else None
        ratio = ours / best if best else None
        rows.append((broker, m, unit, ours, cb, sy, ratio, better[m]))
        print(f"| {m} ({unit}) | {ours:.2f} | {fmt(cb)} | {fmt(sy)} | {fmt(ratio)} | {better[m]} |")
    for m in iotkit_only:
        ours, unit = med(("iotkit", m))
        if ours is not None:
            rows.append((broker, m, unit, ours, None, None, None, "lower"))
            print(f"| {m} ({unit}) | {ours:.2f} | - | - | - | lower |")
    print()
    # The clients' own CPU time per message, against each Paho mode.
    n = len(vals.get(("iotkit", "cpu_qos0_per_msg"), []))
    if n:
        print(f"CPU time of the client process (user + system, getrusage RUSAGE_SELF) per message, "
              f"blocking waits, median of {n} rounds:")
        print()
        print("| µs per | iotkit | Paho callbacks | Paho sync | iotkit / Paho callbacks | iotkit / Paho sync |")
        print("|---|---:|---:|---:|---:|---:|")
        for m, what in (("cpu_qos0_per_msg", "QoS 0 message sent and received"),
                        ("cpu_qos1_per_rtt", "QoS 1 round trip")):
            ours, _ = med(("iotkit", m))
            cb, _ = med(("paho", m))
            sy, _ = med(("paho-sync", m))
            r = lambda p: fmt(ours / p) if p else "-"
            print(f"| {what} | {fmt(ours)} | {fmt(cb)} | {fmt(sy)} | {r(cb)} | {r(sy)} |")
        print()
        raw = lambda c, m: " ".join(f"{x:.2f}" for x, _ in vals.get((c, m), []))
        for c in ("iotkit", "paho", "paho-sync"):
            print(f"  rounds {c}: cpu_qos0_per_msg {raw(c, 'cpu_qos0_per_msg')}; "
                  f"cpu_qos1_per_rtt {raw(c, 'cpu_qos1_per_rtt')}")
        print()

summary(d, "default", "mosquitto as scripts/with_mosquitto.sh configures it (set_tcp_nodelay false, the default)")
summary(os.path.join(d, "nodelay"), "nodelay", "the same PKI, mosquitto with set_tcp_nodelay true")
loads = sorted(glob.glob(os.path.join(d, "load-*.txt")))
if loads:
    print()
    keys = ["devices_connected", "devices_failed", "connections_per_s", "connect_latency_p50", "rss_total_connected",
            "rss_per_device", "heap_per_device", "messages_received_per_s"]
    print("| load_gen run | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for path in loads:
        got = {}
        for line in open(path):
            p = line.split()
            if len(p) == 5 and p[0] == "RESULT" and p[1] == "load":
                got[p[2]] = f"{float(p[3]):.1f} {p[4]}"
        name = os.path.basename(path)[len("load-"):-len(".txt")]
        print(f"| {name} | " + " | ".join(got.get(k, "-") for k in keys) + " |")
# Machine-readable: the CSV, and one SUMMARY line per metric (grep '^SUMMARY').
num = lambda v: "" if v is None else f"{v:.4f}"
header = ["broker", "metric", "unit", "iotkit", "paho_callbacks", "paho_sync", "iotkit_over_best_paho", "better"]
for path in [os.path.join(d, "summary.csv")] + ([csv_out] if csv_out else []):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([r[0], r[1], r[2], num(r[3]), num(r[4]), num(r[5]), num(r[6]), r[7]])
if compare:
    before = {(r["broker"], r["metric"]): r for r in csv.DictReader(open(compare))}
    print()
    print(f"iotkit, this run against {compare}:")
    print()
    print("| broker | metric | before | now | now / before | better |")
    print("|---|---|---:|---:|---:|---|")
    for r in rows:
        b = before.get((r[0], r[1]))
        if b is None or b["iotkit"] == "":
            continue
        old = float(b["iotkit"])
        ratio = f"{r[3] / old:.2f}" if old else "-"
        print(f"| {r[0]} | {r[1]} ({r[2]}) | {old:.2f} | {r[3]:.2f} | {ratio} | {r[7]} |")
print()
for r in rows:
    print(f"SUMMARY {r[0]} {r[1]} unit={r[2]} iotkit={num(r[3]) or '-'} paho={num(r[4]) or '-'} "
          f"paho-sync={num(r[5]) or '-'} ratio={num(r[6]) or '-'}")
PY
echo
echo "raw results: $work/results (summary.csv)${csv_out:+; CSV also in $csv_out}"
