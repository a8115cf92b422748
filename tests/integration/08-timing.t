#!/usr/bin/env bash
# Timing and end-of-recording fidelity (issue 11): every frame, at the source's times, in every
# reader.  Recordings made by the recorders themselves for each class of the issue:
#   - audio with a hole of 0.7 s (fragmented MP4, WebM/Opus, Matroska/AAC);
#   - FFmpeg fMP4 with +frag_every_frame whose video ends before its audio (trun durations 0);
#   - CMAF (-movflags +cmaf): negative composition offsets (trun version 1) with B-frames;
#   - GStreamer matroskamux streamable=true (x264enc + opusenc, Kurento's MKV profile) and an
#     FFmpeg -live 1 WebM (VP8 + Opus): no Cues, unknown sizes;
#   - recorders killed (SIGKILL) mid-write: FFmpeg fMP4 and GStreamer Matroska, in real time;
#     and, deterministically, copies of two recordings cut right after a P-frame whose
#     B-frames were not written yet (where the kill lands decides what the killed ones show);
#   - a resolution change mid-recording: Matroska/H.264, WebM/VP8 and fMP4/H.264.
# Each is checked once the mount calls it settled (-o settle=2): a valid fast-start MP4 that
# decodes cleanly to the source's frames, with every packet of the source (ffprobe's count),
# the same packets at the same times in ffprobe and in GStreamer (same_timing_all), and the
# same bytes as `livemp4 export`.  Each recording's first check shows that it is of its class.
# Where a reader reads a source differently from the virtual file for reasons of its own, the
# comparison accounts for it (tests/lib/timing.py, same_decoded below), each case checked
# against the other reader and FFmpeg's own remux.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM
require_tool "$CHROMIUM:chromium" nginx node npm

# What this test needs beyond require_fuse: missing, the test fails (skips with ALLOW_SKIP=1).
_need() {   # DESC PACKAGE CMD...
  local desc=$1 pkg=$2
  shift 2
  if declare -F require_that >/dev/null; then
    require_that "$desc" "$pkg" "$@"
    return
  fi
  "$@" >/dev/null 2>&1 && return 0
  [[ ${ALLOW_SKIP:-0} == 1 ]] && plan_skip_all "$desc missing (package $pkg; ALLOW_SKIP=1)"
  plan 1
  fail "$desc missing (package $pkg)"
  exit 1
}
_need "gst-launch-1.0" gstreamer1.0-tools command -v gst-launch-1.0
_need "getfattr" attr command -v getfattr
_need "GStreamer's Python bindings ($TIMING_PYTHON)" python3-gst-1.0 \
  "$TIMING_PYTHON" -c 'import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst'
for e in x264enc:gstreamer1.0-plugins-ugly opusenc:gstreamer1.0-plugins-base appsink:gstreamer1.0-plugins-base \
  matroskamux:gstreamer1.0-plugins-good matroskademux:gstreamer1.0-plugins-good qtdemux:gstreamer1.0-plugins-good \
  h264parse:gstreamer1.0-plugins-bad; do
  _need "GStreamer element ${e%%:*}" "${e#*:}" gst-inspect-1.0 --exists "${e%%:*}"
done
for e in libx264 libvpx libopus aac; do
  _need "FFmpeg encoder $e" ffmpeg bash -c "ffmpeg -hide_banner -encoders 2>/dev/null | grep -qw $e"
done

SETTLE=2
T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"

ff() { to 120 ffmpeg -nostdin -hide_banner -v error -y "$@"; }
gst() { to 120 gst-launch-1.0 -q -e "$@"; }
V=(-f lavfi -i testsrc2=size=160x120:rate=25)
A=(-f lavfi -i sine=frequency=440:sample_rate=48000)
X264=(-c:v libx264 -preset veryfast -bf 2 -g 25 -pix_fmt yuv420p)
AAC=(-c:a aac -b:a 64k)
VP8=(-c:v libvpx -deadline realtime -g 25)
OPUS=(-c:a libopus -b:a 32k)
# Audio timestamps jump 0.7 s forward after 1 s (the encoders keep their input's timestamps).
GAP="asetpts='if(gte(T,1),PTS+0.7/TB,PTS)'"

