#!/usr/bin/env bash
# Timestamps (issue 4): a virtual file's mtime and ctime are its source's at snapshot time, to
# the nanosecond, for settled recordings, plain files and directories alike; for a recording
# growing in real time, stat on the mount shows an mtime between the source's just before and
# just after.  So `rsync -a`'s quick check (size and mtime) skips unchanged files: a second run
# transfers nothing (--itemize-changes prints nothing, --stats counts 0 files transferred).
# A recording that changes (fragments appended) shows its source's new mtime and ctime, and the
# next rsync transfers exactly that file; a chmod of a source is followed too (mode and ctime),
# and rsync carries it to the copy without transferring data.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool rsync

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work DEST=$T/dest
mkdir -p "$SRC/sub" "$W" "$DEST"
SETTLE=2
LIMIT=1.5

record_ffmpeg "$W/full.mp4" --duration 4 -- -frag_duration 500000 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
record_ffmpeg "$W/video.mp4" --duration 2 --video-only >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
moof_at() { python3 "$MP4UTIL" boxes "$W/full.mp4" | awk -v n="$1" '$3 == "moof" && i++ == n { print $1 }'; }
cut=$(moof_at 4)
[[ -n $cut ]] || bail_out "full.mp4 has fewer than 5 fragments"
head -c "$cut" "$W/full.mp4" >"$SRC/grows.mp4"
cp "$W/video.mp4" "$SRC/sub/video.mp4"
cp "$W/full.mp4" "$SRC/full.mp4"
echo "plain" >"$SRC/plain.txt"
touch -d '-2 min' "$SRC/grows.mp4" "$SRC/full.mp4"
touch -d '-3 min' "$SRC/sub/video.mp4" "$SRC/plain.txt"
touch -d '-1 min' "$SRC/sub"

# times ROOT: "path mtime ctime" (nanoseconds) of every file and directory under ROOT.
times() { (cd "$1" && to 30 find . -mindepth 1 -exec stat -c '%n %.9Y %.9Z' {} + | LC_ALL=C sort); }
# rsync_run LABEL: rsync -a --itemize-changes --stats MNT/ DEST/; the itemized lines go to
# $W/items, the number of files transferred to $W/transferred; fails on a non-zero exit or
# anything on stderr.
rsync_run() {
  to 60 rsync -a --itemize-changes --stats "$MNT/" "$DEST/" >"$W/rsync.out" 2>"$W/rsync.err"
  local rc=$?
  grep -E '^[<>ch.*][fdLDS]' "$W/rsync.out" >"$W/items"
  sed -n 's/^Number of regular files transferred: *//p' "$W/rsync.out" | tr -d , >"$W/transferred"
  if ((rc != 0)) || [[ -s $W/rsync.err ]]; then
    echo "rsync exit $rc"; cat "$W/rsync.err"; return 1
  fi
}
same_tree() {
  local f status=0
  diff <(cd "$MNT" && find . | LC_ALL=C sort) <(cd "$DEST" && find . | LC_ALL=C sort) || return 1
  while IFS= read -r -d '' f; do to 60 cmp "$MNT/$f" "$DEST/$f" || status=1; done < <(cd "$MNT" && find . -type f -print0)
  return $status
}

plan 20
check "mount (settle=$SETTLE)" mount_fs "$SRC" "$MNT" -o settle=$SETTLE || bail_out "cannot mount"
check "mtime and ctime of every file and directory equal its source's, to the nanosecond" \
  diff <(times "$SRC") <(times "$MNT")
is "$(stat -c %Y "$MNT/full.mp4")" "$(stat -c %Y "$SRC/full.mp4")" "stat -c %Y of a settled recording is its source's"

