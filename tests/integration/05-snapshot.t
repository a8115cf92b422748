#!/usr/bin/env bash
# Snapshot per open handle: a handle opened on a growing recording keeps seeing exactly the
# file as it was at open() (fstat size == bytes read, a valid MP4), while stat() on the path
# and new handles see the grown recording.  Two handles on different snapshots never mix
# bytes, even when their reads interleave.  Once the recorder stops, the recording settles.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 21

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
SETTLE=2

check "mount (settle=$SETTLE)" mount_fs "$SRC" "$MNT" -o settle=$SETTLE || bail_out "cannot mount"

record_ffmpeg_bg "$SRC/rec.mp4" --realtime --duration 8 -- -frag_duration 500000 || bail_out "cannot start ffmpeg"
samples() { to 10 getfattr --only-values -n user.livemp4.samples "$MNT/rec.mp4" 2>/dev/null; }
has_samples() { local n; n=$(samples) && ((n >= $1)); }
check "the growing recording shows samples" wait_until 15 has_samples 20
state=$(to 10 getfattr --only-values -n user.livemp4.state "$MNT/rec.mp4" 2>/dev/null)
is "$state" live "user.livemp4.state is live while the recorder writes"

# Handle 3 (bash) pinned now; python opens its own handle A now and B after growth.
exec 3<"$MNT/rec.mp4"
cat >"$W/snap.py" <<'PY'
import json, os, sys, time
path, out = sys.argv[1], sys.argv[2]
res = {}
fa = os.open(path, os.O_RDONLY)
size_a = os.fstat(fa).st_size
res['size_a'] = size_a
res['fd3_at_open'] = os.fstat(3).st_size
res['path_at_open'] = os.stat(path).st_size
head = os.pread(fa, 65536, 0)                # read part of it before the growth
deadline = time.time() + 20
while os.stat(path).st_size <= size_a and time.time() < deadline:
    time.sleep(0.05)
res['path_after_growth'] = os.stat(path).st_size
res['fstat_a_after_growth'] = os.fstat(fa).st_size
res['fd3_after_growth'] = os.fstat(3).st_size
fb = os.open(path, os.O_RDONLY)
res['size_b'] = os.fstat(fb).st_size
# Interleave reads of A and B in 16 KiB chunks (A's first chunk was read before growth).
chunks = {fa: [head], fb: []}
pos = {fa: len(head), fb: 0}
done = set()
while len(done) < 2:
    for fd in (fa, fb):
        if fd in done:
            continue
        b = os.pread(fd, 16384, pos[fd])
        if not b:
            done.add(fd)
        chunks[fd].append(b)
        pos[fd] += len(b)
a = b''.join(chunks[fa]); b = b''.join(chunks[fb])
res['read_a'] = len(a); res['read_b'] = len(b)
res['fstat_a_at_end'] = os.fstat(fa).st_size
res['a_reread_equal'] = os.pread(fa, len(a) + 65536, 0) == a
open(out + '.a', 'wb').write(a); open(out + '.b', 'wb').write(b)
os.close(fa); os.close(fb)
json.dump(res, open(out + '.json', 'w'), indent=1)
PY
to 40 python3 "$W/snap.py" "$MNT/rec.mp4" "$W/snap"
note "$(cat "$W/snap.json")"
j() { python3 -c "import json,sys; print(json.load(open('$W/snap.json'))['$1'])"; }
check "stat on the path grew after handle A was opened ($(j size_a) -> $(j path_after_growth))" \
  test "$(j path_after_growth)" -gt "$(j size_a)"
is "$(j fstat_a_after_growth)" "$(j size_a)" "fstat on handle A still reports its snapshot after the growth"
is "$(j read_a)" "$(j size_a)" "handle A reads exactly fstat's size to EOF, after the growth"
is "$(j fstat_a_at_end)" "$(j size_a)" "fstat on handle A is unchanged after reading"
is "$(j a_reread_equal)" True "re-reading handle A gives the same bytes"
check "handle A's bytes form a valid MP4" check_mp4 "$W/snap.a"
is "$(j read_b)" "$(j size_b)" "handle B (opened after growth) reads exactly its fstat size"
check "handle B's snapshot is larger than A's" test "$(j size_b)" -gt "$(j size_a)"
check "handle B's bytes form a valid MP4" check_mp4 "$W/snap.b"

# The bash handle opened before python's: read it now, long after the growth.
fd3_size=$(python3 -c 'import os; print(os.fstat(3).st_size)')
to 30 cat <&3 >"$W/fd3.mp4"
exec 3<&-
is "$(stat -c %s "$W/fd3.mp4")" "$fd3_size" "bash handle 3 (exec 3<) reads exactly its fstat size"
check "bash handle 3's bytes form a valid MP4" check_mp4 "$W/fd3.mp4"

# Wait for the recorder, then for the recording to settle.
wait "$REC_PID"; rc=$?
is "$rc" 0 "the recorder finished"
settled() { [[ $(to 10 getfattr --only-values -n user.livemp4.state "$MNT/rec.mp4" 2>/dev/null) == settled ]]; }
check "user.livemp4.state becomes settled within $SETTLE s (+5) after the last write" wait_until $((SETTLE + 5)) settled
to 60 "$LIVEMP4" export "$SRC/rec.mp4" "$W/export.mp4"
check "the settled file equals livemp4 export" to 60 cmp "$W/export.mp4" "$MNT/rec.mp4"
check "handle A's frames are a prefix of the final file's" frames_prefix "$W/snap.a" "$MNT/rec.mp4"
check "handle B's packets are a prefix of the source's" packets_prefix "$W/snap.b" "$SRC/rec.mp4"
check "the final file has the source's frames" same_frames "$SRC/rec.mp4" "$MNT/rec.mp4"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
