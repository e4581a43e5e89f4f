#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite
# (unit, element, gateway and end-to-end tests), then prints one summary line
# "N passed, N failed, N skipped". Usage: scripts/test.sh [meson test args]
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests --bench
if [ -f build/build.ninja ]; then meson setup --reconfigure build >/dev/null; else meson setup build; fi
ninja -C build
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
# Off by default: GW_SANITIZE=1 (or =e2e) reruns the unit (and e2e) suite
# under ASan+UBSan; GW_FUZZ_SECONDS=N fuzzes each libFuzzer target N seconds.
case "${GW_SANITIZE:-0}" in
  0) ;;
  e2e) tests/sanitizers/run.sh --e2e || rc=1 ;;
  *) tests/sanitizers/run.sh || rc=1 ;;
esac
if [ "${GW_FUZZ_SECONDS:-0}" -gt 0 ]; then tests/fuzz/run.sh "$GW_FUZZ_SECONDS" || rc=1; fi
exit $rc
