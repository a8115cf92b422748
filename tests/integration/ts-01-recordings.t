#!/usr/bin/env bash
# MPEG-TS and M2TS recordings (issue 13) are shown as fast-start MP4s whose packets are those of
# FFmpeg's own `-c copy` remux of the source: data (start codes rewritten as lengths, ADTS
# headers removed), keyframe flags, presentation and decode times.  The last video frame of a
# TS waits for the next one (a TS has no end marker) until the recording settles; then the
# virtual file holds every packet of the remux.  Recorded by FFmpeg (H.264 with B-frames + AAC, HEVC + AC-3, MP2, two
# audio tracks with languages, M2TS, timestamps past the 33-bit wrap) and GStreamer's mpegtsmux
# (H.264 + AAC, HEVC + Opus, m2ts-mode); E-AC-3, Opus, AAC with a PCE, MPEG-2 video (as DVB)
# by FFmpeg; two recordings joined as HLS segments are; copies cut mid-packet, one with a packet
# dropped and one with 77 garbage bytes inserted; a file growing in 32 KiB steps.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool gst-launch-1.0

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"

ff() { to 120 ffmpeg -nostdin -hide_banner -v error -y "$@"; }
lavfi_av() { echo -f lavfi -i "testsrc2=size=$1:rate=$2" -f lavfi -i "sine=frequency=440:sample_rate=$3"; }

NAMES=()
rec() { local n=$1; shift; "$@" && NAMES+=("$n"); }
rec x264-aac.ts ff $(lavfi_av 320x240 25 48000) -t 4 -c:v libx264 -bf 3 -g 50 -c:a aac "$W/x264-aac.ts"
rec hevc-ac3.ts ff $(lavfi_av 320x240 25 48000) -t 3 -c:v libx265 -x265-params log-level=error -c:a ac3 "$W/hevc-ac3.ts"
rec x264-mp2.ts ff $(lavfi_av 320x240 25 44100) -t 3 -c:v libx264 -bf 2 -c:a mp2 "$W/x264-mp2.ts"
rec two-audio.ts ff $(lavfi_av 320x240 25 48000) -f lavfi -i "sine=frequency=880:sample_rate=44100" -t 3 \
  -map 0 -map 1 -map 2 -c:v libx264 -c:a aac -metadata:s:a:0 language=eng -metadata:s:a:1 language=fra \
  "$W/two-audio.ts"
rec m2ts-x264-aac.m2ts ff $(lavfi_av 320x240 25 48000) -t 3 -c:v libx264 -bf 2 -c:a aac -f mpegts \
  -mpegts_m2ts_mode 1 "$W/m2ts-x264-aac.m2ts"
# 95443.7 s is 2^33 ticks of 90 kHz: the timestamps wrap 1.5 s into the recording.
rec wrap.ts ff $(lavfi_av 320x240 25 48000) -t 4 -c:v libx264 -bf 2 -c:a aac -output_ts_offset 95441 "$W/wrap.ts"
rec mpeg2-mp2.ts ff $(lavfi_av 720x576 25 48000) -t 3 -c:v mpeg2video -bf 2 -b:v 4M -c:a mp2 "$W/mpeg2-mp2.ts"
rec x264-aac-pce.ts ff $(lavfi_av 320x240 25 48000) -t 3 -c:v libx264 -bf 2 -c:a aac -aac_pce 1 "$W/x264-aac-pce.ts"
rec x264-eac3.ts ff $(lavfi_av 320x240 25 48000) -t 3 -c:v libx264 -bf 2 -c:a eac3 "$W/x264-eac3.ts"
rec x264-opus.ts ff $(lavfi_av 320x240 25 48000) -t 3 -c:v libx264 -bf 2 -c:a libopus "$W/x264-opus.ts"
rec gst-hevc-opus.ts to 120 gst-launch-1.0 -q -e videotestsrc num-buffers=75 ! x265enc ! h265parse ! queue ! \
  mpegtsmux name=m ! filesink location="$W/gst-hevc-opus.ts" audiotestsrc num-buffers=120 ! audioconvert ! \
  opusenc ! queue ! m.
