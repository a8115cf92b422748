#!/usr/bin/env bash
# Read errors while indexing (issue 15): the daemon runs with LIVEMP4_SOURCE_FAULTS=eio-while:FLAG
# (muxer/source.c: every source read fails with EIO while FLAG exists, the read path's too:
# with faults planned it reads payload through Source instead of splicing it), as a disk or
# a network source that fails for a while.  A settled recording grows while reads fail: it
# keeps its last good snapshot, every read of which gives its bytes or fails with EIO (the
# header is in memory, the payload is not), never other bytes; user.livemp4.error names the
# read error;
# once reads work again the next access indexes it again and shows the whole recording (the
# bytes of livemp4 export) with no error.  A recording first looked at while reads fail is
# not shown as a plain file: its lookup fails with EIO, then it appears.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool getfattr
plan 10

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
record_ffmpeg "$W/full.mp4" --duration 3 -- -frag_duration 250000 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
# cut N: the first N bytes of full.mp4 that end at a moof (N-th fragment's start).
moof_at() { python3 "$MP4UTIL" boxes "$W/full.mp4" | awk -v n="$1" '$3 == "moof" && i++ == n { print $1 }'; }
half=$(moof_at 5)
[[ -n $half ]] || bail_out "full.mp4 has fewer than 6 fragments"
head -c "$half" "$W/full.mp4" >"$SRC/rec.mp4"
head -c "$half" "$W/full.mp4" >"$W/half.mp4"
to 60 "$LIVEMP4" export "$W/half.mp4" "$W/half.virt" || bail_out "export failed"
to 60 "$LIVEMP4" export "$W/full.mp4" "$W/full.virt" || bail_out "export failed"
touch -d '-1 min' "$SRC/rec.mp4"

FLAG=$W/disk-fails
export LIVEMP4_SOURCE_FAULTS=eio-while:$FLAG
check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"
unset LIVEMP4_SOURCE_FAULTS
check "the settled recording is its export" cmp "$W/half.virt" "$MNT/rec.mp4"

touch "$FLAG"
tail -c +$((half + 1)) "$W/full.mp4" >>"$SRC/rec.mp4"
err() { getfattr --only-values -n user.livemp4.error "$MNT/rec.mp4" 2>/dev/null; }
check "while reads fail, user.livemp4.error names the read error" wait_until 10 bash -c "$(declare -f err); MNT='$MNT'; err | grep -q 'Input/output error'"
note "user.livemp4.error: $(err)"
# reads FILE WANT: every 4 KiB read of FILE gives WANT's bytes (maybe fewer) or fails with
# EIO, and some fail: prints "N good, M EIO".
reads() {
  python3 - "$1" "$2" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
want = open(sys.argv[2], 'rb').read()
size = os.fstat(fd).st_size
assert size == len(want), 'size %d, want %d' % (size, len(want))
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # not from the page cache
good = eio = 0
for off in range(0, size, 4096):
    try:
        b = os.pread(fd, 4096, off)
    except OSError as e:
        assert e.errno == errno.EIO, e
        eio += 1
        continue
    # The kernel may return the bytes before a page it could not read: a short read.
    assert b and b == want[off:off + len(b)], 'other bytes at %d (%d bytes)' % (off, len(b))
    good += 1
print('%d good, %d EIO' % (good, eio))
sys.exit(0 if eio else 1)
PY
}
check "... the last good snapshot: each read its bytes or EIO, never others" reads "$MNT/rec.mp4" "$W/half.virt"
sleep 1
check "user.livemp4.error still names it a second later" bash -c "$(declare -f err); MNT='$MNT'; err | grep -q 'Input/output error'"

rm "$FLAG"
check "once reads work, the next access shows the whole recording" wait_until 5 cmp -s "$W/full.virt" "$MNT/rec.mp4"
check "... with no error" bash -c "! getfattr -n user.livemp4.error '$MNT/rec.mp4' >/dev/null 2>&1"

# A recording first looked at while reads fail.
touch "$FLAG"
cp "$W/full.mp4" "$SRC/new.mp4"
touch -d '-1 min' "$SRC/new.mp4"
check "a new recording while reads fail: not shown as a plain file" bash -c "! cmp -s '$SRC/new.mp4' '$MNT/new.mp4'"
rm "$FLAG"
check "once reads work, it is shown as its export" wait_until 5 cmp -s "$W/full.virt" "$MNT/new.mp4"
check "unmount" unmount_fs "$MNT"
