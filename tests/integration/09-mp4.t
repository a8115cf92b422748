#!/usr/bin/env bash
# Finished plain MP4/MOV recordings (issue 12, first part): the moov at the end as recorders
# write it when they finish, or in front (fast-start), shown as fast-start MP4s.
#   - recorded by the recorders themselves: FFmpeg MP4 and MOV with their defaults (moov at the
#     end; H.264 with B-frames + AAC), FFmpeg MP4 with negative composition offsets (ctts
#     version 1, as OBS writes them), GStreamer mp4mux and qtmux, with and without faststart;
#   - derived from the FFmpeg MP4 by tests/lib/mp4fixture.py, for what these recorders do not
#     write: two mdats with wide/free/uuid boxes around them, a largesize mdat, a size-0 mdat
#     after a moov in front, a sparse file whose every offset is past 4 GiB (co64 in the
#     source; a few KiB on disk), and a compressed moov (cmov), which is refused with a reason.
# Each is checked once mounted: a valid fast-start MP4 that decodes to the source's frames, the
# same packets (per stream: times, size, keyframe flag, data MD5, as ffprobe reads them) as
# FFmpeg's own `-c copy -movflags +faststart` remux of the source, the same packets at the same
# times as the source in ffprobe and GStreamer (same_timing_all), the same bytes as
# `livemp4 export`, and user.livemp4.format "mp4".  MOV sources appear as NAME.mp4, their
# originals hidden.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool gst-launch-1.0:gstreamer1.0-tools gst-inspect-1.0:gstreamer1.0-tools getfattr:attr
require_that "GStreamer's Python bindings ($TIMING_PYTHON)" python3-gst-1.0 \
  "$TIMING_PYTHON" -c 'import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst'
for e in x264enc:gstreamer1.0-plugins-ugly avenc_aac:gstreamer1.0-libav mp4mux:gstreamer1.0-plugins-good \
  qtmux:gstreamer1.0-plugins-good qtdemux:gstreamer1.0-plugins-good h264parse:gstreamer1.0-plugins-bad \
  aacparse:gstreamer1.0-plugins-good; do
  require_that "GStreamer element ${e%%:*}" "${e#*:}" gst-inspect-1.0 --exists "${e%%:*}"
done

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
FIXTURE="$TESTS_LIB/mp4fixture.py"

ff() { to 120 ffmpeg -nostdin -hide_banner -v error -y "$@"; }
FF_IN=(-f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 3
       -c:v libx264 -preset veryfast -bf 2 -g 25 -pix_fmt yuv420p -c:a aac -b:a 64k)
# gst_rec MUXER OUT: 3 s of H.264 (B-frames) + AAC through MUXER (with its properties).
gst_rec() {
  local mux=$1 out=$2
  # shellcheck disable=SC2086
  to 120 gst-launch-1.0 -q -e videotestsrc num-buffers=75 ! video/x-raw,width=160,height=120,framerate=25/1 ! \
    x264enc bframes=2 key-int-max=25 speed-preset=veryfast ! h264parse ! queue ! $mux name=m ! \
    filesink location="$out" \
    audiotestsrc num-buffers=141 samplesperbuffer=1024 ! audio/x-raw,rate=48000 ! avenc_aac ! aacparse ! queue ! m.
}

# NAME (in SOURCE) -> the name it is shown under
declare -A SHOWN
NAMES=()
# rec NAME SHOWN CMD...: CMD writes $W/NAME, which then moves into SOURCE.
rec() {
  local name=$1 shown=$2
  shift 2
  "$@" >"$W/$name.rec.log" 2>&1 || { cat "$W/$name.rec.log"; bail_out "recording $name failed: $*"; }
  [[ -s $W/$name ]] || bail_out "recording $name is empty: $*"
  mv "$W/$name" "$SRC/$name"
  NAMES+=("$name")
  SHOWN[$name]=$shown
}

