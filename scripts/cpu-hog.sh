#!/bin/sh
# A CPU hog: one busy process per core, to run tests on a busy machine
# (timing races such as a main loop waiting on a camera only show up then).
# The busy processes only compute: no file, no network.
#
#   scripts/cpu-hog.sh [-n N] COMMAND [ARG...]
#       runs COMMAND with N busy processes (default: nproc) beside it, kills
#       them by PID when COMMAND ends (also on failure or Ctrl-C) and exits
#       with COMMAND's status, e.g.
#       scripts/cpu-hog.sh meson test -C build --print-errorlogs e2e-camera-silent
#   scripts/cpu-hog.sh [-n N] --start WATCH_PID
#       starts N busy processes in the background and prints their PIDs, one
#       a line; each ends by itself once process WATCH_PID is gone
#   scripts/cpu-hog.sh --stop PID...
#       kills those busy processes (SIGTERM, by PID)
#   scripts/cpu-hog.sh --busy WATCH_PID
#       one busy process in the foreground, until WATCH_PID is gone or it is
#       killed (what the others start; a test can start it too)
#
# COMMAND and its children see GW_CPU_HOG_PIDS (the busy processes' PIDs),
# so that a test that makes its own load does not add a second one.
set -eu

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Busy until $1 is gone: bursts of ~0.1 s of arithmetic, then a check.
busy() {
  while kill -0 "$1" 2>/dev/null; do
    i=0
    while [ "$i" -lt 100000 ]; do i=$((i + 1)); done
  done
}

# start_hogs N WATCH_PID: prints the PIDs of N busy processes.
start_hogs() {
  k=0
  while [ "$k" -lt "$1" ]; do
    # A new process with none of our descriptors: a caller reading our
    # output in $(...) must not wait for the busy processes.
    /bin/sh "$0" --busy "$2" </dev/null >/dev/null 2>&1 &
    echo $!
    k=$((k + 1))
  done
}

stop_hogs() {
  for p in "$@"; do
    kill -TERM "$p" 2>/dev/null || true
  done
}

n=$(nproc)
if [ "${1:-}" = "-n" ]; then
  [ "$#" -ge 2 ] || usage
  n=$2
  shift 2
fi
case "$n" in '' | *[!0-9]* | 0) echo "cpu-hog.sh: -n wants a positive number" >&2; exit 2 ;; esac
[ "$#" -ge 1 ] || usage

case "$1" in
  --busy)
    [ "$#" -eq 2 ] || usage
    busy "$2"
    ;;
  --start)
    [ "$#" -eq 2 ] || usage
    start_hogs "$n" "$2"
    ;;
  --stop)
    shift
    stop_hogs "$@"
    ;;
  -*) usage ;;
  *)
    pids=$(start_hogs "$n" $$)
    trap 'stop_hogs $pids' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    GW_CPU_HOG_PIDS=$(echo $pids)
    export GW_CPU_HOG_PIDS
    echo "cpu-hog.sh: $n busy processes (PIDs $GW_CPU_HOG_PIDS) beside: $*" >&2
    rc=0
    "$@" || rc=$?
    exit "$rc"
    ;;
esac