# name -> the check that the source is of its class ("" if none)
declare -A CLASS
NAMES=()
add() { NAMES+=("$1"); CLASS[$1]=$2; }
# rec NAME CLASS-CHECK CMD...: CMD writes $W/NAME; then NAME moves into SOURCE.
rec() {
  local name=$1 class=$2
  shift 2
  "$@" >"$W/$name.rec.log" 2>&1 || { cat "$W/$name.rec.log"; bail_out "recording $name failed: $*"; }
  [[ -s $W/$name ]] || bail_out "recording $name is empty: $*"
  mv "$W/$name" "$SRC/$name"
  add "$name" "$class"
}

mount_fs "$SRC" "$MNT" -o settle=$SETTLE || bail_out "cannot mount $SRC"

# --- recorders killed mid-write (in real time, into SOURCE, while mounted) ----------------
record_ffmpeg_bg "$SRC/killed-fmp4.mp4" --realtime --duration 30 -- -frag_duration 200000 ||
  bail_out "cannot start ffmpeg"
kill_ff=$REC_PID
# Kurento's MKV profile, live: matroskamux streamable, written through without buffering.
gst-launch-1.0 -q videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 ! \
  x264enc speed-preset=veryfast key-int-max=25 ! h264parse ! queue ! matroskamux streamable=true name=m ! \
  filesink location="$SRC/killed-gst.mkv" buffer-mode=unbuffered \
  audiotestsrc is-live=true samplesperbuffer=960 ! audio/x-raw,rate=48000 ! audioconvert ! opusenc ! queue ! m. \
  </dev/null >"$W/killed-gst.log" 2>&1 {_tap_stdout}>&- {_tap_stderr}>&- &
kill_gst=$!
track_pid "$kill_gst"

# --- finished recordings (made in WORK while the killed ones record) ----------------------
rec gap-fmp4.mp4 "timing_py gaps \$src 0.5" \
  ff "${V[@]}" "${A[@]}" -t 3 "${X264[@]}" "${AAC[@]}" -af "$GAP" -movflags frag_keyframe+empty_moov -f mp4 "$W/gap-fmp4.mp4"
rec gap-opus.webm "timing_py gaps \$src 0.5" \
  ff "${V[@]}" "${A[@]}" -t 3 "${VP8[@]}" "${OPUS[@]}" -af "$GAP" "$W/gap-opus.webm"
rec gap-aac.mkv "timing_py gaps \$src 0.5" \
  ff "${V[@]}" "${A[@]}" -t 3 "${X264[@]}" "${AAC[@]}" -af "$GAP" "$W/gap-aac.mkv"
# Video 2 s, audio 3 s, a fragment a frame: audio fragments after the video's end get trun
# durations 0.
rec everyframe.mp4 "zero_durations \$src" \
  ff -f lavfi -i testsrc2=size=160x120:rate=25:duration=2 -f lavfi -i sine=frequency=440:sample_rate=48000:duration=3 \
  "${X264[@]}" "${AAC[@]}" -movflags +frag_every_frame+empty_moov -f mp4 "$W/everyframe.mp4"
rec cmaf.mp4 "negative_offsets \$src" \
  ff "${V[@]}" "${A[@]}" -t 3 "${X264[@]}" "${AAC[@]}" -movflags +cmaf -f mp4 "$W/cmaf.mp4"
rec gst-stream.mkv "" \
  gst videotestsrc num-buffers=75 ! video/x-raw,width=160,height=120,framerate=25/1 ! x264enc speed-preset=veryfast ! \
  h264parse ! queue ! matroskamux streamable=true name=m ! filesink location="$W/gst-stream.mkv" \
  audiotestsrc num-buffers=150 samplesperbuffer=960 ! audio/x-raw,rate=48000 ! audioconvert ! opusenc ! queue ! m.
rec live.webm "" \
  ff "${V[@]}" "${A[@]}" -t 3 "${VP8[@]}" "${OPUS[@]}" -live 1 -f webm "$W/live.webm"

