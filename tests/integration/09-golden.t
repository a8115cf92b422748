#!/usr/bin/env bash
# Golden digests: `livemp4 export` of each small recording committed in tests/golden/ (one per
# source format: fragmented MP4, Matroska, WebM, plain MP4 with the moov at the end, MPEG-TS;
# a few KiB each) has the sha256 committed in tests/golden/SHA256SUMS.  The virtual file's
# bytes are deterministic; a change of them must be deliberate: run tests/golden/update.sh
# and commit the new sums with the change, saying why in the commit message.
source "$(dirname "$0")/../lib/common.sh"
require_tool sha256sum
GOLDEN=$REPO_ROOT/tests/golden
mapfile -t files < <(awk '{ sub(/\.export\.mp4$/, "", $2); print $2 }' "$GOLDEN/SHA256SUMS")
plan $((${#files[@]} + 1))
T=$(make_tmp)
is "$(cd "$GOLDEN" && ls | grep -v -e '\.sh$' -e '^SHA256SUMS' -e '\.md$' | LC_ALL=C sort | tr '\n' ' ')" \
   "$(printf '%s\n' "${files[@]}" | LC_ALL=C sort | tr '\n' ' ')" "every recording in tests/golden has a digest"
for f in "${files[@]}"; do
  want=$(awk -v n="$f.export.mp4" '$2 == n { print $1 }' "$GOLDEN/SHA256SUMS")
  if ! to 60 "$LIVEMP4" export "$GOLDEN/$f" "$T/$f.export.mp4" 2>"$T/err"; then
    fail "$f: livemp4 export"; diag_file "$T/err"; continue
  fi
  is "$(sha256sum <"$T/$f.export.mp4" | cut -d' ' -f1)" "$want" "$f: livemp4 export has the committed sha256"
done
