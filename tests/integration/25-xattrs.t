#!/usr/bin/env bash
# Status attributes (issue 4): `getfattr -d` on a virtual recording shows user.livemp4.state
# (live, settled or error), user.livemp4.duration, user.livemp4.samples, user.livemp4.format,
# and user.livemp4.error only when there is a problem.  A live recording shows state=live with
# growing figures; a settled one state=settled with duration, samples and format equal to
# `livemp4 inspect`'s; damaged ones (junk after a complete fragment, a corrupted moof header)
# state=error and inspect's problem text; plain files and directories have none of them.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool getfattr

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC/dir" "$W"
SETTLE=2

record_ffmpeg "$W/full.mp4" --duration 3 -- -frag_duration 500000 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
junk() { python3 -c "import random,sys; r=random.Random($2); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range($1)))"; }
moof_at() { python3 "$MP4UTIL" boxes "$W/full.mp4" | awk -v n="$1" '$3 == "moof" && i++ == n { print $1 }'; }
cut=$(moof_at 3)
[[ -n $cut ]] || bail_out "full.mp4 has fewer than 4 fragments"
cp "$W/full.mp4" "$SRC/settled.mp4"
{ head -c "$cut" "$W/full.mp4"; junk 4096 4; } >"$SRC/junk-tail.mp4"
python3 - "$W/full.mp4" "$SRC/bad-moof.mp4" "$(moof_at 2)" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
off = int(sys.argv[3])
assert d[off + 4:off + 8] == b'moof'
d[off:off + 4] = struct.pack('>I', 3)     # a box size smaller than its own header
open(sys.argv[2], 'wb').write(d)
PY
echo "not a recording" >"$SRC/plain.txt"
cp "$SRC/plain.txt" "$SRC/dir/plain.mp4"
touch -d '-1 min' "$SRC"/*.mp4

# attrs FILE: getfattr -d's attribute lines, sorted.
attrs() { to 10 getfattr -d --absolute-names "$1" 2>&1 | grep -v '^# file: ' | sed '/^$/d' | LC_ALL=C sort; }
# want_attrs SRCFILE STATE: the lines getfattr -d should print, from livemp4 inspect.
want_attrs() {
  local out
  out=$(to 60 "$LIVEMP4" inspect "$1" 2>/dev/null) || return 1
  field() { sed -n "s/^$1: *//p" <<<"$out"; }
  {
    echo "user.livemp4.duration=\"$(field duration | sed 's/ s$//')\""
    echo "user.livemp4.format=\"$(field format)\""
    echo "user.livemp4.samples=\"$(field samples)\""
    echo "user.livemp4.state=\"$2\""
    [[ -n $(field problems) ]] && echo "user.livemp4.error=\"$(field problems)\""
  } | LC_ALL=C sort
}

plan 16
check "mount (settle=$SETTLE)" mount_fs "$SRC" "$MNT" -o settle=$SETTLE || bail_out "cannot mount"

# ---- live -------------------------------------------------------------------------------
record_ffmpeg_bg "$SRC/live.mp4" --realtime --duration 6 || bail_out "cannot start ffmpeg"
rec_pid=$REC_PID
val() { to 10 getfattr --only-values -n "user.livemp4.$2" "$1" 2>/dev/null; }
has_samples() { local n; n=$(val "$MNT/live.mp4" samples) && ((n >= 20)); }
check "the live recording shows samples" wait_until 15 has_samples
a1=$(attrs "$MNT/live.mp4")
note "live: $a1"
is "$(sed 's/=.*//' <<<"$a1" | tr '\n' ' ')" \
  "user.livemp4.duration user.livemp4.format user.livemp4.samples user.livemp4.state " \
  "live: getfattr -d shows state, duration, samples and format, no error"
is "$(val "$MNT/live.mp4" state) $(val "$MNT/live.mp4" format)" "live fmp4" "live: state=live, format=fmp4"
s1=$(val "$MNT/live.mp4" samples) d1=$(val "$MNT/live.mp4" duration)
grew() {
  local s d
  s=$(val "$MNT/live.mp4" samples) && d=$(val "$MNT/live.mp4" duration) || return 1
  ((s > s1)) && awk -v a="$d" -v b="$d1" 'BEGIN { exit !(a > b) }'
}
check "live: samples ($s1) and duration ($d1) grow as the recording does" wait_until 10 grew

# ---- settled and damaged ----------------------------------------------------------------
is "$(attrs "$MNT/settled.mp4")" "$(want_attrs "$SRC/settled.mp4" settled)" \
  "settled: state=settled; duration, samples and format as livemp4 inspect; no error"
for f in junk-tail bad-moof; do
  want=$(want_attrs "$SRC/$f.mp4" error)
  is "$(attrs "$MNT/$f.mp4")" "$want" "$f: state=error; duration, samples, format and the error as livemp4 inspect"
done
err=$(val "$MNT/junk-tail.mp4" error)
check "junk-tail: user.livemp4.error says what is wrong ($err)" test -n "$err"

# ---- files that are not recordings ------------------------------------------------------
is "$(attrs "$MNT/plain.txt")" "" "a plain file: getfattr -d shows nothing"
is "$(attrs "$MNT/dir/plain.mp4")" "" "a plain file named .mp4: getfattr -d shows nothing"
is "$(attrs "$MNT/dir")" "" "a directory: getfattr -d shows nothing"
out=$(to 10 getfattr -n user.livemp4.state "$MNT/plain.txt" 2>&1)
check "a plain file has no user.livemp4.state ($out)" grep -q "No such attribute" <<<"$out"

# ---- the live recording, finished -------------------------------------------------------
wait "$rec_pid"
is "$?" 0 "the recorder finished"
settled() { [[ $(val "$MNT/live.mp4" state) == settled ]]; }
wait_until $((SETTLE + 5)) settled
is "$(attrs "$MNT/live.mp4")" "$(want_attrs "$SRC/live.mp4" settled)" \
  "the finished recording, once settled: state=settled, figures as livemp4 inspect"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