# Resolution change: two encodes, 320x240 then 160x120 (H.264 with its parameter sets in
# every keyframe, as a recorder that changes size writes them), joined by the concat demuxer.
for s in 320x240 160x120; do
  ff -f lavfi -i "testsrc2=size=$s:rate=25" "${A[@]}" -t 1.2 "${X264[@]}" -x264-params repeat-headers=1 "${AAC[@]}" \
    "$W/part-h264-$s.mkv" || bail_out "cannot record part-h264-$s.mkv"
  ff -f lavfi -i "testsrc2=size=$s:rate=25" "${A[@]}" -t 1.2 "${VP8[@]}" "${OPUS[@]}" "$W/part-vp8-$s.webm" ||
    bail_out "cannot record part-vp8-$s.webm"
done
printf "file '%s'\n" "$W/part-h264-320x240.mkv" "$W/part-h264-160x120.mkv" >"$W/h264.txt"
printf "file '%s'\n" "$W/part-vp8-320x240.webm" "$W/part-vp8-160x120.webm" >"$W/vp8.txt"
rec res-h264.mkv "sizes_change \$src" ff -f concat -safe 0 -i "$W/h264.txt" -c copy "$W/res-h264.mkv"
rec res-vp8.webm "sizes_change \$src" ff -f concat -safe 0 -i "$W/vp8.txt" -c copy "$W/res-vp8.webm"
rec res-fmp4.mp4 "sizes_change \$src" \
  ff -f concat -safe 0 -i "$W/h264.txt" -c copy -movflags frag_keyframe+empty_moov -f mp4 "$W/res-fmp4.mp4"

# Recordings cut right after a P-frame whose B-frames were not written yet, as a recorder
# killed at that moment leaves them (the killed recorders above stop wherever SIGKILL lands):
# the file ends where the packet after that P-frame (in the file, any stream) starts.
cut_after_p() {
  local off vi
  vi=$(to 60 ffprobe -v error -select_streams v:0 -show_entries stream=index -of csv=p=0 "$1") || return 1
  off=$(to 60 ffprobe -v error -show_entries packet=stream_index,pts,pos -of compact=p=0 "$1" | awk -F'|' -v v="$vi" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      n++; pos[n] = f["pos"] + 0
      if (f["stream_index"] == v) { nv++; vpts[nv] = f["pts"] + 0; vpos[nv] = f["pos"] + 0 } }
    END {
      for (i = int(nv / 2); i < nv; i++) if (vpts[i] > vpts[i + 1] && vpts[i] > vpts[i - 1]) { p = vpos[i]; break }
      if (p == "") exit 1
      best = -1
      for (j = 1; j <= n; j++) if (pos[j] > p && (best < 0 || pos[j] < best)) best = pos[j]
      if (best < 0) exit 1
      print best
    }') || return 1
  head -c "$off" "$1" >"$2"
}
# ends_after_p FILE: FILE's last video packet (decode order) is a P-frame shown more than one
# frame after every earlier one: the B-frames between were not written.
ends_after_p() {
  to 60 ffprobe -v error -select_streams v:0 -show_entries packet=pts_time,duration_time,flags -of csv=p=0 "$1" |
    awk -F, '{ if (NR > 1 && last > max) max = last; last = $1 + 0; dur = $2 + 0; flags = $3; if (NR == 1) max = last - 1 }
      END { printf "last video packet (%s) at %.3f, the others up to %.3f\n", flags, last, max
            exit !(flags !~ /K/ && last > max + dur * 1.5) }'
}
cut_after_p "$SRC/gap-fmp4.mp4" "$W/cut-fmp4.mp4" || bail_out "cannot cut gap-fmp4.mp4"
mv "$W/cut-fmp4.mp4" "$SRC/" && add cut-fmp4.mp4 "ends_after_p \$src"
cut_after_p "$SRC/gst-stream.mkv" "$W/cut-gst.mkv" || bail_out "cannot cut gst-stream.mkv"
mv "$W/cut-gst.mkv" "$SRC/" && add cut-gst.mkv "ends_after_p \$src"

