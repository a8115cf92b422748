#!/usr/bin/env bash
# Live Matroska/WebM recordings: ffmpeg records in real time into SOURCE (a live WebM with
# unknown sizes, and a Matroska file with B-frames) while we copy the virtual files out of
# the mount again and again; every copy is a valid fast-start MP4 whose packets are the first
# packets of the finished recording; a recorder killed with SIGKILL leaves a valid file.
source "$(dirname "$0")/../lib/common.sh"
require_fuse

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
MIN_COPIES=4

plan 16
check "mount an empty SOURCE" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

has_type() { [[ -n $(to 60 ffprobe -v error -select_streams "$2" -show_entries stream=index -of csv=p=0 "$1") ]]; }
packet_hashes() {
  to 120 ffmpeg -nostdin -v error -i "$1" -map "0:$2" -c copy -f framemd5 - 2>/dev/null | grep -v '^#' | cut -d, -f6 |
    tr -d ' '
}
# packets_prefix_by_type SRC VIRT: per stream type, VIRT's packets are the first of SRC's
# (streams matched by type: a track without a complete sample is not in VIRT yet).
packets_prefix_by_type() {
  local t d status=0 na nb
  d=$(make_tmp)
  for t in v a; do
    has_type "$2" "$t" || continue
    packet_hashes "$1" "$t" >"$d/a"
    packet_hashes "$2" "$t" >"$d/b"
    na=$(wc -l <"$d/a") nb=$(wc -l <"$d/b")
    head -n "$nb" "$d/a" | cmp -s - "$d/b" || { echo "$t: the $nb packets are not the first of the $na"; status=1; }
  done
  rm -rf "$d"
  return "$status"
}

# live NAME SECONDS FFMPEG-OUTPUT-OPTIONS...: records NAME in real time, copying its virtual
# file whenever it has grown; then checks every copy.
live() {
  local name=$1 secs=$2
  shift 2
  local virt=$MNT/${name%.*}.mp4 copies=$W/copies-$name
  mkdir -p "$copies"
  ffmpeg -nostdin -hide_banner -v error -y -re -f lavfi -i "testsrc2=size=320x240:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$secs" "$@" "$SRC/$name" </dev/null >"$W/$name.log" 2>&1 &
  local pid=$! last=0 n=0 grown=0 s
  track_pid "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.3
    s=$(stat -c %s "$virt" 2>/dev/null) || continue
    ((s > last)) || continue
    n=$((n + 1))
    to 30 cp "$virt" "$copies/$n.mp4" 2>/dev/null || continue
    last=$(stat -c %s "$copies/$n.mp4")
    kill -0 "$pid" 2>/dev/null && grown=$n
  done
  wait "$pid"
  is "$?" 0 "$name: the recorder finished"
  local bad_mp4=0 bad_prefix=0 with_samples=0
  for ((i = 1; i <= n; i++)); do
    [[ -f $copies/$i.mp4 ]] || continue
    if [[ $(stream_count "$copies/$i.mp4") == 0 ]]; then
      check_mp4 -e "$copies/$i.mp4" >"$W/check" 2>&1 || { diag "copy $i:"; diag_file "$W/check" 10; bad_mp4=1; }
      continue
    fi
    ((i <= grown)) && with_samples=$((with_samples + 1))
    check_mp4 "$copies/$i.mp4" >"$W/check" 2>&1 || { diag "copy $i:"; diag_file "$W/check" 10; bad_mp4=1; }
    packets_prefix_by_type "$SRC/$name" "$copies/$i.mp4" >"$W/check" 2>&1 ||
      { diag "copy $i:"; diag_file "$W/check" 10; bad_prefix=1; }
  done
  check "$name: at least $MIN_COPIES copies with samples taken while it grew ($with_samples of $n)" \
    test "$with_samples" -ge "$MIN_COPIES"
  ok $bad_mp4 "$name: each of the $n copies is a valid fast-start MP4"
  ok $bad_prefix "$name: each copy's packets are the first packets of the recording"
  to 30 cp "$virt" "$W/final-$name.mp4"
  check "$name: the finished virtual file is a valid fast-start MP4" check_mp4 "$W/final-$name.mp4"
}

live live.webm 8 -c:v libvpx -deadline realtime -b:v 500k -c:a libopus -live 1 -cluster_time_limit 500 -flush_packets 1 -f webm
live bframes.mkv 8 -c:v libx264 -preset veryfast -bf 3 -c:a aac -cluster_time_limit 500 -flush_packets 1
# Finished with Cues: nothing is held back any more.
all_packets() {
  local t
  for t in v a; do
    [[ $(packet_hashes "$1" "$t" | wc -l) == $(packet_hashes "$2" "$t" | wc -l) ]] || { echo "$t counts differ"; return 1; }
  done
  packets_prefix_by_type "$1" "$2"
}
check "bframes.mkv: finished, every packet of the recording" all_packets "$SRC/bframes.mkv" "$W/final-bframes.mkv.mp4"

# A recorder killed midway: what was written is shown.
ffmpeg -nostdin -hide_banner -v error -y -re -f lavfi -i "testsrc2=size=320x240:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 30 -c:v libvpx -deadline realtime -c:a libopus \
  -live 1 -flush_packets 1 -f webm "$SRC/killed.webm" </dev/null >"$W/killed.log" 2>&1 &
kpid=$!
track_pid "$kpid"
samples() { to 10 getfattr --only-values -n user.livemp4.samples "$MNT/killed.mp4" 2>/dev/null; }
enough() { local s; s=$(samples) && ((s >= 200)); }
check "killed.webm: grows in the mount" wait_until 20 enough
kill -KILL "$kpid"
wait "$kpid" 2>/dev/null
is "$?" 137 "killed.webm: the recorder died of SIGKILL"
to 30 cp "$MNT/killed.mp4" "$W/killed.mp4"
check "killed.webm: a valid fast-start MP4" check_mp4 "$W/killed.mp4"
check "killed.webm: its packets are the first packets of the source" packets_prefix_by_type "$SRC/killed.webm" "$W/killed.mp4"

done_testing