# ---- a recording growing in real time ---------------------------------------------------
record_ffmpeg_bg "$SRC/live.mp4" --realtime --duration 8 || bail_out "cannot start ffmpeg"
rec_pid=$REC_PID
has_samples() { local n; n=$(to 10 getfattr --only-values -n user.livemp4.samples "$MNT/live.mp4" 2>/dev/null) && ((n > 0)); }
wait_until 15 has_samples
bad=0 k=0
while kill -0 "$rec_pid" 2>/dev/null && ((k < 12)); do
  k=$((k + 1))
  m0=$(stat -c '%.9Y %.9Z' "$SRC/live.mp4") v=$(stat -c '%.9Y %.9Z' "$MNT/live.mp4") m1=$(stat -c '%.9Y %.9Z' "$SRC/live.mp4")
  awk -v a="$m0" -v v="$v" -v b="$m1" 'BEGIN { split(a, A, " "); split(v, V, " "); split(b, B, " ");
      exit !(A[1] <= V[1] && V[1] <= B[1] && A[2] <= V[2] && V[2] <= B[2]) }' ||
    { diag "source before: $m0, mount: $v, source after: $m1"; bad=1; }
  sleep 0.1
done
ok $bad "while it grows, the mount's mtime and ctime lie between the source's before and after ($k stats)"

# ---- rsync's quick check ----------------------------------------------------------------
# items: "N transferred: NAME (CHANGES) ..." of the last rsync_run.
items() { echo "$(cat "$W/transferred") transferred:$(awk '{ printf " %s (%s)", $2, $1 }' "$W/items")"; }
check "a first rsync -a copies the tree while a recording grows" rsync_run
check "the recording was still growing after that rsync" kill -0 "$rec_pid"
rsync_run >/dev/null 2>&1
# The growing recording may have grown in between; nothing else may be transferred.
is "$(awk '$2 != "live.mp4"' "$W/items")" "" "a second rsync -a right after transfers and itemizes nothing but the growing recording ($(items))"
wait "$rec_pid"
is "$?" 0 "the recorder finished"
settled() { [[ $(to 10 getfattr --only-values -n user.livemp4.state "$MNT/live.mp4" 2>/dev/null) == settled ]]; }
check "it settles" wait_until $((SETTLE + 5)) settled
check "once it has settled, rsync -a runs cleanly" rsync_run
is "$(items | sed 's/ (.*//')" "1 transferred: live.mp4" "and transfers the finished recording only ($(items))"
rsync_run >/dev/null 2>&1
is "$(items)" "0 transferred:" "the next rsync -a transfers and itemizes nothing"
check "the copy equals the mount" same_tree
check "mtime and ctime still equal the sources'" diff <(times "$SRC") <(times "$MNT")

# ---- a change, and a chmod --------------------------------------------------------------
times_of() { stat -c '%.9Y %.9Z %a' "$1"; }
tail -c +$((cut + 1)) "$W/full.mp4" >>"$SRC/grows.mp4"
follows() { [[ $(times_of "$MNT/grows.mp4") == "$(stat -c '%.9Y %.9Z' "$SRC/grows.mp4") $(printf '%o' $((0$(stat -c %a "$SRC/grows.mp4") & 0444)))" ]]; }
t=$(seen_within "$LIMIT" follows)
ok $? "after fragments are appended, the mount shows the source's new mtime and ctime within $LIMIT s ($t)"
rsync_run >/dev/null 2>&1
is "$(items | sed 's/ (.*//')" "1 transferred: grows.mp4" "the next rsync -a transfers exactly that file ($(items))"
check "the copy equals the mount" same_tree
chmod 0400 "$SRC/grows.mp4"
t=$(seen_within "$LIMIT" follows)
ok $? "after a chmod 0400 of the source, the mount shows mode 0400 and the source's new ctime within $LIMIT s ($t; $(times_of "$MNT/grows.mp4") vs $(stat -c '%.9Y %.9Z %a' "$SRC/grows.mp4"))"
rsync_run >/dev/null 2>&1
is "$(items)" "0 transferred: grows.mp4 (.f...p.....)" "the next rsync -a carries the mode to the copy without transferring data"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
