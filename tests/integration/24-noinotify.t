#!/usr/bin/env bash
# -o noinotify (issue 4): changes are found by size and mtime on access only, as on network
# filesystems.  A recording growing in real time is still seen growing (stat sizes increase,
# copies taken meanwhile are valid MP4s holding the source's first packets) and settles; a
# settled recording that changes again (fragments appended, twice, the second time after it
# had settled again) is seen within about 2 s, and the mount then serves exactly what
# `livemp4 export` makes of the source.  A second daemon whose SOURCE is a FUSE mount falls
# back to the same by itself and still follows changes.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool getfattr

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W/copies"
SETTLE=2
LIMIT=2.5          # seconds from a change of a settled recording to a stat that shows it
MIN_SIZES=5        # distinct growing sizes seen by stat while the recorder writes

record_ffmpeg "$W/full.mp4" --duration 6 -- -frag_duration 500000 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
moof_at() { python3 "$MP4UTIL" boxes "$W/full.mp4" | awk -v n="$1" '$3 == "moof" && i++ == n { print $1 }'; }
cut1=$(moof_at 4) cut2=$(moof_at 6)
[[ -n $cut1 && -n $cut2 ]] || bail_out "full.mp4 has fewer than 7 fragments"
head -c "$cut1" "$W/full.mp4" >"$W/step0.mp4"
head -c "$cut2" "$W/full.mp4" >"$W/step1.mp4"
cp "$W/full.mp4" "$W/step2.mp4"
for i in 0 1 2; do to 60 "$LIVEMP4" export "$W/step$i.mp4" "$W/step$i.virt" || bail_out "livemp4 export failed"; done
cp "$W/step0.mp4" "$SRC/old.mp4"
touch -d '-1 min' "$SRC/old.mp4"

plan 24
check "mount -o noinotify (settle=$SETTLE)" mount_fs "$SRC" "$MNT" -o noinotify,settle=$SETTLE,loglevel=info || bail_out "cannot mount"
check "the daemon says inotify is off" grep -q "inotify switched off" <(daemon_log "$MNT")

# ---- a recording growing in real time -------------------------------------------------
record_ffmpeg_bg "$SRC/live.mp4" --realtime --duration 8 -- -frag_duration 500000 || bail_out "cannot start ffmpeg"
rec_pid=$REC_PID
sizes=() n=0 last=-1
while kill -0 "$rec_pid" 2>/dev/null; do
  s=$(file_size "$MNT/live.mp4" 2>/dev/null) || { sleep 0.1; continue; }
  if ((s != last)); then
    sizes+=("$s") last=$s
    if k=$(to 10 getfattr --only-values -n user.livemp4.samples "$MNT/live.mp4" 2>/dev/null) && ((k > 0 && n < 6)); then
      n=$((n + 1))
      to 30 cp "$MNT/live.mp4" "$W/copies/$n.mp4" || diag "copy $n failed"
    fi
  fi
  sleep 0.1
done
wait "$rec_pid"
is "$?" 0 "the recorder finished"
note "sizes seen by stat while recording: ${sizes[*]}"
increasing=0
for ((i = 1; i < ${#sizes[@]}; i++)); do ((sizes[i] > sizes[i - 1])) || increasing=1; done
check "stat saw the recording grow at least $MIN_SIZES times (${#sizes[@]} sizes)" test "${#sizes[@]}" -gt "$MIN_SIZES"
ok $increasing "every size stat saw was larger than the one before"
bad_mp4=0 bad_packets=0
for ((i = 1; i <= n; i++)); do
  check_mp4 "$W/copies/$i.mp4" >"$W/check.out" 2>&1 || { diag "copy $i:"; diag_file "$W/check.out" 10; bad_mp4=1; }
  packets_prefix "$W/copies/$i.mp4" "$SRC/live.mp4" >"$W/check.out" 2>&1 || { diag "copy $i:"; diag_file "$W/check.out" 10; bad_packets=1; }
done
check "copies were taken during growth ($n)" test "$n" -ge 3
ok $bad_mp4 "each copy taken during growth is a valid MP4"
ok $bad_packets "each copy's packets are the first packets of the source"
state() { to 10 getfattr --only-values -n user.livemp4.state "$1" 2>/dev/null; }
check "the recording settles" wait_until $((SETTLE + 5)) bash -c "[[ \$(getfattr --only-values -n user.livemp4.state '$MNT/live.mp4' 2>/dev/null) == settled ]]"
to 60 "$LIVEMP4" export "$SRC/live.mp4" "$W/live.virt"
check "the settled file equals livemp4 export" to 30 cmp "$W/live.virt" "$MNT/live.mp4"

# ---- a settled recording that changes again ---------------------------------------------
is "$(state "$MNT/old.mp4")" settled "old.mp4 (written a minute ago) is settled"
check "it reads as livemp4 export makes it" to 30 cmp "$W/step0.virt" "$MNT/old.mp4"
size_is() { [[ $(file_size "$MNT/old.mp4") == "$(stat -c %s "$1")" ]]; }
for i in 1 2; do
  prev=$((i - 1))
  tail -c +$(($(stat -c %s "$W/step$prev.mp4") + 1)) "$W/step$i.mp4" >>"$SRC/old.mp4"
  t=$(seen_within "$LIMIT" size_is "$W/step$i.virt")
  ok $? "change $i of the settled recording: stat shows the new size within $LIMIT s ($t)"
  check "change $i: the mount serves what livemp4 export makes of the source now" \
    to 30 cmp "$W/step$i.virt" "$MNT/old.mp4"
  # Settled again before the next change.
  wait_until $((SETTLE + 5)) bash -c "[[ \$(getfattr --only-values -n user.livemp4.state '$MNT/old.mp4' 2>/dev/null) == settled ]]" ||
    diag "old.mp4 did not settle after change $i"
done

# ---- a source on a FUSE filesystem: the same fallback without being asked ---------------
# A second daemon whose SOURCE is this mount: FUSE does not report writes by other mounts
# to inotify, so the daemon falls back to size and mtime by itself.  The lower mount's
# virtual MP4s are plain fast-start files to it, mirrored byte for byte.
MNT2=$T/mnt2
check "a mount whose SOURCE is a FUSE mount" mount_fs "$MNT" "$MNT2" -o loglevel=info || bail_out "cannot mount"
check "the daemon says it finds changes by size and mtime (network filesystem)" \
  grep -q "network filesystem: changes are found by size and mtime" <(daemon_log "$MNT2")
check "it mirrors the lower mount's virtual MP4 byte for byte" to 30 cmp "$MNT/live.mp4" "$MNT2/live.mp4"
cp "$W/step0.mp4" "$SRC/more.mp4"
touch -d '-1 min' "$SRC/more.mp4"
check "a recording added below appears through both mounts" wait_until 5 to 30 cmp "$W/step0.virt" "$MNT2/more.mp4"
tail -c +$((cut1 + 1)) "$W/step1.mp4" >>"$SRC/more.mp4"
size2_is() { [[ $(file_size "$MNT2/more.mp4") == "$(stat -c %s "$1")" ]]; }
t=$(seen_within 3.5 size2_is "$W/step1.virt")
ok $? "when it grows, the upper mount shows the new size within 3.5 s (two 1 s caches; $t)"
check "and the new bytes" to 30 cmp "$W/step1.virt" "$MNT2/more.mp4"
check "the upper daemon exits cleanly after unmount" unmount_fs "$MNT2"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
