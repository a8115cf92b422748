#!/usr/bin/env bash
# tests/golden/update.sh: rewrites tests/golden/SHA256SUMS from `livemp4 export` of every
# recording here (LIVEMP4 selects the tool; default build/release/livemp4).  Run it only when
# a change of the virtual file's bytes is meant, and commit the new sums with that change,
# saying in the commit message why the bytes changed (README, Tests: golden digests).
set -eu
cd "$(dirname "$0")"
tool=${LIVEMP4:-../../build/release/livemp4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in $(ls | grep -v -e "\.sh$" -e "^SHA256SUMS" -e "\.md$" | LC_ALL=C sort); do
  "$tool" export "$f" "$tmp/$f.export.mp4"
  (cd "$tmp" && sha256sum "$f.export.mp4")
done >"$tmp/sums"
mv "$tmp/sums" SHA256SUMS
cat SHA256SUMS
