#!/bin/sh
# tests/fuzz/run.sh [SECONDS [TARGET...]]
#
# Builds the libFuzzer targets (clang-14, ASan + UBSan) in build-fuzz (or
# $GW_FUZZ_BUILD) and fuzzes each for SECONDS (default $GW_FUZZ_SECONDS, else
# 60), starting from its committed seeds in tests/fuzz/corpus/TARGET. New
# inputs go to BUILD/fuzz-corpus/TARGET (not committed), the log to
# BUILD/fuzz-TARGET.log. A crash, leak, timeout or broken invariant leaves
# BUILD/fuzz-crash-TARGET-* and makes the script exit 1.
# Reproduce one: BUILD/tests/fuzz/TARGET FILE (full leak stacks with
# ASAN_OPTIONS=fast_unwind_on_malloc=0).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-${GW_FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_sdp fuzz_conf fuzz_wsproto}
build=${GW_FUZZ_BUILD:-build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
  command -v clang++-14 >/dev/null || { echo "fuzz: clang-14 is missing" >&2; exit 1; }
  CC=clang-14 CXX=clang++-14 meson setup "$build" -Dfuzzing=enabled \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
# shellcheck disable=SC2046 # one ninja target per word
ninja -C "$build" -j2 $(for t in $targets; do echo "tests/fuzz/$t"; done)

export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
rc=0
for t in $targets; do
  mkdir -p "$build/fuzz-corpus/$t"
  log="$build/fuzz-$t.log"
  start=$(date +%s)
  if "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-crash-$t-" "$build/fuzz-corpus/$t" "tests/fuzz/corpus/$t" \
    >"$log" 2>&1; then
    echo "fuzz: $t OK in $(($(date +%s) - start)) s: $(grep -m1 '^Done' "$log" || true)"
  else
    echo "fuzz: $t FAILED (log $log):" >&2
    grep -v -E '^#[0-9]+[[:space:]]' "$log" | tail -n 60 >&2
    rc=1
  fi
done
exit $rc
