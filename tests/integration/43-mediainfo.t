#!/usr/bin/env bash
# MediaInfo reads every virtual file of a small corpus as a streamable (fast-start) MPEG-4
# file with the tracks ffprobe finds, the video frame counts ffprobe counts, and ffprobe's
# duration (within 0.1 s).  Matroska/WebM recordings are checked once the daemon shows them
# as MP4s (skipped before).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
require_tool mediainfo

PER_FILE=4
plan $((${#CORPUS[@]} * PER_FILE + 2))

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$W"
make_corpus "$SRC" >"$W/corpus.log" 2>&1 || { cat "$W/corpus.log"; bail_out "cannot record the corpus"; }
check "mount the corpus" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

for name in "${CORPUS[@]}"; do
  desc="$name ($(corpus_desc "$name"))"
  if ! virt=$(corpus_virtual "$MNT" "$name"); then
    skip $PER_FILE "$desc: not shown as an MP4 by this daemon"
    continue
  fi
  to 60 mediainfo --Output=JSON --Full "$virt" >"$W/$name.json" 2>"$W/$name.err"
  rc=$?
  ffprobe_streams "$virt" >"$W/$name.ffprobe"
  python3 - "$W/$name.json" "$W/$name.ffprobe" "$(ffprobe_duration "$virt")" "$rc" >"$W/$name.verdicts" <<'PY'
import json, sys
j_path, ff_path, ff_dur, rc = sys.argv[1], sys.argv[2], float(sys.argv[3] or 0), int(sys.argv[4])
def out(ok, desc, detail=''):
    print('%d|%s|%s' % (0 if ok else 1, desc, str(detail).replace('\n', ' ')))
try:
    tracks = json.load(open(j_path))['media']['track']
except Exception as e:
    tracks = []
    rc = rc or 'unreadable JSON: %s' % e
general = next((t for t in tracks if t.get('@type') == 'General'), {})
media = [t for t in tracks if t.get('@type') in ('Video', 'Audio', 'Text', 'Other')]
out(rc == 0 and general.get('Format') == 'MPEG-4' and general.get('IsStreamable') == 'Yes',
    'mediainfo: Format MPEG-4, IsStreamable Yes',
    'exit %s, Format %s, IsStreamable %s' % (rc, general.get('Format'), general.get('IsStreamable')))
ff = [l.strip().split('|') for l in open(ff_path) if l.strip()]
want = [t for _, _, t, _ in ff]
got = [t['@type'].lower() for t in media]
out(got == want, 'the same %d tracks as ffprobe: %s' % (len(want), want), 'mediainfo: %s' % got)
# Video frame counts against ffprobe's packets.  Where an edit list starts the track late
# (a B-frame delay kept as an empty edit), mediainfo's FrameCount counts the presentation
# (duration x rate) and Source_FrameCount the samples in the tables: compare the samples.
want_frames = [int(n) for _, _, t, n in ff if t == 'video']
got_frames = [int(t.get('Source_FrameCount', t.get('FrameCount', -1))) for t in media if t['@type'] == 'Video']
out(got_frames == want_frames, 'video frame counts are ffprobe\'s: %s' % want_frames, 'mediainfo: %s' % got_frames)
d = float(general.get('Duration') or -1)
out(abs(d - ff_dur) <= 0.1, 'duration %.3f s is ffprobe\'s %.3f s (within 0.1 s)' % (d, ff_dur))
PY
  while IFS='|' read -r status d detail; do
    ok "$status" "$desc: $d" || diag "  $detail"
  done <"$W/$name.verdicts"
  [[ -s $W/$name.err ]] && diag_file "$W/$name.err" 10
done

check "daemon exits cleanly after unmount" unmount_fs "$MNT"
