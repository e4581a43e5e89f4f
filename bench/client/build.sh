#!/bin/sh
# build.sh OUTDIR [--test]
#
# Builds gw-bench-client into OUTDIR and prints the binary's path. Uses
# Debian's Go toolchain and pion packages only (installed with apt-get when
# missing), offline, in GOPATH mode: no module download. Skips the build when
# the binary is newer than every source file. --test also runs the unit tests.
set -eu

if [ "$#" -lt 1 ] || [ -z "$1" ]; then
  echo "usage: build.sh OUTDIR [--test]" >&2
  exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
bin="$out/gw-bench-client"

pkgs="golang-go golang-github-pion-webrtc.v3-dev"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "build.sh: installing:$missing" >&2
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >&2; then
    $SUDO apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >&2
  fi
fi

# Debian installs pion/webrtc v3 at github.com/pion/webrtc while the code
# imports github.com/pion/webrtc/v3: a private GOPATH entry maps the one to
# the other. The build cache stays in OUTDIR too.
gocode=/usr/share/gocode
gopath="$out/gopath"
mkdir -p "$gopath/src/github.com/pion/webrtc"
ln -sfn "$gocode/src/github.com/pion/webrtc" "$gopath/src/github.com/pion/webrtc/v3"
export GO111MODULE=off GOFLAGS= GOPATH="$gopath:$gocode" GOCACHE="$out/go-cache"
export GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0

if [ "${2:-}" = "--test" ]; then
  (cd "$src" && go test . >&2)
fi

stale=1
if [ -x "$bin" ]; then
  stale=0
  for f in "$src"/*.go "$src/build.sh"; do
    [ "$f" -nt "$bin" ] && stale=1
  done
fi
if [ "$stale" = 1 ]; then
  (cd "$src" && go build -trimpath -o "$bin.tmp" . >&2)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
