#!/usr/bin/env bash
# Clean shutdown (issue 15).  While 32 readers (threads opening, reading whole and closing
# virtual recordings and plain files, and listing directories) keep the daemon busy, it is
# stopped three ways: a lazy unmount (fusermount3 -u -z: the mount is busy), SIGTERM and
# SIGINT.  Each time the daemon exits within a second of the last reader letting go (the
# unmount) or of the signal, with status 0, having joined every thread of its own (its last
# log line counts /proc/self/task: 1) and freed everything (under ASan: LeakSanitizer finds
# nothing, which ASAN_OPTIONS=detect_leaks=1 turns into a non-zero status).  Afterwards the
# mount is gone.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 13
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC/a/b" "$W"
record_ffmpeg "$W/rec.mp4" --duration 3 -- -frag_duration 250000 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
to 60 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine=sample_rate=48000 -t 3 \
  -c:v libx264 -preset veryfast -c:a aac "$W/rec.mkv" || bail_out "ffmpeg failed"
for i in 1 2 3 4; do
  cp "$W/rec.mp4" "$SRC/r$i.mp4"; cp "$W/rec.mp4" "$SRC/a/r$i.mp4"; cp "$W/rec.mkv" "$SRC/a/b/m$i.mkv"
done
echo "plain" >"$SRC/a/plain.txt"

# readers MNT SECONDS_BEFORE_READY_FILE: 32 reader threads in the background (READERS_PID);
# READY appears once every thread has read something.
readers() {
  python3 - "$1" "$W/ready" <<'PY' &
import os, sys, threading, time
mnt, ready = sys.argv[1:]
started = set()
lock = threading.Lock()
def reader(n):
    i = 0
    while True:
        try:
            names = []
            for d, _, files in os.walk(mnt):
                names += [os.path.join(d, f) for f in files]
            if not names:
                return
            p = names[(n + i) % len(names)]
            i += 1
            with open(p, 'rb') as f:
                while f.read(65536):
                    with lock:
                        started.add(n)
                    if len(started) == 32 and not os.path.exists(ready):
                        open(ready, 'w').close()
        except OSError:
            if not os.path.ismount(mnt):
                return
            time.sleep(0.01)
ts = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(32)]
for t in ts: t.start()
for t in ts: t.join()
PY
  READERS_PID=$!
  track_pid "$READERS_PID"
}

# stops_within MNT SECONDS: the daemon of MNT exits within SECONDS, with status 0, and says it
# has one thread left.
stops_within() {
  local mnt pid t0 i
  mnt=$(realpath "$1")
  pid=${_mnt_pid[$mnt]}
  t0=$(date +%s.%N)
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  local took; took=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "the daemon took $took s to exit"
  if kill -0 "$pid" 2>/dev/null; then
    echo "still running after 2 s"; return 1
  fi
  wait "$pid"; local status=$?
  unset "_mnt_pid[$mnt]"
  _mnt_status[$mnt]=$status
  ((status == 0)) || { echo "exit status $status"; daemon_log "$mnt" | tail -n 60; return 1; }
  daemon_log "$mnt" | tail -n 1 | grep -q "stopped: 1 thread(s) left" ||
    { echo "threads left:"; daemon_log "$mnt" | tail -n 5; return 1; }
  (($(echo "$took < $2" | bc))) || { echo "slower than $2 s"; return 1; }
}

# ---- lazy unmount while reading -----------------------------------------------------------
check "mount" mount_fs "$SRC" "$MNT" -o loglevel=info || bail_out "cannot mount"
rm -f "$W/ready"; readers "$MNT"
check "32 readers are reading" wait_until 30 test -e "$W/ready"
check "fusermount3 -u -z while they read" to 10 fusermount3 -u -z "$MNT"
check "the readers stop once the mount is gone" wait_until 10 bash -c "! kill -0 $READERS_PID 2>/dev/null"
check "the daemon then exits within a second: status 0, one thread, no leak" stops_within "$MNT" 1

# ---- SIGTERM and SIGINT while reading -----------------------------------------------------
# A background job of a script starts with SIGINT ignored, and libfuse leaves an ignored
# signal so: the daemon is started with SIGINT back at its default, as from a terminal.
cat >"$W/default-sigint" <<PY
#!/usr/bin/env python3
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv("$LIVEMP4FS", ["$LIVEMP4FS"] + sys.argv[1:])
PY
chmod +x "$W/default-sigint"
for sig in TERM INT; do
  daemon=$LIVEMP4FS; LIVEMP4FS=$W/default-sigint
  check "mount" mount_fs "$SRC" "$MNT" -o loglevel=info || bail_out "cannot mount"
  LIVEMP4FS=$daemon
  rm -f "$W/ready"; readers "$MNT"
  check "32 readers are reading" wait_until 30 test -e "$W/ready"
  kill -"$sig" "${_mnt_pid[$(realpath "$MNT")]}"
  check "SIG$sig: the daemon exits within a second: status 0, one thread, no leak" stops_within "$MNT" 1
  check "SIG$sig: the mount is gone" bash -c "! awk -v m=$(realpath "$MNT") '\$2 == m { f = 1 } END { exit !f }' /proc/mounts"
  _stop_pid "$READERS_PID"
done