# Kill the live recorders (each has recorded for a few seconds by now).
samples_of() { to 10 getfattr --only-values -n user.livemp4.samples "$MNT/$1" 2>/dev/null; }
enough() { local s; s=$(samples_of "$1") && ((s >= 150)); }
wait_until 20 enough killed-fmp4.mp4
wait_until 20 enough killed-gst.mp4
kill -KILL "$kill_ff" "$kill_gst"
wait "$kill_ff" 2>/dev/null; st_ff=$?
wait "$kill_gst" 2>/dev/null; st_gst=$?
add killed-fmp4.mp4 "test $st_ff = 137"
add killed-gst.mkv "test $st_gst = 137"
note "killed-fmp4.mp4: $(stat -c %s "$SRC/killed-fmp4.mp4") bytes, killed-gst.mkv: $(stat -c %s "$SRC/killed-gst.mkv") bytes"

# --- class checks --------------------------------------------------------------------------
zero_durations() {
  local out
  out=$(timing_py trun "$1") || return 1
  echo "$out"
  grep -qv ' 0 zero durations' <<<"$out"
}
negative_offsets() {
  local out
  out=$(timing_py trun "$1") || return 1
  echo "$out"
  grep -q '[1-9][0-9]* version 1).* [1-9][0-9]* negative' <<<"$out"
}
no_cues() { ! LC_ALL=C grep -qaF $'\x1c\x53\xbb\x6b' "$1"; }
sizes_change() {
  local out
  out=$(timing_py caps "$1") || { echo "$out"; return 1; }
  echo "$out"
  [[ $out == *' '* ]]
}
# same_sizes SRC VIRT: the decoded video frames have the same sizes, in order.
same_sizes() {
  local a b
  a=$(timing_py caps "$1") || { echo "source: $a"; return 1; }
  b=$(timing_py caps "$2") || { echo "virtual file: $b"; return 1; }
  [[ $a == "$b" ]] || { echo "decoded sizes differ: source $a; virtual file $b"; return 1; }
  echo "$a"
}
# same_decoded SRC VIRT: same_frames, with two readings of FFmpeg's accounted for:
#  - the last frame of an Opus track of a Matroska source: FFmpeg's Matroska demuxer trims it
#    by its DiscardPadding (312 of 960 samples left), its MP4 demuxer does not apply the end
#    of an edit list to audio (all 960 samples; FFmpeg's own remux decodes the same 960), so
#    that frame is left out on both sides;
#  - a fragmented MP4 whose fragments' decode times go back (FFmpeg's +frag_every_frame:
#    tfdt one frame ahead after a trun duration 0): FFmpeg's MP4 demuxer flags the samples
#    whose decode time does not advance "discard" and the decoder drops them (127 of 142 AAC
#    frames); the source times are carried as they are (+1 tick), as FFmpeg's own
#    `-c copy -movflags +faststart` remux writes them, so the reference is that remux.
same_decoded() {
  local d i opus status ref=$1
  d=$(make_tmp)
  if ! to 10 head -c 4 "$1" | cmp -s - <(printf '\x1a\x45\xdf\xa3') &&
    [[ $(to 60 ffprobe -v error -show_entries packet=flags -of csv=p=0 "$1") == *D* ]]; then
    to 60 ffmpeg -nostdin -v error -y -i "$1" -map 0 -c copy -movflags +faststart "$d/remux.mp4" || return 1
    ref=$d/remux.mp4
    echo "(FFmpeg discards some of the source's packets: compared with FFmpeg's remux)"
  fi
  # The source may end inside a frame (a recorder killed): FFmpeg says so, and leaves it out.
  to 120 ffmpeg -nostdin -v error -i "$ref" -map 0 -f framemd5 - 2>"$d/err" >"$d/a"
  grep -vE 'partial file|File ended prematurely' "$d/err" >"$d/err2"
  [[ -s $d/err2 ]] && { echo "ffmpeg framemd5 of $ref:"; head -n 20 "$d/err2"; return 1; }
  _framemd5 "$2" "$d/b" || return 1
  if to 10 head -c 4 "$1" | cmp -s - <(printf '\x1a\x45\xdf\xa3'); then
    # Opus frames that a Matroska source trims with DiscardPadding (its last one, or one at a
    # join of two recordings) decode shorter from the source: MP4 has no per-sample trim but
    # the end of an edit, which FFmpeg's MP4 reader does not apply to audio (its own remux
    # decodes the whole frame too).  Those frames are left out on both sides.
    opus=$(to 30 ffprobe -v error -show_entries stream=index,codec_name -of csv=p=0 "$1" | awk -F, '$2 == "opus" { print $1 }')
    if [[ -n $opus ]]; then
      to 60 python3 - "$d/a" "$d/b" $opus <<'PY' || return 1
import collections, sys
a, b, streams = sys.argv[1], sys.argv[2], {int(x) for x in sys.argv[3:]}
def rows(path):
    return [l for l in open(path) if not l.startswith('#')], [l for l in open(path) if l.startswith('#')]
ra, ha = rows(a)
rb, hb = rows(b)
drop = {}
for s in streams:
    sizes = [int(l.split(',')[4]) for l in ra if int(l.split(',')[0]) == s]
    if not sizes:
        continue
    usual = collections.Counter(sizes).most_common(1)[0][0]
    drop[s] = {i for i, n in enumerate(sizes) if n < usual}
def keep(lines):
    seen, out = collections.Counter(), []
    for l in lines:
        s = int(l.split(',')[0])
        i = seen[s]
        seen[s] += 1
        if i not in drop.get(s, ()):
            out.append(l)
    return out
open(a, 'w').writelines(ha + keep(ra))
open(b, 'w').writelines(hb + keep(rb))
PY
    fi
  fi
  to 60 python3 "$MP4UTIL" framecmp same "$d/a" "$d/b"
  status=$?
  ((status == 0)) && echo "$(grep -vc '^#' "$d/a") frames equal"
  rm -rf "$d"
  return "$status"
}

