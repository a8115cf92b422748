#!/usr/bin/env bash
# A plain MP4 recorder killed with SIGKILL leaves `ftyp free mdat` with an mdat of size 0 and no
# moov.  When its H.264 repeats its parameter sets in the stream (GStreamer `h264parse
# config-interval=-1`, x264 `repeat-headers=1`) and its audio is MP3 or AC-3, the mount walks
# the mdat (muxer/mp4_salvage.c) and shows it as a fast-start MP4, while it grows and after
# the kill.  Each recorder also writes the same encoded streams to a Matroska file (GStreamer
# tee, FFmpeg's tee muxer), which survives the kill: the reference.  Checked per recording: the
# virtual file decodes without an error; its video and audio decode to the reference's frames
# (the shorter of the two a prefix of the other: the two files are cut at different points);
# its packets (data, key flags) are the reference's and at the same times per stream in ffprobe
# and GStreamer.  The A/V start offset, which the recorder would have written into its moov,
# is not in the mdat: the virtual file starts both tracks at 0, and the reference's offset is
# printed, not compared (measured: GStreamer's audio 24 to 42 ms before its video, varying with
# the live sources; FFmpeg's MP3 23 ms and AC-3 5 ms, their encoders' delays).  GStreamer's
# x264enc with its default B-frames (gst-bframes.mp4) is placed in presentation order from its
# picture order counts.  Copies taken while it records are valid and a packet prefix of the
# final file; `livemp4 export` of the source gives the same bytes.  A moov-less file whose audio
# is AAC is mirrored as it is with the reason in user.livemp4.error.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool gst-launch-1.0 ffmpeg ffprobe getfattr:attr
for e in x264enc lamemp3enc avenc_ac3 ac3parse mpegaudioparse mp4mux matroskamux; do
  require_that "GStreamer element $e" gstreamer1.0-plugins gst-inspect-1.0 "$e"
