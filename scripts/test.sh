#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite
# (unit, element, gateway and end-to-end tests), then prints one summary line
# "N passed, N failed, N skipped". Usage: scripts/test.sh [meson test args]
# GW_TEST_LOAD=1 runs everything after the build (tests, sanitizer and
# fuzzing passes) on a busy machine: scripts/cpu-hog.sh starts one busy
# process per core before `meson test`, and they are killed by PID when this
# command ends, also on failure or Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests --bench
if [ -f build/build.ninja ]; then meson setup --reconfigure build >/dev/null; else meson setup build; fi
ninja -C build
if [ "${GW_TEST_LOAD:-0}" = 1 ]; then
  GW_CPU_HOG_PIDS=$(echo $(scripts/cpu-hog.sh --start $$))
  export GW_CPU_HOG_PIDS
  trap 'scripts/cpu-hog.sh --stop $GW_CPU_HOG_PIDS' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  echo "GW_TEST_LOAD=1: a CPU hog on each of the $(nproc) cores (PIDs $GW_CPU_HOG_PIDS)"
fi
rc=0
meson test -C build --print-errorlogs "$@" || rc=$?
/usr/bin/python3 - <<'PY'
import json
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
with open("build/meson-logs/testlog.json") as f:
    for line in f:
        r = json.loads(line).get("result", "")
        key = "OK" if r in ("OK", "EXPECTEDFAIL") else "SKIP" if r == "SKIP" else "FAIL"
        counts[key] += 1
print(f"{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
# Then, unless switched off, the sanitizer and fuzzing passes:
# GW_SANITIZE=ci (default) reruns the unit suite and a set of end-to-end
# tests built with ASan+UBSan (tests/sanitizers/run.sh --ci), =e2e every
# end-to-end test, =unit the unit suite only, =0 none; GW_FUZZ_SECONDS=N
# (default 20, 0 = none) fuzzes each libFuzzer target N seconds.
case "${GW_SANITIZE:-ci}" in
  0) ;;
  e2e) tests/sanitizers/run.sh --e2e || rc=1 ;;
  unit | 1) tests/sanitizers/run.sh || rc=1 ;;
  *) tests/sanitizers/run.sh --ci || rc=1 ;;
esac
if [ "${GW_FUZZ_SECONDS:-20}" -gt 0 ]; then tests/fuzz/run.sh "${GW_FUZZ_SECONDS:-20}" || rc=1; fi
[ "$rc" -eq 0 ] && echo "all passes green" || echo "FAILED (see above)"
exit $rc