rec ff.mp4 ff.mp4 ff "${FF_IN[@]}" "$W/ff.mp4"
rec ff-mov.mov ff-mov.mp4 ff "${FF_IN[@]}" "$W/ff-mov.mov"
rec ff-negcts.mp4 ff-negcts.mp4 ff "${FF_IN[@]}" -movflags +negative_cts_offsets "$W/ff-negcts.mp4"
rec gst-mp4mux.mp4 gst-mp4mux.mp4 gst_rec mp4mux "$W/gst-mp4mux.mp4"
rec gst-qtmux.mov gst-qtmux.mp4 gst_rec qtmux "$W/gst-qtmux.mov"
rec gst-mp4mux-faststart.mp4 gst-mp4mux-faststart.mp4 gst_rec "mp4mux faststart=true" "$W/gst-mp4mux-faststart.mp4"
rec gst-qtmux-faststart.mov gst-qtmux-faststart.mp4 gst_rec "qtmux faststart=true" "$W/gst-qtmux-faststart.mov"
for fx in two-mdats largesize mdat0 sparse-4g; do
  rec "fx-$fx.mp4" "fx-$fx.mp4" to 60 python3 "$FIXTURE" "$fx" "$SRC/ff.mp4" "$W/fx-$fx.mp4"
done
rec fx-cmov.mov fx-cmov.mp4 to 60 python3 "$FIXTURE" cmov "$SRC/ff.mp4" "$W/fx-cmov.mov"

