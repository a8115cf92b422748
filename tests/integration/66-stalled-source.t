#!/usr/bin/env bash
# One source that stalls holds up only the requests that need it (issue 14, item 4), and a
# recording written under the mount is indexed while it is written (item 1).
#
# The source tree holds local/ (recordings on the local disk) and remote/inner/, where a second
# livemp4fs is mounted and then stopped with SIGSTOP, as a network filesystem stalls: every
# request into it blocks until SIGCONT.  While a listing of remote/inner hangs in the outer
# daemon, listings, lookups, stats and reads of local/ must all complete, and a file created
# in local/ meanwhile must be seen.  Before the directory listings and probes moved out of the
# daemon's global lock, the hanging listing held that lock and every request waited.
#
# Then ffmpeg writes a Matroska recording into local/ while it is mounted: once it has
# finished, and the daemon's log says its background indexer reached the file's final size,
# the first stat, open and read of its virtual file read no source bytes (strace counts the
# daemon's pread64 calls on the source).
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool strace

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt INNER_SRC=$T/inner W=$T/work
mkdir -p "$SRC/local" "$SRC/remote/inner" "$INNER_SRC" "$W"
record_ffmpeg "$SRC/local/a.mp4" --duration 2 || bail_out "ffmpeg failed"
# ffmpeg_mkv OUT SECONDS [INPUT OPTIONS]: a Matroska recording (H.264 + AAC).
ffmpeg_mkv() {
  local out=$1 secs=$2
  shift 2
  to $((secs * 3 + 60)) ffmpeg -nostdin -hide_banner -v error -y "$@" -f lavfi -i testsrc2=size=160x120:rate=25 \
    "$@" -f lavfi -i sine=frequency=440:sample_rate=48000 -t "$secs" -c:v libx264 -preset veryfast -g 25 \
    -pix_fmt yuv420p -c:a aac -b:a 64k -flush_packets 1 -f matroska "$out"
}
ffmpeg_mkv "$SRC/local/b.mkv" 2 || bail_out "ffmpeg failed"
record_ffmpeg "$INNER_SRC/far.mp4" --duration 2 || bail_out "ffmpeg failed"
to 60 "$LIVEMP4" export "$SRC/local/a.mp4" "$W/a.virt" || bail_out "livemp4 export failed"
to 60 "$LIVEMP4" export "$SRC/local/b.mkv" "$W/b.virt" || bail_out "livemp4 export failed"

inner_pid=""
# The stopped daemon must run again before anything is unmounted (common.sh's trap).
resume_inner() { [[ -n $inner_pid ]] && kill -CONT "$inner_pid" 2>/dev/null; }
trap 'rc=$?; resume_inner; _cleanup $rc' EXIT

plan 13
check "the inner daemon mounts remote/inner" mount_fs "$INNER_SRC" "$SRC/remote/inner" || bail_out "cannot mount"
inner_pid=${_mnt_pid[$(realpath "$SRC/remote/inner")]}
check "the outer daemon mounts the tree" mount_fs "$SRC" "$MNT" -o loglevel=debug || bail_out "cannot mount"
check "remote/inner is read through the outer mount" to 30 cmp -s "$MNT/remote/inner/far.mp4" \
  <(to 30 "$LIVEMP4" export "$INNER_SRC/far.mp4" /dev/stdout)

# ---- a stalled source --------------------------------------------------------------------
kill -STOP "$inner_pid"
# Once what the kernel and the outer daemon cached of the stopped mount has expired (about a
# second), a listing of remote/inner hangs in the outer daemon.
sleep 3
ls_pid=""
( exec timeout -k 5 300 ls -l "$MNT/remote/inner/" >/dev/null 2>&1 ) &
ls_pid=$!
track_pid "$ls_pid"
sleep 2
check "the listing of the stalled directory is still waiting" kill -0 "$ls_pid"
check "ls -l of local/ completes" to 30 ls -l "$MNT/local/"
check "local/a.mp4 reads as livemp4 export makes it" to 30 cmp "$MNT/local/a.mp4" "$W/a.virt"
check "local/b.mp4 (Matroska) reads as livemp4 export makes it" to 30 cmp "$MNT/local/b.mp4" "$W/b.virt"
cp "$SRC/local/a.mp4" "$SRC/local/c.mp4"
check "a file created in local/ meanwhile is found" wait_until 30 test -s "$MNT/local/c.mp4"
check "the root lists meanwhile" to 30 ls "$MNT/"
kill -CONT "$inner_pid"
check "the stalled listing completes once the source runs again" wait_until 60 eval '! kill -0 "$ls_pid"' 

# ---- indexed while written ---------------------------------------------------------------
to 30 ls -l "$MNT/local/" >/dev/null   # the directory is watched from its first listing
ffmpeg_mkv "$SRC/local/written.mkv" 4 -re || bail_out "ffmpeg failed"
final=$(stat -c %s "$SRC/local/written.mkv")
# The writer's close is what settles it (and completes what waits for more bytes): the refresh
# that counts is one the background indexer made at the final size after the daemon saw the close.
indexed_after_close() {
  daemon_log "$MNT" | awk -v done="local/written.mkv: indexed in the background up to $final bytes" '
    /local\/written.mkv: closed by its writer/ { closed = 1; next }
    closed && index($0, done) { found = 1 }
    END { exit !found }'
}
check "the background indexer reaches the recording's final size ($final bytes) after its writer closed it" \
  wait_until 60 indexed_after_close
daemon_pid=${_mnt_pid[$(realpath "$MNT")]}
strace -f -e trace=pread64 -p "$daemon_pid" -o "$W/strace.log" 2>"$W/strace.err" &
strace_pid=$!
track_pid "$strace_pid"
wait_until 30 grep -q attached "$W/strace.err"
sleep 0.5
to 30 stat "$MNT/local/written.mp4" >/dev/null
to 30 head -c 4096 "$MNT/local/written.mp4" >/dev/null
sleep 1
kill -INT "$strace_pid" 2>/dev/null
wait "$strace_pid" 2>/dev/null
src_fds=$(for f in /proc/"$daemon_pid"/fd/*; do
  [[ $(readlink "$f") == "$SRC/local/written.mkv" ]] && echo "${f##*/}"
done)
reads=0
for fd in $src_fds; do
  reads=$((reads + $(grep -c "pread64($fd," "$W/strace.log")))
done
[[ -n $src_fds ]] || diag "no descriptor of the source is open in the daemon"
check "the first open after the recording ended read no source bytes for its index (pread64: $reads)" \
  test -n "$src_fds" -a "$reads" -eq 0
check "its virtual file reads as livemp4 export makes it" \
  to 60 cmp "$MNT/local/written.mp4" <(to 60 "$LIVEMP4" export "$SRC/local/written.mkv" /dev/stdout)
done_testing