# gst_sizes FILE: the sizes of the frames GStreamer decodes (decodebin into an appsink, every
# frame's caps), in order, run-length encoded as "WxH*N ...".
gst_sizes() {
  to 120 "$TIMING_PYTHON" - "$1" <<'PY'
import sys
import gi
gi.require_version('Gst', '1.0')
from gi.repository import Gst
Gst.init(None)
pipe = Gst.parse_launch('filesrc name=src ! decodebin ! video/x-raw ! appsink name=sink sync=false')
pipe.get_by_name('src').set_property('location', sys.argv[1])
sink = pipe.get_by_name('sink')
pipe.set_state(Gst.State.PLAYING)
runs = []
while True:
    sample = sink.emit('pull-sample')
    if sample is None:
        break
    st = sample.get_caps().get_structure(0)
    wh = '%dx%d' % (st.get_value('width'), st.get_value('height'))
    if runs and runs[-1][0] == wh:
        runs[-1][1] += 1
    else:
        runs.append([wh, 1])
msg = pipe.get_bus().pop_filtered(Gst.MessageType.ERROR)
pipe.set_state(Gst.State.NULL)
print(' '.join('%s*%d' % (w, n) for w, n in runs))
sys.exit(1 if msg else 0)
PY
}
gst_same_sizes() {
  local a b
  a=$(gst_sizes "$1") || { echo "source: $a"; return 1; }
  b=$(gst_sizes "$2") || { echo "virtual file: $b"; return 1; }
  echo "source: $a; virtual file: $b"
  [[ -n $a && $a == "$b" && $a == *' '* ]]
}

