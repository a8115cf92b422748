#!/usr/bin/env bash
# Backups of a mount whose recordings grow in real time (issue 4).  `rsync -a` and GNU
# `tar -cf` of the whole mounted tree, run again and again while three recordings grow: every
# run exits 0 and prints nothing at all on stderr (in particular no "file changed as we read
# it", "file shrank" or "has vanished"), every copied MP4 is a valid fast-start MP4 whose
# packets are the first packets of its source.  Once the recordings have finished and settled,
# one more rsync onto the oldest copy brings it to byte equality with the mount, and one more
# tar holds exactly the mounted tree.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool rsync tar

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC/sub" "$W/rsync" "$W/tar" "$W/untar"
SETTLE=2
MIN_RUNS=4     # runs of both tools while every recorder was still writing
MAX_RUNS=6
RECS=(cam1.mp4 sub/cam2.mp4 cam3.mp4)
echo "plain notes beside the recordings" >"$SRC/notes.txt"
echo "another plain file" >"$SRC/sub/readme.txt"

plan 25
check "mount (settle=$SETTLE)" mount_fs "$SRC" "$MNT" -o settle=$SETTLE || bail_out "cannot mount"

declare -a rec_pids=()
record_ffmpeg_bg "$SRC/cam1.mp4" --realtime --duration 10 || bail_out "cannot start ffmpeg"
rec_pids+=("$REC_PID")
record_ffmpeg_bg "$SRC/sub/cam2.mp4" --realtime --duration 10 --size 176x144 || bail_out "cannot start ffmpeg"
rec_pids+=("$REC_PID")
record_ffmpeg_bg "$SRC/cam3.mp4" --realtime --duration 10 --video-only -- -frag_duration 500000 || bail_out "cannot start ffmpeg"
rec_pids+=("$REC_PID")

samples() { to 10 getfattr --only-values -n user.livemp4.samples "$MNT/$1" 2>/dev/null; }
all_have_samples() { local r s; for r in "${RECS[@]}"; do s=$(samples "$r") && ((s >= 10)) || return 1; done; }
check "all three recordings show samples while they grow" wait_until 15 all_have_samples

