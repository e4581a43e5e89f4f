#!/bin/sh
# tests/sanitizers/run.sh [--e2e | --ci] [MESON-TEST-ARGS...]
#
# Builds the project with AddressSanitizer + UndefinedBehaviorSanitizer in
# build-asan (or $GW_ASAN_BUILD) and runs the unit suite under them; with
# --e2e the end-to-end suite too; with --ci (what scripts/test.sh runs) the
# unit suite and the end-to-end tests of CI_E2E below, which cover every
# part of the code in a few minutes. Exits non-zero if a test fails or any
# process reported an ASan error, undefined behaviour or a leak.
#
# Leaks: GLib and GStreamer keep some one-time allocations for the life of
# the process; tests/sanitizers/lsan.supp suppresses exactly those. Its
# patterns match callers, so malloc stacks are unwound fully (slower, but the
# fast unwinder stops at g_malloc in Debian's GLib, which has no frame
# pointers). Reports are collected in BUILD/sanitizer-logs and printed at the
# end.
set -eu
cd "$(dirname "$0")/../.."
build=${GW_ASAN_BUILD:-build-asan}
suites="--suite unit"
# gwsink and the shared sender, an independent peer, the gateway with a real
# camera, hostile input, TLS, secrets, a camera sending garbage.
CI_E2E="e2e-three-viewers e2e-aiortc e2e-gateway-sharing e2e-gateway-hostile e2e-gateway-tls
  e2e-gateway-secrets e2e-camera-garbage"
names=""
case "${1:-}" in
  --e2e) suites="--suite unit --suite e2e"; shift ;;
  --ci) names=$CI_E2E; shift ;;
esac

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build" -j2

# Every instrumented process (tests, and the gateway, camera and gst-launch
# the e2e tests start) writes its ASan/LSan reports to $logs/asan.PID: a
# report from a child process fails the run even when its test does not look
# at stderr. (GCC's libubsan ignores log_path: UBSan reports go to stderr and
# halt_on_error makes the process exit with an error.)
logs="$PWD/$build/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$logs/asan"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The plugin module is instrumented: scan it in this (instrumented) process,
# not in the uninstrumented gst-plugin-scanner, which cannot load it.
export GST_REGISTRY_FORK=no

if [ "$suites" != "--suite unit" ] || [ -n "$names" ]; then
  # The e2e tests also start the system's gst-launch-1.0, which is not
  # instrumented but loads our instrumented plugin: a wrapper first on PATH
  # preloads the sanitizer runtimes into it, with a registry of its own.
  wrap="$PWD/$build/sanitizer-bin"
  mkdir -p "$wrap"
  cat >"$wrap/gst-launch-1.0" <<WRAP
#!/bin/sh
export LD_PRELOAD="$(c++ -print-file-name=libasan.so) $(c++ -print-file-name=libubsan.so)"
export GST_REGISTRY="$PWD/$build/tests/registry-preload.bin"
exec /usr/bin/gst-launch-1.0 "\$@"
WRAP
  chmod +x "$wrap/gst-launch-1.0"
  PATH="$wrap:$PATH"
fi

# Warm the registry caches with leak detection off: scanning every installed
# plugin leaks once in third-party libraries (fontconfig, udev, OpenNI2), in
# nothing of ours, whenever plugins were installed or changed.
GST_REGISTRY="$PWD/$build/tests/registry.bin" GST_PLUGIN_PATH="$PWD/$build/gst" \
  ASAN_OPTIONS="detect_leaks=0:log_path=$logs/warmup" "$build/tests/check/test-gwsdp" \
  >/dev/null 2>&1 || true
if [ -n "${wrap:-}" ] || [ -n "$names" ]; then
  LD_PRELOAD="$(c++ -print-file-name=libasan.so) $(c++ -print-file-name=libubsan.so)" \
    GST_REGISTRY="$PWD/$build/tests/registry-preload.bin" GST_PLUGIN_PATH="$PWD/$build/gst" \
    ASAN_OPTIONS="detect_leaks=0:log_path=$logs/warmup" gst-inspect-1.0 gwsink \
    >/dev/null 2>&1 || true
fi
rm -f "$logs"/warmup*

rc=0
# shellcheck disable=SC2086 # $suites and $names are lists
meson test -C "$build" --no-rebuild --print-errorlogs --timeout-multiplier 3 $suites "$@" || rc=$?
if [ -n "$names" ]; then
  # shellcheck disable=SC2086
  meson test -C "$build" --no-rebuild --print-errorlogs --timeout-multiplier 3 $names || rc=$?
fi
for f in "$logs"/*; do
  [ -e "$f" ] || continue
  echo "sanitizers: report in $f:" >&2
  cat "$f" >&2
  rc=1
done
[ "$rc" -eq 0 ] && echo "sanitizers: no reports"
exit "$rc"