n_res=0
for n in "${NAMES[@]}"; do [[ $n == res-* ]] && n_res=$((n_res + 1)); done
# Played in Chromium over HTTP: the gap and resolution-change recordings.
BROWSER=()
for n in "${NAMES[@]}"; do [[ $n == gap-* || $n == res-* ]] && BROWSER+=("$n"); done
plan $((1 + ${#NAMES[@]} * 7 + n_res * 2 + 1 + ${#BROWSER[@]} * 3 + 2))
pass "mount $SRC (settle=$SETTLE)"   # (checked above, before the plan)

class_desc() {
  case $1 in
    "timing_py gaps"*) echo "an audio hole of at least 0.5 s" ;;
    zero_durations*) echo "trun sample durations 0" ;;
    ends_after_p*) echo "it ends with a P-frame whose B-frames are missing" ;;
    negative_offsets*) echo "trun version 1 with negative composition offsets" ;;
    sizes_change*) echo "its decoded frames change size" ;;
    "test "*) echo "its recorder died of SIGKILL" ;;
    *) echo "$1" ;;
  esac
}
virtual() { case $1 in *.mp4) echo "$MNT/$1" ;; *) echo "$MNT/${1%.*}.mp4" ;; esac; }
state_is_settled() { [[ $(xattr "$1" user.livemp4.state 2>/dev/null) == settled ]]; }

for n in "${NAMES[@]}"; do
  src=$SRC/$n virt=$(virtual "$n")
  if [[ -n ${CLASS[$n]} ]]; then
    check "$n: the source is of its class: $(class_desc "${CLASS[$n]}")" eval "${CLASS[$n]}"
  else
    check "$n: the source has no Cues (a live recording)" no_cues "$src"
  fi
  check "$n: settles (user.livemp4.state)" wait_until 60 state_is_settled "$virt"
  check "$n: a valid fast-start MP4 that decodes without error" check_mp4 "$virt"
  check "$n: every frame of the source (packets per stream, ffprobe)" same_packet_counts "$src" "$virt"
  check "$n: the source's decoded frames" same_decoded "$src" "$virt"
  check "$n: the same packets at the same times, in ffprobe and GStreamer" same_timing_all "$src" "$virt"
  to 60 "$LIVEMP4" export "$src" "$W/$n.export.mp4" >"$W/$n.export.log" 2>&1
  check "$n: the mount equals livemp4 export" to 60 cmp "$W/$n.export.mp4" "$virt"
  if [[ $n == res-* ]]; then
    check "$n: frames decode at the source's sizes (after the change too)" same_sizes "$src" "$virt"
    check "$n: GStreamer decodes it at the same sizes, in order" gst_same_sizes "$src" "$virt"
  fi
done

# --- Chromium plays the gap and resolution-change recordings over HTTP ----------------------
if require_node_modules >"$W/npm.log" 2>&1 &&
  start_nginx "$T/nginx" "$W" "location /media/ { alias $MNT/; }" >"$W/nginx.log" 2>&1; then
  pass "node modules (playwright-core) installed, nginx serves the mount"
else
  fail "node modules (playwright-core) installed, nginx serves the mount"
  diag_file "$W/npm.log"
  diag_file "$W/nginx.log"
fi
cp "$REPO_ROOT/tests/node/play.html" "$W/play.html"
for n in "${BROWSER[@]}"; do
  virt=$(virtual "$n")
  uri=media/${virt##*/}
  to 90 node "$NODE_DIR/play.mjs" "http://127.0.0.1:$NGINX_PORT/play.html?src=/$uri&seek=1" 40000 \
    "$W/chromium-$n" >"$W/$n.play.json" 2>"$W/$n.play.log"
  want=$(timing_py caps "$virt" | awk '{ print $NF }' | cut -d'*' -f1)
  verdict=$(python3 - "$W/$n.play.json" "$want" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    r = {'error': 'no result: %s' % e}
q = r.get('quality') or {}
print('%d|%d|%s|%s' % (r.get('finished') == 'ended' and not r.get('error'), (q.get('total') or 0) > 0,
                       '%sx%s' % (r.get('finalWidth'), r.get('finalHeight')), json.dumps(r)[:600]))
PY
)
  IFS='|' read -r played frames size detail <<<"$verdict"
  ok $((played != 1)) "$n: Chromium plays it over HTTP to the end, seeking 1 s before it" || diag "  $detail"
  ok $((frames != 1)) "$n: Chromium decodes video frames (getVideoPlaybackQuality)" || diag "  $detail"
  is "$size" "$want" "$n: the last frame Chromium shows has the recording's final size"
done
stop_nginx

check "the daemon is still up" daemon_alive "$MNT"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
