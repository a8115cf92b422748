#!/usr/bin/env bash
# Garbage and damaged files in SOURCE: the mount stays up, non-recordings are mirrored byte
# for byte, a truncated recording is served up to its last complete sample as a valid MP4,
# damage is reported in user.livemp4.error, and the good recordings beside them still work.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 44

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"

record_ffmpeg "$W/full.mp4" --duration 4 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
record_ffmpeg "$W/video.mp4" --duration 2 --video-only >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
cp "$W/full.mp4" "$SRC/good.mp4"
cp "$W/video.mp4" "$SRC/good-video.mp4"
# Deterministic junk.
junk() { python3 -c "import random,sys; r=random.Random($2); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range($1)))"; }
: >"$SRC/empty.mp4"
junk 65536 1 >"$SRC/random.bin"
junk 65536 2 >"$SRC/random.mp4"
ftyp_size=$(python3 "$MP4UTIL" boxes "$W/full.mp4" | awk '$3 == "ftyp" { print $2 }')
{ head -c "$ftyp_size" "$W/full.mp4"; junk 50000 3; } >"$SRC/ftyp-junk.mp4"

# cut NAME OFFSET: the first OFFSET bytes of the full recording.
cut_at() { head -c "$2" "$W/full.mp4" >"$SRC/$1.mp4"; echo "$2" >"$W/$1.cut"; }
box() { python3 "$MP4UTIL" cut "$W/full.mp4" "$1" "$2" "$3"; }
cut_at cut-moov "$(box 0 moov 0.5)"
cut_at cut-moof "$(box 1 moof 0.5)"
cut_at cut-mdat "$(box 1 mdat 0.5)"
cut_at cut-mdat-early "$(box 2 mdat 0.1)"
cut_at cut-mdat-header "$(( $(box 1 mdat 0) + 3 ))"   # inside the mdat's 8-byte header
cut_at cut-fragment-end "$(python3 "$MP4UTIL" boxes "$W/full.mp4" | awk '$3 == "mdat" { n++; if (n == 2) print $1 + $2 }')"
# A complete recording followed by junk (after its mfra).
{ cat "$W/full.mp4"; junk 4096 4; } >"$SRC/tail-junk.mp4"
# A recording whose second moof claims an absurd sample count in its trun.
python3 - "$W/full.mp4" "$SRC/bad-trun.mp4" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
def boxes(off, end):
    while off + 8 <= end:
        s, t = struct.unpack('>I4s', d[off:off + 8]); yield off, s, t; off += s
moofs = [(o, s) for o, s, t in boxes(0, len(d)) if t == b'moof']
o, s = moofs[1]
for o2, s2, t2 in boxes(o + 8, o + s):
    if t2 == b'traf':
        for o3, s3, t3 in boxes(o2 + 8, o2 + s2):
            if t3 == b'trun':
                d[o3 + 12:o3 + 16] = struct.pack('>I', 0x7fffffff)
                break
        break
open(sys.argv[2], 'wb').write(d)
PY
( cd "$SRC" && sha256sum -- * ) >"$W/sums.before"

check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

# expect_counts CUT: per stream "index count" of the full recording's packets whose bytes all
# lie before CUT.
expect_counts() {
  to 30 ffprobe -v error -show_entries packet=stream_index,pos,size -of compact=p=0 "$W/full.mp4" |
    python3 -c '
import sys, collections
cut = int(sys.argv[1]); n = collections.Counter({0: 0, 1: 0})
for line in sys.stdin:
    kv = dict(x.split("=", 1) for x in line.strip().split("|"))
    if int(kv["pos"]) + int(kv["size"]) <= cut:
        n[int(kv["stream_index"])] += 1
print(" ".join("%d:%d" % (s, n[s]) for s in sorted(n)))' "$1"
}
actual_counts() {
  to 30 ffprobe -v error -show_entries packet=stream_index -of csv=p=0 "$1" |
    python3 -c '
import sys, collections
n = collections.Counter({0: 0, 1: 0})
for line in sys.stdin:
    if line.strip(): n[int(line.strip().rstrip(","))] += 1
print(" ".join("%d:%d" % (s, n[s]) for s in sorted(n)))'
}

