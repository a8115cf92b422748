#!/usr/bin/env bash
# Matroska and WebM recordings (FFmpeg's and GStreamer's muxers, finished and live) are shown
# as fast-start MP4s: valid, carrying exactly the source's packets and decoded frames, with
# the source's start times and duration (within a frame); truncated copies and a file that
# grows while the mount watches show a prefix of the whole.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool gst-launch-1.0   # the GStreamer recordings below

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"

ff() { to 120 ffmpeg -nostdin -hide_banner -v error -y "$@"; }
lavfi_av() { echo -f lavfi -i "testsrc2=size=$1:rate=$2" -f lavfi -i "sine=frequency=440:sample_rate=$3"; }

# name -> what is expected of it: "same" (every packet and frame, ends with Cues or a known
# size) or "live" (no end marker: the last video frame, and what follows it, is held back).
declare -A KIND
ff $(lavfi_av 320x240 25 44100) -t 4 -c:v libx264 -bf 3 -g 50 -c:a aac "$W/x264-aac.mkv" &&
  KIND[x264-aac.mkv]=same
ff $(lavfi_av 320x240 25 48000) -t 3 -c:v libvpx-vp9 -b:v 300k -deadline realtime -c:a libopus "$W/vp9-opus.webm" &&
  KIND[vp9-opus.webm]=same
ff $(lavfi_av 320x240 30 48000) -t 4 -c:v libvpx -deadline realtime -c:a libopus -live 1 -cluster_time_limit 100 \
  -f webm "$W/vp8-opus-live.webm" && KIND[vp8-opus-live.webm]=live
ff $(lavfi_av 320x240 25 48000) -t 3 -c:v libx265 -x265-params log-level=error -c:a flac "$W/hevc-flac.mkv" &&
  KIND[hevc-flac.mkv]=same
ff $(lavfi_av 320x240 25 48000) -ac 6 -t 3 -c:v libx264 -bf 2 -c:a ac3 "$W/x264-ac3.mkv" &&
  KIND[x264-ac3.mkv]=same
if command -v gst-launch-1.0 >/dev/null; then
  to 120 gst-launch-1.0 -q -e videotestsrc num-buffers=150 ! vp8enc deadline=1 ! queue ! webmmux name=m ! \
    filesink location="$W/gst-vp8-opus.webm" audiotestsrc num-buffers=200 ! audioconvert ! opusenc ! queue ! m. \
    >/dev/null 2>&1 && KIND[gst-vp8-opus.webm]=same
  # Kurento's MKV profile: x264enc + opusenc into matroskamux.
  to 120 gst-launch-1.0 -q -e videotestsrc num-buffers=150 ! x264enc ! queue ! matroskamux name=m ! \
    filesink location="$W/gst-x264-opus.mkv" audiotestsrc num-buffers=200 ! audioconvert ! opusenc ! queue ! m. \
    >/dev/null 2>&1 && KIND[gst-x264-opus.mkv]=same
  to 120 gst-launch-1.0 -q -e videotestsrc num-buffers=150 ! x264enc ! queue ! matroskamux streamable=true name=m ! \
    filesink location="$W/gst-x264-stream.mkv" audiotestsrc num-buffers=200 ! audioconvert ! avenc_aac ! queue ! m. \
    >/dev/null 2>&1 && KIND[gst-x264-stream.mkv]=live
