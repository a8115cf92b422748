#!/usr/bin/env bash
# Liveness follows the writer: a recording written in bursts further apart than `settle` stays
# live while its writer has it open, and is settled within a second of the writer closing it
# or being killed (design: "Liveness").  Every frame is shown once it has settled.
source "$(dirname "$0")/../lib/common.sh"
require_fuse

plan 9

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt OUT=$T/out
mkdir -p "$SRC" "$OUT"
record_ffmpeg "$OUT/whole.mp4" --duration 4 --gop 25 >"$OUT/rec.log" 2>&1 || { cat "$OUT/rec.log"; bail_out "recording failed"; }
size=$(stat -c %s "$OUT/whole.mp4")
check "mount with settle=1" mount_fs "$SRC" "$MNT" -o settle=1 || bail_out "cannot mount"

state() { xattr "$MNT/$1" user.livemp4.state 2>/dev/null; }
state_is() { [[ $(state "$1") == "$2" ]]; }

# A writer that keeps the file open and writes a third of it every 2.5 s (> settle).
exec {w}>"$SRC/bursts.mp4"
head -c $((size / 3)) "$OUT/whole.mp4" >&"$w"
wait_until 20 state_is bursts.mp4 live
sleep 2.5
is "$(state bursts.mp4)" live "2.5 s after a burst (settle=1) the recording is still live: its writer has it open"
tail -c +$((size / 3 + 1)) "$OUT/whole.mp4" | head -c $((size / 3)) >&"$w"
sleep 2.5
is "$(state bursts.mp4)" live "still live after a second pause longer than settle"
tail -c +$((2 * (size / 3) + 1)) "$OUT/whole.mp4" >&"$w"
exec {w}>&-
check "settled within a second of the writer closing it" seen_within 1.0 state_is bursts.mp4 settled
check "the settled file equals livemp4 export of its source" \
  bash -c "'$LIVEMP4' export '$SRC/bursts.mp4' '$OUT/bursts.export' && cmp '$OUT/bursts.export' '$MNT/bursts.mp4'"
check "every frame of the recording is shown" same_packets "$OUT/whole.mp4" "$MNT/bursts.mp4"

# A writer killed with SIGKILL while it holds the file open.
python3 - "$OUT/whole.mp4" "$SRC/killed.mp4" $((size / 2)) <<'PY' &
import sys, time
data = open(sys.argv[1], 'rb').read()[:int(sys.argv[3])]
with open(sys.argv[2], 'wb') as f:
    f.write(data)
    f.flush()
    time.sleep(120)
PY
writer=$!
track_pid "$writer"
wait_until 20 state_is killed.mp4 live
sleep 1.5
is "$(state killed.mp4)" live "a paused writer that holds the file open keeps it live past settle"
kill -KILL "$writer"
wait "$writer" 2>/dev/null
check "settled within a second of the writer being killed" seen_within 1.0 state_is killed.mp4 settled
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
