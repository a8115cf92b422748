#!/usr/bin/env bash
# The persistent index cache (issue 14 item 2).  A settled fMP4, Matroska and plain MP4
# recording are indexed and saved once; after a remount each is read from its cache file:
# no source read beyond the head (pread64 calls on the sources traced with strace; the same
# trace of a mount without the cache shows them), and the virtual files are still the bytes
# of `livemp4 export`.  A cached index is not trusted once its source changes: an append, a
# rewrite in place and a rename over it each give the new source's bytes.  A corrupt and a
# truncated cache file are ignored and written anew; -o nocache writes nothing.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool strace ffmpeg python3
plan 29

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work C=$T/cache
mkdir -p "$SRC" "$W" "$C"
record_ffmpeg "$SRC/frag.mp4" --duration 4 --size 320x240 -- -frag_duration 250000 >/dev/null 2>&1 ||
  bail_out "ffmpeg failed"
to 120 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=sample_rate=48000 -t 4 \
  -c:v libx264 -preset veryfast -c:a aac "$SRC/rec.mkv" || bail_out "ffmpeg failed"
to 120 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=sample_rate=48000 -t 4 \
  -c:v libx264 -preset veryfast -c:a aac "$SRC/plain.mov" || bail_out "ffmpeg failed"
to 120 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=30 -t 3 \
  -c:v libx264 -preset veryfast "$W/other.mkv" || bail_out "ffmpeg failed"
