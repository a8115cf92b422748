#!/usr/bin/env bash
# State follows the tree in use, not every path ever seen (issue 15).  200 nested directories,
# each with a recording and a text file, are listed and read through the mount, then deleted
# or moved out of the source tree (100 each).  Within 30 s the daemon's tables are back at
# their level before (its debug log line "state: N nodes, N recordings, N listings, N probes,
# N watches, N directory inodes", watch.c), and so are its inotify watches as the kernel
# counts them (/proc/PID/fdinfo of its inotify descriptor): a moved directory's watch is
# released when the kernel forgets the directory.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 6

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W/out"
record_ffmpeg "$W/rec.mp4" --duration 1 --video-only >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }

check "mount" mount_fs "$SRC" "$MNT" -o loglevel=debug || bail_out "cannot mount"
pid=${_mnt_pid[$(realpath "$MNT")]}
# inotify_watches: the watches of the daemon's inotify descriptor.
inotify_watches() {
  local fd n=0
  for fd in /proc/$pid/fd/*; do
    [[ $(readlink "$fd") == "anon_inode:inotify" ]] || continue
    n=$((n + $(grep -c '^inotify wd:' "/proc/$pid/fdinfo/${fd##*/}")))
  done
  echo "$n"
}
state() { daemon_log "$MNT" | grep -o 'state: .*' | tail -n 1; }
ls "$MNT" >/dev/null
wait_until 10 bash -c "[[ -n \"\$(grep -o 'state: .*' '${_mnt_log[$(realpath "$MNT")]}')\" ]]"
sleep 3   # a sweep after the listing
before_state=$(state) before_watches=$(inotify_watches)
note "before: $before_state; $before_watches inotify watches"

for i in $(seq 1 100); do
  mkdir -p "$SRC/d$i/e" "$SRC/m$i/e"
  for d in "$SRC/d$i" "$SRC/d$i/e" "$SRC/m$i/e"; do cp "$W/rec.mp4" "$d/r.mp4"; echo text >"$d/t.txt"; done
done
check "every directory is listed and read" bash -c "find '$MNT' -type f | wc -l | grep -qx 600 && find '$MNT' -type f -exec cat {} + | wc -c | grep -q ."
# The state log line is written by the sweep (every 2 s): wait for one that shows the growth,
# so that the one compared at the end was written after it.
grown() { [[ $(state) =~ ([0-9]+)\ watches ]] && ((BASH_REMATCH[1] > 100)); }
wait_until 10 grown || diag "no state line shows the directories in use"
grown_watches=$(inotify_watches)
note "while in use: $(state); $grown_watches inotify watches"
((grown_watches > before_watches + 300)) || diag "only $grown_watches watches while in use"

rm -rf "$SRC"/d*
for i in $(seq 1 100); do mv "$SRC/m$i" "$W/out/"; done
# The same figures, but listings: the root's is dropped too once idle (10 s).
figures() { sed 's/[0-9]* listings, //' <<<"$1"; }
back() { [[ $(figures "$(state)") == "$(figures "$before_state")" && $(inotify_watches) == "$before_watches" ]]; }
check "tables back to their level before within 30 s" wait_until 30 back
note "after: $(state); $(inotify_watches) inotify watches"
is "$(inotify_watches)" "$before_watches" "inotify watches back to $before_watches"
is "$(figures "$(state)")" "$(figures "$before_state")" "the state log line as before (listings aside)"
check "unmount" unmount_fs "$MNT"