all_recording() { local p; for p in "${rec_pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done; }
any_recording() { local p; for p in "${rec_pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
declare -A last=()
for r in "${RECS[@]}"; do last[$r]=0; done
all_grew() {
  local r s
  for r in "${RECS[@]}"; do
    s=$(file_size "$MNT/$r" 2>/dev/null) || return 1
    ((s > ${last[$r]})) || return 1
  done
}

# ---- rsync and tar while the recordings grow -----------------------------------------
n=0 during=0 rsync_rc=0 rsync_err=0 tar_rc=0 tar_err=0
while any_recording && ((n < MAX_RUNS)); do
  wait_until 5 all_grew >/dev/null 2>&1 || continue
  for r in "${RECS[@]}"; do last[$r]=$(file_size "$MNT/$r"); done
  n=$((n + 1))
  growing=0
  all_recording && growing=1
  to 60 rsync -a "$MNT/" "$W/rsync/$n/" >"$W/rsync/$n.out" 2>"$W/rsync/$n.err"
  rc=$?
  ((rc == 0)) || { diag "rsync run $n: exit $rc"; rsync_rc=1; }
  [[ -s $W/rsync/$n.err ]] && { diag "rsync run $n wrote on stderr:"; diag_file "$W/rsync/$n.err" 20; rsync_err=1; }
  to 60 tar -C "$MNT" -cf "$W/tar/$n.tar" . >"$W/tar/$n.out" 2>"$W/tar/$n.err"
  rc=$?
  ((rc == 0)) || { diag "tar run $n: exit $rc"; tar_rc=1; }
  [[ -s $W/tar/$n.err ]] && { diag "tar run $n wrote on stderr:"; diag_file "$W/tar/$n.err" 20; tar_err=1; }
  # A run counts as taken during growth if every recorder ran from before it until after it.
  ((growing)) && all_recording && during=$((during + 1))
  note "run $n: $(for r in "${RECS[@]}"; do printf '%s=%s ' "$r" "$(stat -c %s "$W/rsync/$n/$r" 2>/dev/null)"; done)"
done
check "at least $MIN_RUNS runs of rsync and tar while all three recordings grew ($during of $n)" \
  test "$during" -ge "$MIN_RUNS"
ok $rsync_rc "every rsync -a run during growth exited 0 ($n runs)"
ok $rsync_err "no rsync run wrote anything on stderr"
ok $tar_rc "every tar -cf run during growth exited 0 ($n runs)"
ok $tar_err "no tar run wrote anything on stderr (no 'file changed as we read it')"

rec_rc=0
for p in "${rec_pids[@]}"; do wait "$p" || rec_rc=1; done
ok $rec_rc "the three recorders finished"
settled() {
  local r
  for r in "${RECS[@]}"; do
    [[ $(to 10 getfattr --only-values -n user.livemp4.state "$MNT/$r" 2>/dev/null) == settled ]] || return 1
  done
}
check "the recordings settle" wait_until $((SETTLE + 5)) settled

# ---- every copy taken during growth ---------------------------------------------------
untar_rc=0 bad_rsync=0 bad_tar=0 bad_packets=0 bad_plain=0 bad_grow=0
declare -A prev=()
for r in "${RECS[@]}"; do prev[$r]=0; done
for ((i = 1; i <= n; i++)); do
  mkdir -p "$W/untar/$i"
  to 60 tar -C "$W/untar/$i" -xf "$W/tar/$i.tar" 2>"$W/untar/$i.err" || { diag "tar -xf run $i failed"; diag_file "$W/untar/$i.err" 10; untar_rc=1; }
  for r in "${RECS[@]}"; do
    for kind in rsync untar; do
      c=$W/$kind/$i/$r
      if ! check_mp4 "$c" >"$W/check.out" 2>&1; then
        diag "$kind copy $i of $r:"; diag_file "$W/check.out" 10
        [[ $kind == rsync ]] && bad_rsync=1 || bad_tar=1
        continue
      fi
      packets_prefix "$c" "$SRC/$r" >"$W/check.out" 2>&1 || { diag "$kind copy $i of $r:"; diag_file "$W/check.out" 10; bad_packets=1; }
    done
    s=$(stat -c %s "$W/rsync/$i/$r" 2>/dev/null || echo 0)
    ((s >= ${prev[$r]})) || { diag "rsync copy $i of $r is smaller than copy $((i - 1))"; bad_grow=1; }
    prev[$r]=$s
  done
  for p in notes.txt sub/readme.txt; do
    cmp -s "$SRC/$p" "$W/rsync/$i/$p" && cmp -s "$SRC/$p" "$W/untar/$i/$p" || { diag "run $i: $p differs"; bad_plain=1; }
  done
done
ok $untar_rc "every tar archive extracts"
ok $bad_rsync "each MP4 copied by rsync during growth is valid (ffprobe clean, decodes without error)"
ok $bad_tar "each MP4 archived by tar during growth is valid (ffprobe clean, decodes without error)"
ok $bad_packets "each copied MP4's packets are the first packets of its source"
ok $bad_grow "successive copies of a recording never shrink"
ok $bad_plain "plain files are copied byte for byte by every run"

# ---- after the recordings settled -------------------------------------------------------
to 60 rsync -a "$MNT/" "$W/rsync/1/" >"$W/final-rsync.out" 2>"$W/final-rsync.err"
rc=$?
check "a second rsync onto the oldest copy exits 0 with nothing on stderr (exit $rc)" \
  bash -c "(( $rc == 0 )) && ! [[ -s '$W/final-rsync.err' ]] || { cat '$W/final-rsync.err'; exit 1; }"
same_tree() {
  local a=$1 b=$2 f status=0
  diff <(cd "$a" && find . | LC_ALL=C sort) <(cd "$b" && find . | LC_ALL=C sort) || return 1
  while IFS= read -r -d '' f; do
    to 60 cmp "$a/$f" "$b/$f" || status=1
  done < <(cd "$a" && find . -type f -print0)
  return $status
}
check "it brings the copy to byte equality with the mount (cmp of every file)" same_tree "$MNT" "$W/rsync/1"
mkdir -p "$W/untar/final"
to 60 tar -C "$MNT" -cf "$W/tar/final.tar" . 2>"$W/tar/final.err"
rc=$?
check "a tar after settling exits 0 with nothing on stderr (exit $rc)" \
  bash -c "(( $rc == 0 )) && ! [[ -s '$W/tar/final.err' ]] || { cat '$W/tar/final.err'; exit 1; }"
to 60 tar -C "$W/untar/final" -xf "$W/tar/final.tar"
check "it holds exactly the mounted tree (cmp of every file)" same_tree "$MNT" "$W/untar/final"

# ---- growth in fast steps -----------------------------------------------------------------
# A writer appends a fragment every 50 ms, each in two halves (so many lookups land between a
# moof and the end of its mdat), while tar and rsync run back to back on its directory.
record_ffmpeg "$W/long.mp4" --duration 16 --video-only --gop 5 --size 320x240 >"$W/rec.log" 2>&1 ||
  { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
mkdir -p "$SRC/fast" "$W/fast"
cat >"$W/append.py" <<'PY'
import struct, sys, time
src, dst = sys.argv[1], sys.argv[2]
d = open(src, 'rb').read()
off, cuts = 0, []
while off < len(d):
    size, typ = struct.unpack('>I4s', d[off:off + 8])
    if typ == b'moof':
        cuts.append(off)
    off += size
cuts.append(len(d))
with open(dst, 'wb') as f:
    f.write(d[:cuts[0]]); f.flush()
    for a, b in zip(cuts, cuts[1:]):
        for x, y in ((a, (a + b) // 2), ((a + b) // 2, b)):
            f.write(d[x:y]); f.flush(); time.sleep(0.025)
PY
python3 "$W/append.py" "$W/long.mp4" "$SRC/fast/rec.mp4" &
app_pid=$!
track_pid "$app_pid"
k=0 fast_tar=0 fast_rsync=0
while kill -0 "$app_pid" 2>/dev/null; do
  k=$((k + 1))
  to 60 tar -C "$MNT/fast" -cf "$W/fast/$k.tar" . 2>"$W/fast/$k.tar.err" && ! [[ -s $W/fast/$k.tar.err ]] ||
    { diag "tar run $k (exit $?):"; diag_file "$W/fast/$k.tar.err" 10; fast_tar=1; }
  to 60 rsync -a "$MNT/fast/" "$W/fast/$k/" 2>"$W/fast/$k.rsync.err" && ! [[ -s $W/fast/$k.rsync.err ]] ||
    { diag "rsync run $k (exit $?):"; diag_file "$W/fast/$k.rsync.err" 10; fast_rsync=1; }
done
wait "$app_pid"
check "tar and rsync ran at least 10 times while a fragment was appended every 50 ms ($k runs)" test "$k" -ge 10
ok $fast_tar "every tar -cf run exited 0 with nothing on stderr"
ok $fast_rsync "every rsync -a run exited 0 with nothing on stderr"
bad_mp4=0 bad_packets=0
for i in 1 $((k / 2)) $((k - 1)); do
  mkdir -p "$W/fast/untar$i"
  to 60 tar -C "$W/fast/untar$i" -xf "$W/fast/$i.tar"
  for c in "$W/fast/untar$i/rec.mp4" "$W/fast/$i/rec.mp4"; do
    [[ $(stream_count "$c") == 0 ]] && continue   # taken before the first fragment
    check_mp4 "$c" >"$W/check.out" 2>&1 || { diag "$c:"; diag_file "$W/check.out" 10; bad_mp4=1; }
    packets_prefix "$c" "$W/long.mp4" >"$W/check.out" 2>&1 || { diag "$c:"; diag_file "$W/check.out" 10; bad_packets=1; }
  done
done
ok $bad_mp4 "copies from the first, middle and last runs are valid MP4s"
ok $bad_packets "and hold the first packets of the recording"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