rec gst-x264-aac.ts to 120 gst-launch-1.0 -q -e videotestsrc num-buffers=100 ! x264enc ! h264parse ! queue ! \
  mpegtsmux name=m ! filesink location="$W/gst-x264-aac.ts" audiotestsrc num-buffers=150 ! audioconvert ! \
  avenc_aac ! aacparse ! queue ! m.
rec gst-m2ts.m2ts to 120 gst-launch-1.0 -q -e videotestsrc num-buffers=100 ! x264enc ! h264parse ! queue ! \
  mpegtsmux m2ts-mode=true name=m ! filesink location="$W/gst-m2ts.m2ts" audiotestsrc num-buffers=150 ! \
  audioconvert ! avenc_aac ! aacparse ! queue ! m.
((${#NAMES[@]} >= 11)) || bail_out "cannot record test files (${NAMES[*]})"
for n in "${NAMES[@]}"; do
  cp "$W/$n" "$SRC/$n"
  ff -i "$W/$n" -map 0 -c copy -movflags +faststart "$W/$n.ref.mp4" || bail_out "FFmpeg cannot remux $n"
done

# Damage: copies of x264-aac.ts cut mid-packet, with one packet dropped, with 77 bytes inserted.
SIZE=$(stat -c %s "$W/x264-aac.ts")
CUTS=()
for i in 1 3 5 7; do
  head -c $((SIZE * i / 8 + 100)) "$W/x264-aac.ts" >"$SRC/cut$i.ts"
  CUTS+=("cut$i.ts")
done
# Two recordings joined as an HLS recorder joins segments: timestamps jump back, counters break.
cat "$W/x264-aac.ts" "$W/x264-aac.ts" >"$W/joined.ts"
cp "$W/joined.ts" "$SRC/joined.ts"
ff -i "$W/joined.ts" -map 0 -c copy -movflags +faststart "$W/joined.ts.ref.mp4" 2>/dev/null
# Timestamps that jump 30 s forward where a second recording follows (an HLS recorder that missed
# segments): the gap is carried.
ff $(lavfi_av 320x240 25 48000) -t 2 -c:v libx264 -bf 3 -g 50 -c:a aac -output_ts_offset 30 "$W/later.ts"
cat "$W/x264-aac.ts" "$W/later.ts" >"$SRC/jump.ts"
python3 - "$W/x264-aac.ts" "$SRC/dropped.ts" "$SRC/garbage.ts" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
mid = (len(d) // 2) // 188 * 188
open(sys.argv[2], 'wb').write(d[:mid] + d[mid + 188:])
open(sys.argv[3], 'wb').write(d[:mid + 50] + bytes((i * 37 + 11) & 0xff for i in range(77)) + d[mid + 50:])
PY

OPUS=0
for n in "${NAMES[@]}"; do [[ $n == *opus* ]] && OPUS=$((OPUS + 1)); done
plan $((${#NAMES[@]} * 6 + OPUS + ${#CUTS[@]} * 2 + 20))

check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"
virtual() { echo "$MNT/${1%.*}.mp4"; }

# packets FILE: per packet, stream type, pts and dts (seconds), keyframe flag and data MD5.
packets() {
  to 60 ffprobe -v error -show_packets -show_data_hash MD5 \
    -show_entries packet=codec_type,stream_index,pts_time,dts_time,flags,data_hash -of csv=p=0 "$1" |
    python3 -c '
import sys
for line in sys.stdin:
    f = line.strip().split(",")
    if len(f) < 6: continue
    t, i, pts, dts, flags, h = f[:6]
    r = lambda x: "%.4f" % float(x) if x not in ("N/A", "") else x
    print(t + i, r(pts), r(dts), flags[:1], h)'
}

# like_remux same VIRT REF: VIRT's packets are REF's (FFmpeg's remux of the source), with one
# video packet more for GStreamer's (its last, which FFmpeg's remux leaves out); prefix: VIRT's
# packets per type are REF's first.
like_remux() {
  local mode=$1 virt=$2 ref=$3 d
  d=$(make_tmp)
  packets "$virt" >"$d/v"
  packets "$ref" >"$d/r"
  python3 - "$mode" "$d/v" "$d/r" <<'PY'
import sys
mode, v, r = sys.argv[1], open(sys.argv[2]).read().split('\n'), open(sys.argv[3]).read().split('\n')
gst = '/gst-' in sys.argv[3]
def by_type(lines):
    out = {}
    for l in lines:
        if l: out.setdefault(l.split()[0], []).append(l)
    return out
V, R = by_type(v), by_type(r)
bad = []
for t in sorted(set(V) | set(R)):
    a, b = V.get(t, []), R.get(t, [])
    if mode == 'same':
        # Every packet, the last video frame too (the recording is finished); GStreamer's last
        # video frame FFmpeg's remux leaves out.
        want = b
        if a[:len(want)] != want or len(a) > len(want) + (1 if t.startswith('video') and gst else 0):
            i = next((k for k in range(min(len(a), len(want))) if a[k] != want[k]), min(len(a), len(want)))
            bad.append('%s: %d vs %d packets, first difference at %d: %s | %s' %
                       (t, len(a), len(want), i, a[i] if i < len(a) else '-', want[i] if i < len(want) else '-'))
    elif a != b[:len(a)]:
        bad.append('%s: the %d packets are not the first of the %d' % (t, len(a), len(b)))
print('; '.join(bad) if bad else ' '.join('%s %d/%d' % (t, len(V.get(t, [])), len(R.get(t, []))) for t in sorted(R)))
sys.exit(1 if bad else 0)
PY
  local rc=$?
  rm -rf "$d"
  return $rc
}

# subsequence VIRT REF: every packet of VIRT (type, keyframe, data) is one of REF's, in order,
# and at most MAX are missing (a damaged copy drops only the samples the damage touches).
subsequence() {
  local virt=$1 ref=$2 max=$3 d
  d=$(make_tmp)
  packets "$virt" | awk '{print $1, $4, $5}' >"$d/v"
  packets "$ref" | awk '{print $1, $4, $5}' >"$d/r"
  python3 - "$d/v" "$d/r" "$max" <<'PY'
import sys
v, r, mx = open(sys.argv[1]).read().split('\n'), open(sys.argv[2]).read().split('\n'), int(sys.argv[3])
v = [x for x in v if x]; r = [x for x in r if x]
for t in sorted(set(x.split()[0] for x in r)):
    a = [x for x in v if x.split()[0] == t]; b = [x for x in r if x.split()[0] == t]
    it = iter(b)
    if not all(x in it for x in a):
        print('%s: packets that are not the source\'s, or out of order' % t); sys.exit(1)
    if len(b) - len(a) > mx:
        print('%s: %d of %d packets (more than %d missing)' % (t, len(a), len(b), mx)); sys.exit(1)
    print('%s %d/%d' % (t, len(a), len(b)), end=' ')
PY
  local rc=$?
  rm -rf "$d"
  return $rc
}

# same_audio_samples A B: the first audio streams of A and B decode to as many samples.
same_audio_samples() {
  local a b
  a=$(to 60 ffmpeg -nostdin -v error -i "$1" -map 0:a:0 -f s16le - | wc -c)
  b=$(to 60 ffmpeg -nostdin -v error -i "$2" -map 0:a:0 -f s16le - | wc -c)
  echo "$a and $b bytes of decoded audio"
  ((a > 0 && a == b))
}
# same_box TYPE A B: the first TYPE box (dac3, dec3) has the same body in A and B.
same_box() {
  python3 - "$@" <<'PY'
import sys
t, a, b = sys.argv[1].encode(), open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read()
def body(d):
    i = d.find(t)
    if i < 4: return None
    return d[i + 4:i - 4 + int.from_bytes(d[i - 4:i], 'big')].hex()
x, y = body(a), body(b)
print('%s: %s and %s' % (t.decode(), x, y))
sys.exit(0 if x is not None and x == y else 1)
PY
}
languages() { to 30 ffprobe -v error -select_streams a -show_entries stream_tags=language -of csv=p=0 "$1" | paste -sd,; }

for n in "${NAMES[@]}"; do
  v=$(virtual "$n")
  check "$n: a valid fast-start MP4 that decodes without error" check_mp4 "$v"
  check "$n: the packets of FFmpeg's -c copy remux (data, keyframes, times), the last video frame too" \
    like_remux same "$v" "$W/$n.ref.mp4"
  check "$n: its packets are the remux's first, at the same times, in ffprobe and GStreamer" \
    timing_prefix "$v" "$W/$n.ref.mp4"
  check "$n: decoded frames are the remux's" frames_prefix "$v" "$W/$n.ref.mp4" 4
  if [[ $n == *opus* ]]; then
    # FFmpeg decodes the TS without the first packet's start trim, and its remux writes pre-skip 0.
    check "$n: as many decoded audio samples as the source and its remux" same_audio_samples "$v" "$SRC/$n"
  fi
  to 60 "$LIVEMP4" export "$SRC/$n" "$W/$n.export.mp4" >"$W/$n.export.log" 2>&1
  check "$n: the mount equals livemp4 export" cmp "$W/$n.export.mp4" "$v"
  check "$n: user.livemp4.format is mpegts" test "$(xattr "$v" user.livemp4.format)" = mpegts
done
is "$(languages "$(virtual two-audio.ts)")" "eng,fra" "two-audio.ts: both audio tracks, with their languages"
check "x264-eac3.ts: dec3 as FFmpeg's remux writes it" same_box dec3 "$(virtual x264-eac3.ts)" "$W/x264-eac3.ts.ref.mp4"
check "hevc-ac3.ts: dac3 as FFmpeg's remux writes it" same_box dac3 "$(virtual hevc-ac3.ts)" "$W/hevc-ac3.ts.ref.mp4"

for c in "${CUTS[@]}"; do
  v=$(virtual "$c")
  check "$c: a valid fast-start MP4" check_mp4 "$v"
  check "$c: its packets are the first of the recording's" like_remux prefix "$v" "$W/x264-aac.ts.ref.mp4"
done
# structure_ok FILE: a fast-start MP4 that ffprobe reads without error (a damaged recording
# loses the frames the damage touches, and those referring to them then decode with errors).
structure_ok() {
  to 60 python3 "$MP4UTIL" faststart "$1" || return 1
  local out
  out=$(to 60 ffprobe -v error -show_format -show_streams -show_packets "$1" 2>&1 >/dev/null)
  [[ -z $out ]] || { echo "ffprobe: $out"; return 1; }
}
for c in dropped.ts garbage.ts; do
  v=$(virtual "$c")
  check "$c: a fast-start MP4 that ffprobe reads without error" structure_ok "$v"
  check "$c: the recording's packets but the few the damage touches" subsequence "$v" "$W/x264-aac.ts.ref.mp4" 3
done
# forward_only FILE: per stream, decode times strictly increase and presentation times never
# repeat (a join carried as a gap, never as time going back).
forward_only() {
  to 60 ffprobe -v error -show_entries packet=stream_index,pts,dts -of csv=p=0 "$1" | python3 -c '
import sys
last, seen, bad = {}, {}, []
for line in sys.stdin:
    i, pts, dts = line.strip().split(",")[:3]
    pts, dts = int(pts), int(dts)
    if i in last and dts <= last[i]: bad.append("stream %s: dts %d after %d" % (i, dts, last[i]))
    if pts in seen.setdefault(i, set()): bad.append("stream %s: pts %d twice" % (i, pts))
    last[i] = dts; seen[i].add(pts)
print("; ".join(bad[:5]) if bad else "decode times increase, presentation times are distinct")
sys.exit(1 if bad else 0)'
}
v=$(virtual joined.ts)
check "joined.ts: a valid fast-start MP4 that decodes without error" check_mp4 "$v"
check "joined.ts: time never goes back at the join" forward_only "$v"
check "joined.ts: every frame of FFmpeg's remux (data, keyframes)" subsequence "$v" "$W/joined.ts.ref.mp4" 0
# same_times VIRT SRC: per stream type, VIRT's presentation times from its first are SRC's (a
# jump forward carried as the gap it is; FFmpeg's command line would close up one of over 10 s).
same_times() {
  local d
  d=$(make_tmp)
  for f in "$1" "$2"; do
    to 60 ffprobe -v error -show_entries packet=codec_type,pts_time -of csv=p=0 "$f" >>"$d/p"
    echo end >>"$d/p"
  done
  python3 - "$d/p" <<'PY'
import sys
parts = open(sys.argv[1]).read().split('end\n')
def rel(text):
    out = {}
    for l in text.split('\n'):
        if ',' in l:
            t, x = l.split(',')[:2]
            out.setdefault(t, []).append(float(x))
    return {t: ['%.3f' % (x - xs[0]) for x in xs] for t, xs in out.items()}
v, s = rel(parts[0]), rel(parts[1])
bad = [t for t in s if v.get(t) != s[t]]
print('; '.join('%s: %d vs %d times, first difference at %s' % (t, len(v.get(t, [])), len(s[t]),
      next((i for i, (x, y) in enumerate(zip(v.get(t, []), s[t])) if x != y), '-')) for t in bad)
      or ' '.join('%s %d, last %s' % (t, len(s[t]), s[t][-1]) for t in sorted(s)))
sys.exit(1 if bad else 0)
PY
  local rc=$?
  rm -rf "$d"
  return $rc
}
v=$(virtual jump.ts)
check "jump.ts: a valid fast-start MP4 that decodes without error" check_mp4 "$v"
check "jump.ts: a jump of 30 s forward is carried as the gap it is, every packet at its time" same_times "$v" "$SRC/jump.ts"
check "jump.ts: the gap is noted in user.livemp4.error" eval "xattr '$v' user.livemp4.error | grep -q 'carried as a gap'"
check "joined.ts: the join is noted in user.livemp4.error" \
  eval "xattr '$v' user.livemp4.error | grep -q 'segment join'"
check "garbage.ts: the skipped bytes are noted in user.livemp4.error" \
  eval "xattr '$(virtual garbage.ts)' user.livemp4.error | grep -q 'no packets were skipped'"

# Growth: written in 32 KiB steps; every snapshot is valid and a prefix; finished, every packet.
G=x264-aac.ts
: >"$SRC/grow.ts"
bad=0 steps=0
for ((off = 0; off < SIZE; off += 32768)); do
  tail -c +$((off + 1)) "$W/$G" | head -c 32768 >>"$SRC/grow.ts"
  steps=$((steps + 1))
  v=$(virtual grow.ts)
  [[ -e $v ]] || continue
  if ! check_mp4 -e "$v" >"$W/grow.log" 2>&1; then bad=$((bad + 1)); diag_file "$W/grow.log" 10; continue; fi
  [[ $(stream_count "$v") == 0 ]] && continue
  like_remux prefix "$v" "$W/$G.ref.mp4" >"$W/grow.log" 2>&1 || { bad=$((bad + 1)); diag_file "$W/grow.log" 10; }
done
is "$bad" 0 "grow.ts: every one of $steps snapshots is valid and a prefix"
check "grow.ts: finished, the packets of the remux" like_remux same "$(virtual grow.ts)" "$W/$G.ref.mp4"

check "the daemon is still up" daemon_alive "$MNT"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
done_testing