done

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
NAMES=(gst-mp3.mp4 gst-ac3.mp4 gst-bframes.mp4 ff-mp3.mp4 ff-ac3.mp4)
PER_FILE=8
plan $((3 + ${#NAMES[@]} * PER_FILE + 3))
check "mount an empty SOURCE" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

# gst_rec NAME AUDIO [VIDEO-OPTIONS]: a live GStreamer recording, MP4 and Matroska reference.
gst_rec() {
  exec gst-launch-1.0 -e -q videotestsrc is-live=true pattern=ball \
    ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 ${3:-tune=zerolatency} \
    ! h264parse config-interval=-1 ! tee name=v ! queue ! mp4mux name=m ! filesink location="$SRC/$1" \
    v. ! queue ! matroskamux name=k ! filesink location="$W/$1.mkv" \
    audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! $2 ! tee name=a ! queue ! m. a. ! queue ! k. \
    >"$W/$1.log" 2>&1
}
# ff_rec NAME AUDIO-CODEC: FFmpeg as fast as it encodes, MP4 and Matroska through its tee muxer.
ff_rec() {
  exec ffmpeg -nostdin -v error -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 \
    -t 600 -map 0:v -map 1:a -c:v libx264 -flags:v +global_header -bf 0 -x264opts repeat-headers=1 -g 25 \
    -c:a "$1" -f tee "[f=mp4]$SRC/$2|[f=matroska]$W/$2.mkv" >"$W/$2.log" 2>&1
}
samples() { to 10 getfattr --absolute-names --only-values -n user.livemp4.samples "$MNT/$1" 2>/dev/null; }

# record NAME MIN-BYTES CMD...: runs the recorder; while it records, copies of the virtual file
# are taken as its sample count grows (one a second at most, 8 in all: each is checked whole);
# once the source has MIN-BYTES, the recorder is killed.
declare -A COPIES KILLED
record() {
  local name=$1 min=$2 pid n=0 last=0 s i
  shift 2
  "$@" &
  pid=$!
  track_pid "$pid"
  mkdir -p "$W/copies-$name"
  for ((i = 0; i < 1200; i++)); do
    ((n < 8 && i % 5 == 0)) && s=$(samples "$name") && ((s > last)) &&
      to 30 cp "$MNT/$name" "$W/copies-$name/$n.mp4" 2>/dev/null && { last=$s; n=$((n + 1)); }
    (($(stat -c %s "$SRC/$name" 2>/dev/null || echo 0) >= min)) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null && KILLED[$name]=yes
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  COPIES[$name]=$n
}
record gst-mp3.mp4 400000 gst_rec gst-mp3.mp4 "lamemp3enc ! mpegaudioparse"
record gst-ac3.mp4 1500000 gst_rec gst-ac3.mp4 "avenc_ac3 ! ac3parse"
record ff-mp3.mp4 1500000 ff_rec libmp3lame ff-mp3.mp4
record ff-ac3.mp4 1500000 ff_rec ac3 ff-ac3.mp4
record ff-aac.mp4 1000000 ff_rec aac ff-aac.mp4
record gst-bframes.mp4 400000 gst_rec gst-bframes.mp4 "lamemp3enc ! mpegaudioparse" "speed-preset=medium"

# The kill is seen (IN_CLOSE_WRITE): the recording settles.
settled() { [[ $(to 10 getfattr --absolute-names --only-values -n user.livemp4.state "$MNT/$1" 2>/dev/null) == settled ]]; }
# decodes_clean FILE: ffmpeg decodes every stream without a message.
decodes_clean() {
  local out
  out=$(to 120 ffmpeg -nostdin -v error -i "$1" -map 0 -f null - 2>&1) || { echo "ffmpeg failed: $out"; return 1; }
  [[ -z $out ]] || { echo "$out" | head -n 10; return 1; }
}
# common_frames A B: per stream (v, a), the decoded frames of the shorter are the first of the
# longer's, and the shorter has at least 40.
common_frames() {
  local t na nb n status=0
  for t in v a; do
    to 120 ffmpeg -nostdin -v error -i "$1" -map "0:$t" -f framemd5 - | grep -v '^#' | cut -d, -f6 >"$W/fa"
    to 120 ffmpeg -nostdin -v error -i "$2" -map "0:$t" -f framemd5 - | grep -v '^#' | cut -d, -f6 >"$W/fb"
    na=$(wc -l <"$W/fa") nb=$(wc -l <"$W/fb") n=$((na < nb ? na : nb))
    if ((n < 40)) || ! cmp -s <(head -n "$n" "$W/fa") <(head -n "$n" "$W/fb"); then
      echo "$t: $na and $nb frames, the first $n differ (or too few)"
      status=1
    else
      echo "$t: $na and $nb frames, the first $n equal"
    fi
  done
  return "$status"
}
# timing_common REF VIRT: per stream, the shorter's packets are the first of the longer's (the
# two are cut at different points, per stream), at the same times, in ffprobe and GStreamer;
# the A/V start offset is not in the mdat (the virtual file starts both at 0) and is not
# compared: the reference's is printed.
timing_common() {
  local status
  timing_prefix "$2" "$1" --streams-apart --common
  status=$?
  echo "A/V start offset of the reference (video minus audio, as ffprobe reads it), not in the mdat:" \
    "$(to 60 ffprobe -v error -show_entries stream=codec_type,start_time -of csv=p=0 "$1" |
      awk -F, '{ t[$1] = $2 } END { printf "%.3f s", t["video"] - t["audio"] }')"
  return "$status"
}
copies_prefix() {
  local name=$1 i status=0
  ((COPIES[$name] >= 1)) || { echo "no copy was taken while it recorded"; return 1; }
  for ((i = 0; i < COPIES[$name]; i++)); do
    check_mp4 "$W/copies-$name/$i.mp4" >"$W/check" 2>&1 || { echo "copy $i:"; head -n 5 "$W/check"; status=1; }
    packets_prefix "$W/copies-$name/$i.mp4" "$MNT/$name" >"$W/check" 2>&1 ||
      { echo "copy $i:"; head -n 5 "$W/check"; status=1; }
  done
  echo "${COPIES[$name]} copies"
  return "$status"
}

# The Matroska copies end where the kill cut them, inside a cluster: each is rewritten whole
# (FFmpeg, -c copy, the same packets and times) so that a reader has no warning to give.
for name in "${NAMES[@]}"; do
  to 120 ffmpeg -nostdin -v quiet -i "$W/$name.mkv" -map 0 -c copy "$W/$name.ref.mkv"
done

for name in "${NAMES[@]}"; do
  virt=$MNT/$name
  is "${KILLED[$name]:-no}" yes "$name: the recorder was killed while it recorded"
  check "$name: settled after the kill" wait_until 60 settled "$name"
  is "$(xattr "$virt" user.livemp4.format)" mp4-salvage "$name: shown as a recording walked from its mdat"
  check "$name: a valid fast-start MP4" check_mp4 "$virt"
  check "$name: decodes without an error" decodes_clean "$virt"
  check "$name: decodes to the frames of the recorder's Matroska copy" common_frames "$W/$name.ref.mkv" "$virt"
  check "$name: the Matroska copy's packets at its times per stream, in ffprobe and GStreamer" \
    timing_common "$W/$name.ref.mkv" "$virt"
  check "$name: copies taken while it recorded are valid and a packet prefix" copies_prefix "$name"
done
to 120 "$LIVEMP4" export "$SRC/gst-mp3.mp4" "$W/export.mp4" 2>/dev/null
check "gst-mp3.mp4: livemp4 export of the killed source gives the mount's bytes" to 60 cmp "$W/export.mp4" "$MNT/gst-mp3.mp4"

check "ff-aac.mp4: mirrored as it is" to 60 cmp "$SRC/ff-aac.mp4" "$MNT/ff-aac.mp4"
check "ff-aac.mp4: not shown as a recording (no user.livemp4.format)" \
  bash -c "! getfattr --absolute-names --only-values -n user.livemp4.format '$MNT/ff-aac.mp4' 2>/dev/null"
err=$(xattr "$MNT/ff-aac.mp4" user.livemp4.error 2>&1)
check "ff-aac.mp4: user.livemp4.error says why ($err)" grep -q "neither an H.264 NAL unit nor an MP3 or AC-3 frame" <<<"$err"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
done_testing