fi
((${#KIND[@]} >= 3)) || bail_out "cannot record test files"
NAMES=($(printf '%s\n' "${!KIND[@]}" | sort))
for n in "${NAMES[@]}"; do cp "$W/$n" "$SRC/$n"; done

# Cut copies of two finished recordings at 8 places each.
CUTS=()
for n in x264-aac.mkv vp9-opus.webm; do
  [[ -n ${KIND[$n]:-} ]] || continue
  size=$(stat -c %s "$W/$n")
  for i in 1 2 3 4 5 6 7 8; do
    c="cut$i-$n"
    head -c $((size * i / 9 + i * 37)) "$W/$n" >"$SRC/$c"
    CUTS+=("$c")
  done
done

plan $((${#NAMES[@]} * 5 + ${#CUTS[@]} * 2 + 4))

check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

virtual() { echo "$MNT/${1%.*}.mp4"; }

# same_video_frames SRC VIRT: the decoded video frames are equal (audio compared by packets:
# an Opus track's end trimming is applied by FFmpeg's Matroska demuxer, not its MP4 one).
same_video_frames() {
  local d
  d=$(make_tmp)
  to 120 ffmpeg -nostdin -v error -i "$1" -map 0:v -f framemd5 - 2>/dev/null | grep -v '^#' | cut -d, -f1,6 >"$d/a"
  to 120 ffmpeg -nostdin -v error -i "$2" -map 0:v -f framemd5 - 2>/dev/null | grep -v '^#' | cut -d, -f1,6 >"$d/b"
  [[ -s $d/a ]] || { echo "no video frames in $1"; return 1; }
  cmp -s "$d/a" "$d/b" || { echo "video frames differ: $(wc -l <"$d/a") vs $(wc -l <"$d/b")"; return 1; }
  echo "$(wc -l <"$d/a") video frames equal"
}

# has_type FILE v|a: FILE has a stream of that type.
has_type() { [[ -n $(to 60 ffprobe -v error -select_streams "$2" -show_entries stream=index -of csv=p=0 "$1") ]]; }

# packet_hashes FILE v|a: the hashes of that type's packets, in file order.
packet_hashes() {
  to 120 ffmpeg -nostdin -v error -i "$1" -map "0:$2" -c copy -f framemd5 - 2>/dev/null | grep -v '^#' | cut -d, -f6 |
    tr -d ' '
}

# packets_match same|prefix SRC VIRT: per stream type, VIRT's packets are SRC's (same), or the
# first of SRC's (prefix).  Streams are matched by type, not index: a track with no complete
# sample yet is not in VIRT at all.  (The harness's packets_prefix reads side data hashes as
# packet hashes, and FFmpeg's MP4 demuxer adds skip-samples side data to Opus packets.)
packets_match() {
  local mode=$1 src=$2 virt=$3 t d status=0 na nb
  d=$(make_tmp)
  for t in v a; do
    has_type "$src" "$t" || continue
    if ! has_type "$virt" "$t"; then
      [[ $mode == same ]] && { echo "no $t stream in $virt"; status=1; }
      continue
    fi
    packet_hashes "$src" "$t" >"$d/a"
    packet_hashes "$virt" "$t" >"$d/b"
    na=$(wc -l <"$d/a") nb=$(wc -l <"$d/b")
    if [[ $mode == same ]] && ! cmp -s "$d/a" "$d/b"; then
      echo "$t packets differ ($na vs $nb)"; status=1
    elif [[ $mode == prefix ]] && ! head -n "$nb" "$d/a" | cmp -s - "$d/b"; then
      echo "$t: the $nb packets are not the first of the $na"; status=1
    else
      echo "$t: $nb of $na packets"
    fi
  done
  rm -rf "$d"
  return "$status"
}

# timing_close SRC VIRT: per stream type the same start_time, and the same format duration
# (when the source has one), within 50 ms.  Matroska's Opus start is its CodecDelay before
# zero (-0.0065 s); an MP4 edit list starts at the first sample played, 0.
timing_close() {
  python3 - "$(timing_of "$1")" "$(timing_of "$2")" <<'PY'
import sys
def parse(s):
    out = {}
    for line in s.splitlines():
        kv = dict(x.split('=', 1) for x in line.split('|') if '=' in x)
        out[kv.get('codec_type', 'format')] = kv
    return out
a, b = parse(sys.argv[1]), parse(sys.argv[2])
bad = []
for k in a:
    for f in ('start_time', 'duration'):
        x, y = a[k].get(f, 'N/A'), b.get(k, {}).get(f, 'N/A')
        if x == 'N/A' or (k != 'format' and f == 'duration'):
            continue
        if y == 'N/A' or abs(float(x) - float(y)) > 0.05:
            bad.append('%s %s: %s vs %s' % (k, f, x, y))
print('\n'.join(bad) if bad else sys.argv[1].replace('\n', '; ') + ' // ' + sys.argv[2].replace('\n', '; '))
sys.exit(1 if bad else 0)
PY
}
timing_of() {
  to 60 ffprobe -v error -show_entries format=start_time,duration:stream=codec_type,start_time \
    -of compact=p=0 "$1"
}

# holds_all_but_tail SRC VIRT: at most the last video frame and the audio after it are missing.
holds_all_but_tail() {
  local a b
  a=$(to 60 ffprobe -v error -show_entries packet=stream_index -of csv=p=0 "$1" | sort | uniq -c | awk '{print $1}' | paste -sd' ')
  b=$(to 60 ffprobe -v error -show_entries packet=stream_index -of csv=p=0 "$2" | sort | uniq -c | awk '{print $1}' | paste -sd' ')
  python3 -c 'import sys; a=list(map(int,sys.argv[1].split())); b=list(map(int,sys.argv[2].split()));
sys.exit(0 if len(a)==len(b) and all(0 <= x-y <= 3 for x,y in zip(a,b)) else 1)' "$a" "$b" ||
    { echo "packets per stream: source $a, virtual $b"; return 1; }
  echo "packets per stream: source $a, virtual $b"
}

for n in "${NAMES[@]}"; do
  v=$(virtual "$n")
  check "$n: a valid fast-start MP4" check_mp4 "$v"
  if [[ ${KIND[$n]} == same ]]; then
    check "$n: the same packets as its source" packets_match same "$W/$n" "$v"
    check "$n: the same video frames as its source" same_video_frames "$W/$n" "$v"
  else
    check "$n: its packets are the first packets of the source" packets_match prefix "$W/$n" "$v"
    check "$n: every packet but the held-back tail" holds_all_but_tail "$W/$n" "$v"
  fi
  check "$n: start times and duration as the source's (within 50 ms)" timing_close "$W/$n" "$v"
  if [[ ${KIND[$n]} == same ]]; then
    check "$n: same packets at the same times as the source, in ffprobe and GStreamer" same_timing_all "$W/$n" "$v"
  else
    check "$n: its packets are the source's first, at the same times, in ffprobe and GStreamer" timing_prefix "$v" "$W/$n"
  fi
done

for c in "${CUTS[@]}"; do
  v=$(virtual "$c")
  check "$c: a valid fast-start MP4 (possibly empty)" check_mp4 -e "$v"
  if [[ $(stream_count "$v") == 0 ]]; then
    pass "$c: no sample complete yet"
  else
    check "$c: its packets are the first packets of the recording" packets_match prefix "$W/${c#cut?-}" "$v"
  fi
done

# Growth: the mount indexes only the new bytes of a file written in 32 KiB steps; every
# snapshot is valid and a prefix, and the finished file shows every packet.
G=x264-aac.mkv
: >"$SRC/grow.mkv"
size=$(stat -c %s "$W/$G")
bad=0 steps=0
for ((off = 0; off < size; off += 32768)); do
  tail -c +$((off + 1)) "$W/$G" | head -c 32768 >>"$SRC/grow.mkv"
  steps=$((steps + 1))
  v=$(virtual grow.mkv)
  [[ -e $v ]] || continue
  if ! check_mp4 -e "$v" >"$W/grow.log" 2>&1; then bad=$((bad + 1)); diag_file "$W/grow.log" 10; continue; fi
  [[ $(stream_count "$v") == 0 ]] && continue
  packets_match prefix "$W/$G" "$v" >"$W/grow.log" 2>&1 || { bad=$((bad + 1)); diag_file "$W/grow.log" 10; }
done
is "$bad" 0 "grow.mkv: every one of $steps snapshots is valid and a prefix"
check "grow.mkv: finished, the same packets as its source" packets_match same "$W/$G" "$(virtual grow.mkv)"
check "grow.mkv: finished, the same video frames" same_video_frames "$W/$G" "$(virtual grow.mkv)"

done_testing
