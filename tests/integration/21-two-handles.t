#!/usr/bin/env bash
# Two handles on one growing recording, opened seconds apart and read concurrently (issue 4):
# two python threads read them in small, unaligned chunks in lock step while the recorder keeps
# writing.  Each handle is a snapshot inode of its own: it yields exactly its fstat size (at
# open and at the end), the same bytes when read again, a valid MP4; the earlier handle's
# frames are a prefix of the later's, and the later's packets the first packets of the source.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 17

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
SETTLE=2

check "mount (settle=$SETTLE)" mount_fs "$SRC" "$MNT" -o settle=$SETTLE || bail_out "cannot mount"
record_ffmpeg_bg "$SRC/rec.mp4" --realtime --duration 10 --size 320x240 -- -frag_duration 400000 ||
  bail_out "cannot start ffmpeg"
rec_pid=$REC_PID
samples() { to 10 getfattr --only-values -n user.livemp4.samples "$MNT/rec.mp4" 2>/dev/null; }
has_samples() { local n; n=$(samples) && ((n >= $1)); }
check "the growing recording shows samples" wait_until 15 has_samples 30

cat >"$W/two.py" <<'PY'
import json, os, sys, threading, time
path, out = sys.argv[1], sys.argv[2]
res = {}
fa = os.open(path, os.O_RDONLY)
t0 = time.monotonic()
st_a = os.fstat(fa)
res['size_a'], res['ino_a'] = st_a.st_size, st_a.st_ino
# B is opened at least 2.5 s later, once the recording has grown past A's snapshot.
while time.monotonic() - t0 < 20 and (time.monotonic() - t0 < 2.5 or os.stat(path).st_size <= st_a.st_size):
    time.sleep(0.05)
fb = os.open(path, os.O_RDONLY)
res['gap'] = round(time.monotonic() - t0, 2)
st_b = os.fstat(fb)
res['size_b'], res['ino_b'] = st_b.st_size, st_b.st_ino
res['fstat_a_at_b'] = os.fstat(fa).st_size

# Lock-step readers: each reads one chunk, then waits for the other; the first to reach EOF
# breaks the barrier and the other finishes alone.  Halfway through A, both wait until the
# recording has grown past B's snapshot, so both handles are read before and after growth.
barrier = threading.Barrier(2)
data, fstat_end, reads = {}, {}, {}
res['grew_midway'] = False
def reader(key, fd, chunk):
    parts = []
    got = 0
    while True:
        b = os.read(fd, chunk)
        if not b:
            break
        parts.append(b)
        if key == 'a' and got < res['size_a'] // 2 <= got + len(b):
            deadline = time.monotonic() + 10
            while os.stat(path).st_size <= res['size_b'] and time.monotonic() < deadline:
                time.sleep(0.05)
            res['grew_midway'] = os.stat(path).st_size > res['size_b']
        got += len(b)
        try:
            barrier.wait(timeout=20)
        except threading.BrokenBarrierError:
            pass
    barrier.abort()
    data[key] = b''.join(parts)
    reads[key] = len(parts)
    fstat_end[key] = os.fstat(fd).st_size
ta = threading.Thread(target=reader, args=('a', fa, 3000))
tb = threading.Thread(target=reader, args=('b', fb, 4196))
ta.start(); tb.start(); ta.join(); tb.join()
res['read_a'], res['read_b'] = len(data['a']), len(data['b'])
res['reads_a'], res['reads_b'] = reads['a'], reads['b']
res['fstat_a_end'], res['fstat_b_end'] = fstat_end['a'], fstat_end['b']
res['reread_a_equal'] = os.pread(fa, res['size_a'] + 65536, 0) == data['a']
res['reread_b_equal'] = os.pread(fb, res['size_b'] + 65536, 0) == data['b']
open(out + '.a.mp4', 'wb').write(data['a'])
open(out + '.b.mp4', 'wb').write(data['b'])
os.close(fa); os.close(fb)
json.dump(res, open(out + '.json', 'w'), indent=1)
PY
to 60 python3 "$W/two.py" "$MNT/rec.mp4" "$W/two" || diag "two.py failed"
[[ -f $W/two.json ]] || bail_out "the reader script did not finish"
note "$(cat "$W/two.json")"
j() { python3 -c "import json; print(json.load(open('$W/two.json'))['$1'])"; }

check "handle B was opened $(j gap) s after handle A (at least 2.5 s)" \
  python3 -c "import sys; sys.exit(not $(j gap) >= 2.5)"
check "handle B's snapshot is larger than A's ($(j size_a) -> $(j size_b))" test "$(j size_b)" -gt "$(j size_a)"
is "$(j fstat_a_at_b)" "$(j size_a)" "fstat on A is unchanged after B was opened"
is "$(j read_a)" "$(j size_a)" "A yields exactly its fstat size ($(j reads_a) reads of 3000 bytes)"
is "$(j read_b)" "$(j size_b)" "B yields exactly its fstat size ($(j reads_b) reads of 4196 bytes)"
is "$(j fstat_a_end) $(j fstat_b_end)" "$(j size_a) $(j size_b)" "fstat on A and B is unchanged after reading"
is "$(j reread_a_equal) $(j reread_b_equal)" "True True" "reading A and B again in one go gives the same bytes"
is "$(j grew_midway)" True "the recording grew past B's snapshot while A and B were being read"
check "A's bytes are a valid MP4" check_mp4 "$W/two.a.mp4"
check "B's bytes are a valid MP4" check_mp4 "$W/two.b.mp4"
check "A's frames are a prefix of B's" frames_prefix "$W/two.a.mp4" "$W/two.b.mp4"

wait "$rec_pid"
is "$?" 0 "the recorder finished"
check "B's packets are the first packets of the source" packets_prefix "$W/two.b.mp4" "$SRC/rec.mp4"
settled() { [[ $(to 10 getfattr --only-values -n user.livemp4.state "$MNT/rec.mp4" 2>/dev/null) == settled ]]; }
wait_until $((SETTLE + 5)) settled
check "B's frames are a prefix of the finished recording's" frames_prefix "$W/two.b.mp4" "$MNT/rec.mp4"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
