#!/bin/sh
# Installs what is missing, builds, and starts the gateway from the source
# tree: it serves pipelines/ (a built-in demo camera at /demo/) with the
# settings of gateway.conf, and prints the URL to open.
# Extra arguments go to webrtc-gateway (see --help).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
exec build/server/webrtc-gateway "$@"
