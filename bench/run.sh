#!/bin/sh
# bench/run.sh [N...]  --  the gateway under N WebRTC viewers (bench/README.md)
#
# Installs what is missing (scripts/install-deps.sh --bench), builds into
# build/ (meson/ninja) and the load client (bench/client/build.sh), makes the
# clips once (cached in $GW_BENCH_CACHE or ~/.cache/gw-bench), then runs every
# measurement inside a private network namespace (tests/e2e/netns.sh, root
# needed) and prints the table. N defaults to 1 10 25 50 100.
#
# Knobs (environment): WINDOW GOP QUICK OUT BASE SETTLE RAMP_MS LAT_WINDOW
# LAT_VIEWERS TTFF_VIEWERS JOIN_N JOIN_RAMPS COLD_RUNS QUIET_WAIT QUIET_MAX KEEP_PCAP GW_BENCH_CACHE
# GW_BENCH_CLIENT; GW_BUILD_DIR=DIR uses an existing build and installs and
# builds nothing (the meson test bench-smoke does that).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=""
case "${QUICK:-0}" in
  0 | "") ;;
  1) quick="--quick" ;;
  *) echo "bench/run.sh: QUICK must be 0 or 1" >&2; exit 2 ;;
esac
for n in "$@"; do
  case "$n" in
    '' | *[!0-9]*) echo "bench/run.sh: N must be positive whole numbers, got '$n'" >&2; exit 2 ;;
  esac
done

if [ -n "${GW_BUILD_DIR:-}" ]; then
  build=$GW_BUILD_DIR
else
  scripts/install-deps.sh --bench
  build=$root/build
  [ -f build/build.ninja ] || meson setup build
  ninja -C build
fi
for f in "$build/bench/gw-bench-camera" "$build/server/webrtc-gateway"; do
  [ -x "$f" ] || { echo "bench/run.sh: $f was not built (gst-rtsp-server and json-glib needed)" >&2; exit 1; }
done

client=${GW_BENCH_CLIENT:-}
if [ -z "$client" ]; then
  [ -x bench/client/build.sh ] || { echo "bench/run.sh: bench/client/build.sh (the load client) is missing" >&2; exit 1; }
  client=$(bench/client/build.sh "$build/bench/client" | tail -n 1)
fi
[ -x "$client" ] || { echo "bench/run.sh: no load client at '$client'" >&2; exit 1; }

default_out=""
out=${OUT:-}
if [ -z "$out" ]; then
  default_out=1
  out="$root/bench/results/$(date -u +%Y%m%d-%H%M%S)-$(hostname)"
  [ -n "$quick" ] && out="$out-quick"
fi
mkdir -p "$out"

export GST_PLUGIN_PATH="$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
"$root/tests/e2e/netns.sh" /usr/bin/python3 "$root/bench/lib/run_bench.py" \
  --out "$out" --camera "$build/bench/gw-bench-camera" \
  --gateway "$build/server/webrtc-gateway" --client "$client" $quick "$@"

# QUICK=1 is the smoke test (CI, meson test bench-smoke): it fails unless
# N=2 shows every viewer ready and served.
if [ -n "$quick" ]; then
  set -- "$@" 2
  exec /usr/bin/python3 "$root/bench/lib/report.py" check "$out/result.json" "$1"
fi

# A full run with the default output also refreshes the committed summary.
if [ -n "$default_out" ] && [ -z "$quick" ]; then
  mkdir -p "$root/bench/results/latest"
  for f in result.json result.md plot.png; do
    [ -f "$out/$f" ] && cp "$out/$f" "$root/bench/results/latest/"
  done
  echo "bench/run.sh: also copied to bench/results/latest/"
fi
