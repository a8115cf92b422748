#!/usr/bin/env bash
# mp4box.js (GPAC's JavaScript MP4 parser, from npm) parses every virtual file of a small
# corpus as a progressive download would feed it (4 KiB ArrayBuffers with their fileStart,
# then flush): it is ready (moov parsed) before the media data, sees a plain, unfragmented
# MP4 with the tracks and sample counts ffprobe reports, and extracts every sample.
# Matroska/WebM recordings are checked once the daemon shows them as MP4s (skipped before).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
require_tool node npm

PER_FILE=4
plan $((${#CORPUS[@]} * PER_FILE + 3))

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$W"
check "npm ci tests/node (mp4box, playwright-core)" require_node_modules || bail_out "no node modules"
make_corpus "$SRC" >"$W/corpus.log" 2>&1 || { cat "$W/corpus.log"; bail_out "cannot record the corpus"; }
check "mount the corpus" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

for name in "${CORPUS[@]}"; do
  desc="$name ($(corpus_desc "$name"))"
  if ! virt=$(corpus_virtual "$MNT" "$name"); then
    skip $PER_FILE "$desc: not shown as an MP4 by this daemon"
    continue
  fi
  j=$W/$name.json
  to 60 node "$NODE_DIR/mp4box-info.mjs" "$virt" 4096 >"$j" 2>"$W/$name.err"
  rc=$?
  if ! ok $rc "$desc: mp4box.js parses it with no error"; then
    diag_file "$W/$name.err" 20
    diag "  $(head -c 2000 "$j")"
  fi
  mdat=$(python3 "$MP4UTIL" boxes "$virt" | awk '$3 == "mdat" { print $1; exit }')
  ffprobe_streams "$virt" >"$W/$name.ffprobe"
  python3 - "$j" "$W/$name.ffprobe" "${mdat:-0}" "$(file_size "$virt")" >"$W/$name.verdicts" <<'PY'
import json, sys
j_path, ff_path, mdat, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
try:
    r = json.load(open(j_path))
except Exception as e:
    r = {'error': 'no output: %s' % e}
info = r.get('info') or {}
tracks = info.get('tracks') or []
def out(ok, desc, detail=''):
    print('%d|%s|%s' % (0 if ok else 1, desc, str(detail).replace('\n', ' ')))
ready = r.get('readyAt')
out(ready is not None and ready <= mdat + 4096 and info.get('isFragmented') is False,
    'mp4box.js is ready before the media data (at %s bytes, mdat at %d) and sees no fragments' % (ready, mdat),
    'isFragmented=%s' % info.get('isFragmented'))
# ffprobe: "index|codec_name|codec_type|packets"; mp4box.js: tracks in moov order.
ff = [l.strip().split('|') for l in open(ff_path) if l.strip()]
want = [(t, int(n)) for _, _, t, n in ff]
got = [(t.get('type'), t.get('nb_samples')) for t in tracks]
out(got == want, 'the tracks and sample counts are ffprobe\'s: %s' % want, 'mp4box.js: %s; codecs %s'
    % (got, [t.get('codec') for t in tracks]))
ext = r.get('extracted') or {}
got_ext = [(ext.get(str(t.get('id')), {}).get('count')) for t in tracks]
out(got_ext == [n for _, n in want] and all(ext.get(str(t.get('id')), {}).get('bytes', 0) > 0 for t in tracks),
    'mp4box.js extracts every sample of every track', 'extracted %s' % ext)
PY
  while IFS='|' read -r status d detail; do
    ok "$status" "$desc: $d" || diag "  $detail"
  done <"$W/$name.verdicts"
done

check "daemon exits cleanly after unmount" unmount_fs "$MNT"