for f in empty.mp4 random.bin random.mp4 ftyp-junk.mp4; do
  check "$f is mirrored byte for byte" to 30 cmp "$SRC/$f" "$MNT/$f"
done

# Cut inside the moov: there are no tracks yet.  Either mirrored as it is (not yet a
# recording) or shown as a valid MP4; either way readable.
if to 30 cmp -s "$SRC/cut-moov.mp4" "$MNT/cut-moov.mp4"; then
  pass "cut-moov.mp4 is served (mirrored as it is: not a recording yet)"
else
  check "cut-moov.mp4 is served (as a valid MP4)" check_mp4 "$MNT/cut-moov.mp4"
fi

for c in cut-moof cut-mdat cut-mdat-early cut-mdat-header cut-fragment-end; do
  v=$MNT/$c.mp4
  check "$c: a valid fast-start MP4" check_mp4 "$v"
  check "$c: its packets are the first packets of the recording" packets_prefix "$v" "$W/full.mp4"
  want=$(expect_counts "$(cat "$W/$c.cut")")
  is "$(actual_counts "$v")" "$want" \
    "$c: holds every sample complete before the cut at $(cat "$W/$c.cut") (stream:packets $want)"
  check "$c: its decoded frames are a prefix of the recording's" frames_prefix "$v" "$MNT/good.mp4"
done

check "tail-junk: a valid fast-start MP4" check_mp4 "$MNT/tail-junk.mp4"
check "tail-junk: every sample of the recording" same_packets "$W/full.mp4" "$MNT/tail-junk.mp4"
err=$(to 10 getfattr --only-values -n user.livemp4.error "$MNT/tail-junk.mp4" 2>/dev/null)
check "tail-junk: the problem is visible in user.livemp4.error ($err)" test -n "$err"
check "bad-trun: a valid fast-start MP4" check_mp4 "$MNT/bad-trun.mp4"
check "bad-trun: its packets are the first packets of the recording" packets_prefix "$MNT/bad-trun.mp4" "$W/full.mp4"
is "$(actual_counts "$MNT/bad-trun.mp4")" "$(expect_counts "$(box 1 moof 0)")" \
  "bad-trun: holds the samples before the damaged fragment"
err=$(to 10 getfattr --only-values -n user.livemp4.error "$MNT/bad-trun.mp4" 2>/dev/null)
check "bad-trun: the problem is visible in user.livemp4.error ($err)" test -n "$err"

for g in good.mp4 good-video.mp4; do
  check "$g: still a valid fast-start MP4" check_mp4 "$MNT/$g"
  check "$g: same frames as its source" same_frames "$SRC/$g" "$MNT/$g"
  check "$g: same timing as its source" same_timing "$SRC/$g" "$MNT/$g"
done

ok_sizes=0
for f in "$SRC"/*; do
  n=$(basename "$f")
  got=$(to 30 cat "$MNT/$n" | wc -c)
  [[ $got == "$(file_size "$MNT/$n")" ]] || { diag "$n: read $got bytes, stat says $(file_size "$MNT/$n")"; ok_sizes=1; }
  to 30 cmp -s <(to 30 cat "$MNT/$n") "$MNT/$n" || { diag "$n: two reads differ"; ok_sizes=1; }
done
ok $ok_sizes "every file reads to its stat size, the same bytes twice"
check "SOURCE is unchanged" diff "$W/sums.before" <(cd "$SRC" && sha256sum -- *)
check "the daemon is still up" daemon_alive "$MNT"
ok_log=0
for f in tail-junk.mp4 bad-trun.mp4; do
  n=$(daemon_log "$MNT" | grep -c -- "$f")
  ((n == 1)) || { diag "$f: $n log lines"; ok_log=1; }
done
ok $ok_log "each damaged recording is logged once, however often it was opened"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
