#!/usr/bin/env bash
# A live recording: ffmpeg records in real time into SOURCE while we copy its virtual file out
# of the mount again and again; every copy is a valid fast-start MP4 whose frames are a
# prefix of the finished recording's.  Then a recorder killed with SIGKILL midway leaves a
# file whose virtual MP4 is still valid and holds what was written.
source "$(dirname "$0")/../lib/common.sh"
require_fuse

MIN_COPIES=5
T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W/copies"
SETTLE=3

plan 23
check "mount an empty SOURCE (settle=$SETTLE)" mount_fs "$SRC" "$MNT" -o settle=$SETTLE || bail_out "cannot mount"

# --- 1. copies while the recording grows ------------------------------------------------
record_ffmpeg_bg "$SRC/live.mp4" --realtime --duration 10 || bail_out "cannot start ffmpeg"
rec_pid=$REC_PID
last=0 n=0 grown=0
vsize() { file_size "$MNT/live.mp4" 2>/dev/null || echo 0; }
bigger() { (($(vsize) > last)); }
while kill -0 "$rec_pid" 2>/dev/null; do
  wait_until 5 bigger >/dev/null 2>&1 || continue
  n=$((n + 1))
  to 30 cp "$MNT/live.mp4" "$W/copies/$n.mp4" || diag "copy $n failed"
  last=$(stat -c %s "$W/copies/$n.mp4")
  # It counts as taken while growing if the recorder was still running after the copy.
  kill -0 "$rec_pid" 2>/dev/null && grown=$n
done
wait "$rec_pid"
is "$?" 0 "the recorder finished"
note "copies: $(cd "$W/copies" && ls -v | while read -r f; do printf '%s=%s ' "$f" "$(stat -c %s "$f")"; done)"

# The finished recording, once it has settled.
settled() { [[ $(to 10 getfattr --only-values -n user.livemp4.state "$MNT/live.mp4" 2>/dev/null) == settled ]]; }
check "the recording settles" wait_until $((SETTLE + 5)) settled
to 30 cp "$MNT/live.mp4" "$W/final.mp4"
check "the finished virtual file is a valid fast-start MP4" check_mp4 "$W/final.mp4"
check "the finished virtual file has the source's frames" same_frames "$SRC/live.mp4" "$W/final.mp4"
check "the finished virtual file has the source's timing" same_timing "$SRC/live.mp4" "$W/final.mp4"
check "the finished virtual file has the source's packets at its times, in ffprobe and GStreamer" \
  same_timing_all "$SRC/live.mp4" "$W/final.mp4"
to 60 "$LIVEMP4" export "$SRC/live.mp4" "$W/export.mp4"
check "the finished virtual file equals livemp4 export" to 30 cmp "$W/export.mp4" "$W/final.mp4"

# A copy taken before the first sample arrived has no track (the writer leaves out tracks
# without samples): it must be a valid box structure that ffprobe reads cleanly, and there is
# nothing to decode.  At least MIN_COPIES copies taken while growing must have samples.
bad_mp4=0 bad_prefix=0 bad_packets=0 sizes_grow=0 prev=0 empty=0
for ((i = 1; i <= n; i++)); do
  c=$W/copies/$i.mp4
  s=$(stat -c %s "$c"); ((s > prev)) || sizes_grow=1; prev=$s
  if [[ $(stream_count "$c") == 0 ]]; then
    empty=$((empty + 1))
    note "copy $i ($s bytes) has no track yet"
    check_mp4 -e "$c" >"$W/check.$i" 2>&1 || { diag "copy $i:"; diag_file "$W/check.$i" 10; bad_mp4=1; }
    continue
  fi
  check_mp4 "$c" >"$W/check.$i" 2>&1 || { diag "copy $i:"; diag_file "$W/check.$i" 10; bad_mp4=1; }
  frames_prefix "$c" "$W/final.mp4" >"$W/prefix.$i" 2>&1 || { diag "copy $i:"; diag_file "$W/prefix.$i" 10; bad_prefix=1; }
  packets_prefix "$c" "$SRC/live.mp4" >"$W/packets.$i" 2>&1 || { diag "copy $i:"; diag_file "$W/packets.$i" 10; bad_packets=1; }
done
check "at least $MIN_COPIES copies with samples were taken while the recording grew ($grown, $empty without samples)" \
  test $((grown - empty)) -ge $MIN_COPIES
ok $bad_mp4 "each of the $n copies is a valid fast-start MP4"
ok $bad_prefix "each copy's decoded frames are a prefix of the finished recording's"
ok $bad_packets "each copy's packets are the first packets of the source"
ok $sizes_grow "each copy is larger than the one before"

# --- 2. a recorder killed midway --------------------------------------------------------
record_ffmpeg_bg "$SRC/killed.mp4" --realtime --duration 30 || bail_out "cannot start ffmpeg"
kill_pid=$REC_PID
samples() { to 10 getfattr --only-values -n user.livemp4.samples "$MNT/killed.mp4" 2>/dev/null; }
enough() { local s; s=$(samples) && ((s >= 300)); }   # about 4 s of audio and video
check "the second recording grows in the mount" wait_until 20 enough
before_kill=$(samples)
kill -KILL "$kill_pid"
wait "$kill_pid" 2>/dev/null
is "$?" 137 "the recorder died of SIGKILL"
note "source left: $(stat -c %s "$SRC/killed.mp4") bytes; boxes: $(python3 "$MP4UTIL" boxes "$SRC/killed.mp4" | awk '{print $3}' | uniq -c | tr -s ' \n' ' ')"
to 30 cp "$MNT/killed.mp4" "$W/killed.mp4"
check "what the killed recorder left is a valid fast-start MP4" check_mp4 "$W/killed.mp4"
after_kill=$(samples)
check "it holds at least the $before_kill samples seen before the kill ($after_kill)" test "$after_kill" -ge "$before_kill"
check "its packets are the first packets of what the recorder wrote" \
  packets_prefix "$W/killed.mp4" "$SRC/killed.mp4"
# The same sources and encoder settings give the same stream, so the killed recording's frames
# are also the first frames of the finished one (it was killed well before its 10 s end).
check "its frames are a prefix of the finished recording's" frames_prefix "$W/killed.mp4" "$W/final.mp4"
killed_settled() { [[ $(xattr "$MNT/killed.mp4" user.livemp4.state 2>/dev/null) == settled ]]; }
check "it settles too" wait_until $((SETTLE + 5)) killed_settled
to 60 "$LIVEMP4" export "$SRC/killed.mp4" "$W/killed-export.mp4"
check "its settled virtual file equals livemp4 export" to 30 cmp "$W/killed-export.mp4" "$MNT/killed.mp4"
check "the daemon is still up" daemon_alive "$MNT"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
