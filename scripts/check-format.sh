#!/bin/sh
# Fails (and prints the diff) if any C++ file of the project differs from what
# clang-format makes of it with the committed .clang-format. Run by the test
# suite (meson test clang-format); fix with: scripts/check-format.sh --fix
set -eu
cd "$(dirname "$0")/.."
CF=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$CF" ]; then
  echo "clang-format not found (apt-get install clang-format)" >&2
  exit 1
fi
files=$(find gst server tests examples bench -name '*.cpp' -o -name '*.h' -o -name '*.c' |
  grep -v -e '/corpus/' -e '^bench/results/' | sort)
if [ "${1:-}" = "--fix" ]; then
  "$CF" -i $files
  exit 0
fi
# One clang-format run over every file (fast), then the diffs of the bad ones.
if "$CF" --dry-run --Werror $files 2>/dev/null; then
  echo "$(echo "$files" | wc -l) files clang-formatted"
  exit 0
fi
bad=0
for f in $files; do
  if ! "$CF" "$f" | diff -u "$f" -; then
    bad=$((bad + 1))
  fi
done
echo "$bad file(s) not clang-formatted; run scripts/check-format.sh --fix" >&2
exit 1