PER_FILE=8
plan $(((${#NAMES[@]} - 1) * PER_FILE + 7))

# The layouts are what they claim (the recorder's, or the fixture's).
layout() { to 30 python3 "$FIXTURE" boxes "$1" | awk '{ printf "%s%s", sep, $3; sep = " " }'; }
declare -A LAYOUT=(
  [ff.mp4]="ftyp free mdat moov" [ff-mov.mov]="ftyp wide mdat moov" [ff-negcts.mp4]="ftyp free mdat moov"
  [gst-mp4mux.mp4]="ftyp free mdat moov" [gst-qtmux.mov]="ftyp free mdat moov"
  [gst-mp4mux-faststart.mp4]="ftyp moov mdat" [gst-qtmux-faststart.mov]="ftyp moov mdat"
  [fx-two-mdats.mp4]="ftyp wide mdat free uuid mdat moov" [fx-largesize.mp4]="ftyp mdat moov"
  [fx-mdat0.mp4]="ftyp moov mdat" [fx-sparse-4g.mp4]="ftyp free mdat moov" [fx-cmov.mov]="ftyp mdat moov"
)
bad=""
for name in "${NAMES[@]}"; do
  got=$(layout "$SRC/$name")
  [[ $got == "${LAYOUT[$name]}" ]] || bad+="$name: $got (want ${LAYOUT[$name]}); "
done
is "$bad" "" "every source has its layout (top-level boxes)"
sparse_ok=$(to 30 python3 - "$SRC/fx-sparse-4g.mp4" <<'EOF'
import os, sys
st = os.stat(sys.argv[1])
print('yes' if st.st_size > 4 << 30 and st.st_blocks * 512 < 1 << 20 else 'no: %d bytes, %d on disk' % (st.st_size, st.st_blocks * 512))
EOF
)
is "$sparse_ok" yes "fx-sparse-4g.mp4 is past 4 GiB and takes under 1 MiB on disk"
# The mdat0 fixture's mdat really has size 0, the largesize one a 64-bit size.
hdrs=$(to 10 python3 -c '
import struct, sys
for f in sys.argv[1:]:
    d = open(f, "rb").read(1 << 16)
    off = 0
    while off + 8 <= len(d):
        s, t = struct.unpack(">I4s", d[off:off + 8])
        if t == b"mdat": print(s, end=" "); break
        off += s if s > 1 else struct.unpack(">Q", d[off + 8:off + 16])[0]
' "$SRC/fx-mdat0.mp4" "$SRC/fx-largesize.mp4")
is "$hdrs" "0 1 " "fx-mdat0's mdat has size 0, fx-largesize's size 1 (largesize follows)"

check "mount $SRC" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

want=$(for name in "${NAMES[@]}"; do echo "${SHOWN[$name]}"; done | LC_ALL=C sort)
check "the mount shows every recording as .mp4 (MOV originals hidden)" \
  diff <(echo "$want") <(cd "$MNT" && to 10 ls -A | LC_ALL=C sort)

# same_packets_remux SRC VIRT: per stream, VIRT's packets are those of FFmpeg's faststart
# remux of SRC (times in seconds: the remux may change a track's timescale, as it does for
# GStreamer's 1/2500 video; the order of streams in the file is left out).
same_packets_remux() {
  local d status=0
  d=$(make_tmp)
  to 120 ffmpeg -nostdin -v error -y -i "$1" -map 0 -c copy -movflags +faststart "$d/remux.mp4" || return 1
  local e=(-v error -show_entries packet=stream_index,pts_time,dts_time,duration_time,size,flags
           -show_data_hash md5 -of compact=p=0)
  to 60 ffprobe "${e[@]}" "$d/remux.mp4" | sort -s -t'|' -k1,1 >"$d/a" || return 1
  to 60 ffprobe "${e[@]}" "$2" | sort -s -t'|' -k1,1 >"$d/b" || return 1
  [[ -s $d/a ]] || { echo "no packets in the remux"; return 1; }
  if ! diff "$d/a" "$d/b" >"$d/diff"; then
    echo "packets differ from the remux's:"
    head -n 20 "$d/diff"
    status=1
  fi
  echo "$(wc -l <"$d/a") packets equal"
  rm -rf "$d"
  return "$status"
}

for name in "${NAMES[@]}"; do
  [[ $name == fx-cmov.mov ]] && continue
  src=$SRC/$name virt=$MNT/${SHOWN[$name]}
  check "$name: a valid fast-start MP4" check_mp4 "$virt"
  check "$name: the source's decoded frames" same_frames "$src" "$virt"
  check "$name: the packets of ffmpeg's +faststart remux, packet for packet" same_packets_remux "$src" "$virt"
  check "$name: the same packets at the same times, in ffprobe and GStreamer" same_timing_all "$src" "$virt"
  if [[ $name == gst-mp4mux-faststart.mp4 ]]; then
    # A finished ISO file that is fast-start already is mirrored as it is (mp4.c, mp4_probe).
    check "$name: finished and fast-start already: mirrored byte for byte" to 60 cmp "$src" "$virt"
    check "$name: not shown as a recording (no user.livemp4.format)" \
      bash -c "! getfattr --absolute-names --only-values -n user.livemp4.format '$virt' 2>/dev/null"
    check "$name: livemp4 export does not take it either" bash -c "! '$LIVEMP4' export '$src' '$W/$name.export.mp4'"
    is "$(file_size "$virt")" "$(stat -c %s "$src")" "$name: its stat size is the source's"
    continue
  fi
  to 60 "$LIVEMP4" export "$src" "$W/$name.export.mp4" >"$W/$name.export.log" 2>&1
  check "$name: the mount equals livemp4 export" to 60 cmp "$W/$name.export.mp4" "$virt"
  is "$(xattr "$virt" user.livemp4.format 2>&1)" mp4 "$name: user.livemp4.format is mp4"
  is "$(xattr "$virt" user.livemp4.state 2>&1)" settled "$name: user.livemp4.state is settled"
  check "$name: no error or note" bash -c "! getfattr --absolute-names --only-values -n user.livemp4.error '$virt' 2>/dev/null | grep ."
done

err=$(xattr "$MNT/fx-cmov.mp4" user.livemp4.error 2>&1)
is "$err" "compressed moov (cmov) is not supported" "fx-cmov.mov: user.livemp4.error names the compressed moov"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
