#!/bin/sh
# Installs the Debian packages the gateway needs to build and run, and with
# --tests also what the test suite uses (RTSP camera, WebRTC peers, browser),
# and with --bench what bench/run.sh uses: the benchmark camera, the Go
# toolchain and pion libraries bench/client/build.sh compiles the load client
# with, tcpdump and matplotlib. Flags combine: install-deps.sh --tests --bench.
# Idempotent: only missing packages are installed. Needs root (or sudo).
set -eu

# gstreamer1.0-x: the pango overlays (timeoverlay) of the demo camera;
# libsrtp2-dev, libnice-dev: the shared sender (gst/stream/gwsender.h);
# gstreamer1.0-libav: the H.264/H.265 decoders of snapshots (server/snapshot.h);
# libjwt-dev: JSON Web Tokens for read and API credentials (server/auth.h).
RUNTIME="meson ninja-build pkg-config g++
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice
  gstreamer1.0-x gstreamer1.0-libav libsrtp2-dev libnice-dev
  libsoup-3.0-dev libjson-glib-dev glib-networking libgnutls28-dev libjwt-dev"
TESTS="libgstrtspserver-1.0-dev iproute2
  python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  gir1.2-gst-plugins-bad-1.0 gir1.2-gst-rtsp-server-1.0 python3-aiortc chromium
  clang-14 libclang-rt-14-dev clang-format openssl"
BENCH="libgstrtspserver-1.0-dev iproute2 python3 tcpdump python3-matplotlib
  golang-go golang-github-pion-webrtc.v3-dev"

want="$RUNTIME"
for arg in "$@"; do
  case "$arg" in
    --tests) want="$want $TESTS" ;;
    --bench) want="$want $BENCH" ;;
    *) echo "usage: install-deps.sh [--tests] [--bench]" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing:$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
