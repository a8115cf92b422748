#!/usr/bin/env bash
# The page cache and settled recordings (issue 4).  A settled recording is served with the page
# cache kept: read twice it gives the same sha256, after the first read its pages are resident
# (fincore), and the second read sends no READ request to the daemon (counted in its -d debug
# log).  When the source changes again -- fragments appended in place at a moof boundary, or
# the file replaced by a longer one via rename -- the mount serves the new file (new size,
# sha256 of `livemp4 export` of the source now) within a second or two, never the stale cached
# pages; the new settled snapshot is cached in turn; a handle opened before the changes still
# reads its own snapshot exactly.  With inotify (default) and with -o noinotify.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool fincore getfattr

T=$(make_tmp)
W=$T/work
mkdir -p "$W"
record_ffmpeg "$W/full.mp4" --duration 6 -- -frag_duration 500000 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
# Cut at moof boundaries: part1 = fragments 0-3, part2 = fragments 4-7; full.mp4 replaces it.
moof_at() { python3 "$MP4UTIL" boxes "$W/full.mp4" | awk -v n="$1" '$3 == "moof" && i++ == n { print $1 }'; }
cut1=$(moof_at 4) cut2=$(moof_at 8)
[[ -n $cut1 && -n $cut2 ]] || bail_out "full.mp4 has fewer than 9 fragments"
head -c "$cut1" "$W/full.mp4" >"$W/part1.mp4"
tail -c +$((cut1 + 1)) "$W/full.mp4" | head -c $((cut2 - cut1)) >"$W/part2"
cat "$W/part1.mp4" "$W/part2" >"$W/part12.mp4"
for f in part1 part12 full; do
  to 60 "$LIVEMP4" export "$W/$f.mp4" "$W/$f.virt" || bail_out "livemp4 export $f.mp4 failed"
done
cmp -s "$W/part1.virt" "$W/part12.virt" && bail_out "the parts make the same virtual file"
sha() { to 60 sha256sum <"$1" | cut -d' ' -f1; }
SETTLE=1
INOTIFY_LIMIT=1.5    # seconds from a change to a stat that shows it
NOINOTIFY_LIMIT=2.5

plan 36

# reads MNT: READ requests in the daemon's debug log so far.
reads() { daemon_log "$1" | grep -c 'opcode: READ (15)'; }
state() { to 10 getfattr --only-values -n user.livemp4.state "$1" 2>/dev/null; }


# cached_twice LABEL MNT FILE WANT: FILE read twice gives WANT's sha256 both times; after
# the first read all its pages are resident; the second read sends no READ to the daemon.
cached_twice() {
  local label=$1 mnt=$2 f=$3 want=$4 s1 s2 n1 n2 res size
  s1=$(sha "$f")
  res=$(to 10 fincore --bytes --noheadings --output RES,SIZE "$f")
  n1=$(reads "$mnt")
  s2=$(sha "$f")
  n2=$(reads "$mnt")
  is "$s1 $s2" "$(sha "$want") $(sha "$want")" "$label: read twice, both reads give the sha256 of livemp4 export"
  read -r res size <<<"$res"
  check "$label: after the first read its pages are resident (fincore: $res of $size bytes)" test "${res:-0}" -ge "${size:-1}"
  is "$((n2 - n1))" 0 "$label: the second read sends no READ request to the daemon (page cache)"
}

cache_test() {
  local label=$1 limit=$2 src=$T/src-$1 mnt=$T/mnt-$1 fd t
  shift 2
  mkdir -p "$src"
  cp "$W/part1.mp4" "$src/rec.mp4"
  touch -d '-1 min' "$src/rec.mp4"
  check "$label: mount -d -o settle=$SETTLE${*:+ $*}" mount_fs "$src" "$mnt" -d -o settle=$SETTLE "$@" || bail_out "cannot mount"
  local v=$mnt/rec.mp4
  is "$(state "$v")" settled "$label: a recording last written a minute ago is settled"
  cached_twice "$label: settled" "$mnt" "$v" "$W/part1.virt"
  exec {fd}<"$v"   # a handle on the first snapshot, kept across the changes

  # 1. fragments appended in place.
  cat "$W/part2" >>"$src/rec.mp4"
  grown() { [[ $(file_size "$v") == "$(stat -c %s "$W/part12.virt")" ]]; }
  t=$(seen_within "$limit" grown)
  ok $? "$label: after an append in place, stat shows the new size within $limit s ($t)"
  is "$(sha "$v")" "$(sha "$W/part12.virt")" "$label: the mount serves the new file (sha256 of livemp4 export), not stale pages"
  check "$label: it settles again" wait_until $((SETTLE + 5)) bash -c "[[ \$(getfattr --only-values -n user.livemp4.state '$v' 2>/dev/null) == settled ]]"
  cached_twice "$label: settled after the append" "$mnt" "$v" "$W/part12.virt"

  # 2. replaced by a longer file via rename (already settled: written a while ago).
  cp "$W/full.mp4" "$src/rec.mp4.new"
  touch -d '-30 sec' "$src/rec.mp4.new"
  mv -f "$src/rec.mp4.new" "$src/rec.mp4"
  replaced() { [[ $(file_size "$v") == "$(stat -c %s "$W/full.virt")" ]]; }
  t=$(seen_within "$limit" replaced)
  ok $? "$label: after a rename over it, stat shows the new file's size within $limit s ($t)"
  is "$(state "$v")" settled "$label: the replacement (written 30 s ago) is settled at once"
  cached_twice "$label: replaced" "$mnt" "$v" "$W/full.virt"
  check "$label: the handle opened on the first snapshot still reads it exactly" \
    cmp <(to 30 cat <&"$fd") "$W/part1.virt"
  eval "exec $fd<&-"
  check "$label: daemon exits cleanly after unmount" unmount_fs "$mnt"
}

cache_test inotify "$INOTIFY_LIMIT"
cache_test noinotify "$NOINOTIFY_LIMIT" -o noinotify