# Settled by age too, wherever leases cannot tell.
touch -d '1 minute ago' "$SRC"/*

# export NAME SOURCE: the bytes the mount must show.
export_to() { to 60 "$LIVEMP4" export "$2" "$W/$1.virt" >/dev/null 2>&1; }
export_to frag "$SRC/frag.mp4" && export_to rec "$SRC/rec.mkv" && export_to plain "$SRC/plain.mov" ||
  bail_out "livemp4 export failed"
all_same() {
  cmp -s "$W/frag.virt" "$MNT/frag.mp4" && cmp -s "$W/rec.virt" "$MNT/rec.mp4" && cmp -s "$W/plain.virt" "$MNT/plain.mp4"
}
# since N PATTERN: the daemon logged a line matching PATTERN after its first N lines.
LOG=
since() { tail -n +$(($1 + 1)) "$LOG" | grep -c -- "$2"; }
log_lines() { wc -l <"$LOG"; }

check "mount with -o cache" mount_fs "$SRC" "$MNT" -o cache="$C",loglevel=debug || bail_out "cannot mount"
LOG=${_mnt_log[$(realpath "$MNT")]}
check "the virtual files are the exports" all_same
check "three settled recordings are saved" wait_until 20 bash -c "[[ \$(find '$C' -name '*.idx' | wc -l) == 3 ]]"
check "no temporary file is left in the cache" bash -c "[[ -z \$(find '$C' -name '.*' -type f) ]]"
check "unmount" unmount_fs "$MNT"

# source_reads_past_head TRACE: pread64 calls on files under $SRC that reach past the 64 KiB
# the cache key hashes (strace -y names each descriptor's file), but for box headers (16
# bytes): recognising a plain MP4 walks its top-level boxes to the moov.
source_reads_past_head() {
  python3 - "$1" "$SRC" <<'EOF'
import re, sys
src = sys.argv[2]
n = 0
for line in open(sys.argv[1]):
    m = re.search(r'pread64\(\d+<([^>]*)>, .*, (\d+), (\d+)\) = (-?\d+)', line)
    if m and m.group(1).startswith(src) and int(m.group(3)) + int(m.group(2)) > 65536 and int(m.group(2)) > 16:
        n += 1
print(n)
EOF
}

# traced_reads ARGS...: mounts with ARGS, traces the daemon while every file is read, and
# prints how many source reads went past the head.
traced_reads() {
  mount_fs "$SRC" "$MNT" "$@" || return 1
  local pid
  pid=$(pgrep -f -n "^$LIVEMP4FS $SRC $MNT") || return 1
  strace -f -qq -y -e trace=pread64 -o "$W/trace" -p "$pid" 2>/dev/null &
  local spid=$!
  track_pid "$spid"
  sleep 1   # strace attaches to every thread
  all_same || echo "differ" >&2
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  unmount_fs "$MNT" >/dev/null || return 1
  source_reads_past_head "$W/trace"
}

n=$(traced_reads -o nocache)
note "without the cache: $n source reads past the head"
check "without the cache, indexing reads the sources past their heads" test "${n:-0}" -gt 0
mark=$(log_lines)
n=$(traced_reads -o cache="$C",loglevel=info)
note "with the cache: $n source reads past the head"
is "${n:-x}" 0 "after a remount, no source read past the head (indexes from the cache)"
is "$(since "$mark" 'index read from the cache')" 3 "the daemon says it read the three indexes from the cache"

check "mount again" mount_fs "$SRC" "$MNT" -o cache="$C",loglevel=debug || bail_out "cannot mount"
check "cached: the virtual files are the exports" all_same

# An append: the last fragment of the fMP4 is cut off and appended while mounted.
python3 - "$SRC/frag.mp4" "$W/frag-tail" <<'EOF' || bail_out "cannot split the fMP4"
import sys
data = open(sys.argv[1], 'rb').read()
pos, last = 0, None
while pos + 8 <= len(data):
    size = int.from_bytes(data[pos:pos + 4], 'big')
    if data[pos + 4:pos + 8] == b'moof':
        last = pos
    if size < 8:
        break
    pos += size
open(sys.argv[2], 'wb').write(data[last:])
open(sys.argv[1], 'r+b').truncate(last)
EOF
touch -d '1 minute ago' "$SRC/frag.mp4"
unmount_fs "$MNT" >/dev/null
export_to frag-short "$SRC/frag.mp4"
mark=$(log_lines)
mount_fs "$SRC" "$MNT" -o cache="$C",loglevel=debug || bail_out "cannot mount"
cmp -s "$W/frag-short.virt" "$MNT/frag.mp4" || diag "the shortened fMP4 is not its export"
check "the shortened fMP4 is indexed again and cached" wait_until 20 bash -c "$(declare -f since); LOG='$LOG'; \
  [[ \$(since $mark 'frag.mp4: index cached') == 1 ]]"
unmount_fs "$MNT" >/dev/null
mark=$(log_lines)
mount_fs "$SRC" "$MNT" -o cache="$C",loglevel=debug || bail_out "cannot mount"
check "... and read from the cache after a remount" cmp -s "$W/frag-short.virt" "$MNT/frag.mp4"
is "$(since "$mark" 'frag.mp4: index read from the cache')" 1 "... (the log says so)"
cat "$W/frag-tail" >>"$SRC/frag.mp4"
check "an append: the whole recording is shown" wait_until 20 cmp -s "$W/frag.virt" "$MNT/frag.mp4"

# A rewrite in place (same inode) and a rename over a cached recording.
ino=$(stat -c %i "$SRC/rec.mkv")
cp "$SRC/rec.mkv" "$W/rec.mkv.orig"
cat "$W/other.mkv" >"$SRC/rec.mkv"
[[ $(stat -c %i "$SRC/rec.mkv") == "$ino" ]] || bail_out "rewritten with a new inode"
export_to other "$W/other.mkv"
check "a rewrite in place: the new recording is shown" wait_until 20 cmp -s "$W/other.virt" "$MNT/rec.mp4"
cp "$W/other.mkv" "$W/plain-over.mov"
mv "$W/plain-over.mov" "$SRC/plain.mov"
check "a rename over it: the new recording is shown" wait_until 20 cmp -s "$W/other.virt" "$MNT/plain.mp4"
check "unmount" unmount_fs "$MNT"

# A corrupt and a truncated cache file: ignored, the right bytes shown, written anew.
cp "$W/rec.mkv.orig" "$SRC/rec.mkv"
cp "$W/other.mkv" "$SRC/plain.mov"   # as before the remount, under a new mtime
touch -d '1 minute ago' "$SRC"/*
touch "$W/marker"
mount_fs "$SRC" "$MNT" -o cache="$C" || bail_out "cannot mount"
check "remounted after the changes: the new sources' bytes" \
  bash -c "cmp -s '$W/frag.virt' '$MNT/frag.mp4' && cmp -s '$W/rec.virt' '$MNT/rec.mp4' && cmp -s '$W/other.virt' '$MNT/plain.mp4'"
wait_until 20 bash -c "[[ \$(find '$C' -name '*.idx' -newer '$W/marker' | wc -l) == 3 ]]" || diag "not all saved anew"
unmount_fs "$MNT" >/dev/null
mapfile -t files < <(find "$C" -name '*.idx' | sort)
for f in "${files[@]}"; do cp "$f" "$f.good"; done
python3 - "${files[0]}" "${files[1]}" <<'EOF'
import sys, os
a = bytearray(open(sys.argv[1], 'rb').read())
a[len(a) // 2] ^= 0x40
open(sys.argv[1], 'wb').write(a)
os.truncate(sys.argv[2], os.path.getsize(sys.argv[2]) * 2 // 3)
EOF
mark=$(log_lines)
check "mount with a corrupt and a truncated cache file" mount_fs "$SRC" "$MNT" -o cache="$C",loglevel=debug
check "the virtual files are still the exports" \
  bash -c "cmp -s '$W/frag.virt' '$MNT/frag.mp4' && cmp -s '$W/rec.virt' '$MNT/rec.mp4' && cmp -s '$W/other.virt' '$MNT/plain.mp4'"
is "$(since "$mark" 'index cache .* ignored')" 2 "the damaged files were ignored (debug log)"
check "... and written anew, as they were" \
  wait_until 20 bash -c "cmp -s '${files[0]}' '${files[0]}.good' && cmp -s '${files[1]}' '${files[1]}.good'"
unmount_fs "$MNT" >/dev/null

# Eviction: with index_memory=1K, the indexes nothing holds go once the kernel forgets the
# nodes (drop_caches, as root), and come back from the cache, the same bytes.
same_now() {
  cmp -s "$W/frag.virt" "$MNT/frag.mp4" && cmp -s "$W/rec.virt" "$MNT/rec.mp4" && cmp -s "$W/other.virt" "$MNT/plain.mp4"
}
mark=$(log_lines)
check "mount with -o index_memory=1K" mount_fs "$SRC" "$MNT" -o cache="$C",loglevel=debug,index_memory=1K
same_now || diag "before eviction: the virtual files differ"
if [[ $(id -u) == 0 ]]; then
  # Once: the kernel forgets the nodes, and the next sweep (every 2 s) drops their indexes.
  sync
  echo 2 >/proc/sys/vm/drop_caches
  check "unused indexes are dropped past index_memory" wait_until 30 bash -c "$(declare -f since); LOG='$LOG'; \
    [[ \$(since $mark 'unused indexes dropped') -ge 1 ]]"
  mark2=$(log_lines)
  check "after eviction every virtual file is still its export" same_now
  check "... its index read from the cache again" bash -c "$(declare -f since); LOG='$LOG'; \
    [[ \$(since $mark2 'index read from the cache') -ge 1 ]]"
else
  skip 3 "drop_caches needs root"
fi
unmount_fs "$MNT" >/dev/null

# -o nocache writes nothing, wherever the cache would be.
C2=$T/cache2
mkdir -p "$C2"
mount_fs "$SRC" "$MNT" -o nocache,cache="$C2" || bail_out "cannot mount"
check "read with -o nocache" cmp -s "$W/frag.virt" "$MNT/frag.mp4"
sleep 3   # two sweeps, when a settled recording would be saved
check "-o nocache writes nothing" bash -c "[[ -z \$(find '$C2' -mindepth 1) ]]"
check "unmount" unmount_fs "$MNT"
