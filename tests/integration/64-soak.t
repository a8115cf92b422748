#!/usr/bin/env bash
# Soak (issue 15): a recorder loop creates, grows, renames and deletes fragmented MP4
# recordings in nested directories (up to 4 levels, created and removed as it goes) for
# SOAK_ITERATIONS steps (default 1500, about a minute here; `make soak` runs 10,000), while 8
# readers list the tree, open recordings, read them whole and check every byte: a handle's
# file must be exactly `livemp4 export` of the source prefix its snapshot was made from (the
# unlisted attribute user.livemp4.source_size names it; a file too short to classify yet is
# mirrored as it is, a prefix of the source).  At the end the recorder deletes all it made, so
# the tree is back at its starting state; within 30 s the daemon's open descriptors (but
# libfuse's splice pipes, two for each worker thread) and inotify watches are back at their
# starting level exactly, its table sizes (debug log "state: ...", listings and probes aside:
# an idle directory's go after 10 s) too, and its RSS within 16 MiB (160 MiB under ASan,
# whose quarantine holds freed memory).
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool getfattr
plan 10
: "${SOAK_ITERATIONS:=1500}"

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W/exports"
echo "a file that stays" >"$SRC/keep.txt"
record_ffmpeg "$W/full.mp4" --duration 8 --size 96x64 -- -frag_duration 200000 >"$W/rec.log" 2>&1 ||
  { cat "$W/rec.log"; bail_out "ffmpeg failed"; }

check "mount" mount_fs "$SRC" "$MNT" -o loglevel=debug || bail_out "cannot mount"
pid=${_mnt_pid[$(realpath "$MNT")]}
LOG=${_mnt_log[$(realpath "$MNT")]}
inotify_watches() {
  local fd n=0
  for fd in /proc/$pid/fd/*; do
    [[ $(readlink "$fd" 2>/dev/null) == "anon_inode:inotify" ]] || continue
    n=$((n + $(grep -c '^inotify wd:' "/proc/$pid/fdinfo/${fd##*/}")))
  done
  echo "$n"
}
# Descriptors other than libfuse's splice pipes, which it keeps two for each worker thread.
fds() { local fd n=0; for fd in /proc/$pid/fd/*; do [[ $(readlink "$fd" 2>/dev/null) == pipe:* ]] || n=$((n + 1)); done; echo $n; }
pipes() { local fd n=0; for fd in /proc/$pid/fd/*; do [[ $(readlink "$fd" 2>/dev/null) == pipe:* ]] && n=$((n + 1)); done; echo $n; }
threads() { ls "/proc/$pid/task" | wc -l; }
fd_list() { for fd in /proc/$pid/fd/*; do echo "${fd##*/} $(readlink "$fd")"; done; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
# The table sizes but listings and probes, which go when a directory is idle (10 s): the
# root's may or may not be there.
state() { grep -o 'state: .*' "$LOG" | tail -n 1 | sed 's/[0-9]* listings, //; s/[0-9]* probes, //'; }
# A warm-up round (libfuse's worker threads and buffers), then the starting level.
ls -R "$MNT" >/dev/null; cat "$MNT/keep.txt" >/dev/null
sleep 3    # a sweep after it
fd_list >"$W/fds.before"
before_fds=$(fds) before_watches=$(inotify_watches) before_rss=$(rss_kib) before_state=$(state)
note "start: $before_fds descriptors, $before_watches inotify watches, RSS $before_rss KiB, $before_state"

out=$(python3 - "$SRC" "$MNT" "$W" "$W/full.mp4" "$LIVEMP4" "$SOAK_ITERATIONS" <<'PY' 2>&1
import errno, os, random, shutil, struct, subprocess, sys, threading, time
src, mnt, work, full_path, tool, iterations = sys.argv[1:]
iterations = int(iterations)
full = open(full_path, 'rb').read()
# The fragments: everything before the first moof, then moof+mdat pairs.
off, starts = 0, []
while off + 8 <= len(full):
    size, kind = struct.unpack('>I4s', full[off:off + 8])
    if kind == b'moof':
        starts.append(off)
    if kind == b'mfra' or size < 8:
        break
    off += size
ends = starts[1:] + [off]
init = full[:starts[0]]
frags = [full[a:b] for a, b in zip(starts, ends)]
rng = random.Random(15)

# ---- the recorder ----------------------------------------------------------------------
recs = {}            # path relative to src -> fragments written
dirs = ['']
made = {'create': 0, 'grow': 0, 'rename': 0, 'delete': 0, 'mkdir': 0, 'rmdir': 0}
def new_dir():
    parent = rng.choice(dirs)
    if parent.count('/') >= 3:
        return parent
    d = (parent + '/' if parent else '') + 'd%d' % rng.randrange(1000)
    if d not in dirs:
        os.makedirs(os.path.join(src, d), exist_ok=True)
        dirs.append(d)
        made['mkdir'] += 1
    return d
def fresh_name(d):
    while True:
        p = (d + '/' if d else '') + 'r%d.mp4' % rng.randrange(100000)
        if p not in recs and not os.path.exists(os.path.join(src, p)):
            return p
def step():
    r = rng.random()
    if r < 0.15 or not recs:
        if len(recs) < 24:
            d = new_dir() if rng.random() < 0.3 else rng.choice(dirs)
            p = fresh_name(d)
            with open(os.path.join(src, p), 'wb') as f:
                f.write(init + frags[0])
            recs[p] = 1
            made['create'] += 1
            return
    if r < 0.75:
        p = rng.choice(list(recs))
        if recs[p] < len(frags):
            with open(os.path.join(src, p), 'ab') as f:
                f.write(frags[recs[p]])
            recs[p] += 1
            made['grow'] += 1
        return
    if r < 0.87:
        p = rng.choice(list(recs))
        q = fresh_name(rng.choice(dirs))
        os.rename(os.path.join(src, p), os.path.join(src, q))
        recs[q] = recs.pop(p)
        made['rename'] += 1
        return
    if r < 0.97:
        p = rng.choice(list(recs))
        os.unlink(os.path.join(src, p))
        del recs[p]
        made['delete'] += 1
        return
    for d in sorted(dirs, key=len, reverse=True):
        if d and not os.listdir(os.path.join(src, d)):
            os.rmdir(os.path.join(src, d))
            dirs.remove(d)
            made['rmdir'] += 1
            return

# ---- the readers ---------------------------------------------------------------------
stop = threading.Event()
lock = threading.Lock()
exports = {}         # source prefix length -> bytes of livemp4 export
stats = {'reads': 0, 'bytes': 0, 'checked': 0, 'vanished': 0, 'lists': 0}
problems = []
def export(n):
    with lock:
        if n in exports:
            return exports[n]
    tmp = os.path.join(work, 'exports', 'p%d-%d' % (n, threading.get_ident()))
    with open(tmp, 'wb') as f:
        f.write(full[:n])
    data = subprocess.run([tool, 'export', tmp, '-'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          check=True, timeout=60).stdout
    os.unlink(tmp)
    with lock:
        exports[n] = data
    return data
def reader(n):
    r = random.Random(n)
    while not stop.is_set():
        try:
            names = []
            for d, _, files in os.walk(mnt):
                names += [os.path.join(d, f) for f in files if f.endswith('.mp4')]
            with lock:
                stats['lists'] += 1
            if not names:
                time.sleep(0.01)
                continue
            path = r.choice(names)
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ESTALE):
                with lock:
                    stats['vanished'] += 1
                continue
            problems.append('%s: %s' % ('listing or open', e))
            continue
        try:
            size = os.fstat(fd).st_size
            try:
                source_size = int(os.getxattr(fd, 'user.livemp4.source_size'))
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
                source_size = None   # too short to tell what it is yet: mirrored as it is
            chunks = []
            while True:
                b = os.read(fd, r.choice([4096, 65536, 1 << 20]))
                if not b:
                    break
                chunks.append(b)
            data = b''.join(chunks)
        except OSError as e:
            problems.append('%s: read: %s' % (path, e))
            continue
        finally:
            os.close(fd)
        want = export(source_size) if source_size is not None else full[:len(data)]
        with lock:
            stats['reads'] += 1
            stats['bytes'] += len(data)
            if len(data) != size:
                problems.append('%s: read %d bytes, fstat says %d' % (path, len(data), size))
            elif data != want:
                problems.append('%s: %d bytes differ from livemp4 export of the first %d source bytes (%d bytes)'
                                % (path, len(data), source_size, len(want)))
            else:
                stats['checked'] += 1
threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
t0 = time.time()
for i in range(iterations):
    step()
    time.sleep(0.002)
    if problems:
        break
# Back to the starting state: every recording and directory the loop made is removed.
for p in list(recs):
    os.unlink(os.path.join(src, p))
for d in sorted(dirs, key=len, reverse=True):
    if d:
        shutil.rmtree(os.path.join(src, d))
took = time.time() - t0
time.sleep(1)
stop.set()
for t in threads:
    t.join()
print('%d steps in %.1f s: %s' % (iterations, took, ', '.join('%d %s' % (v, k) for k, v in made.items())))
print('readers: %(lists)d listings, %(reads)d files read (%(bytes)d bytes), %(checked)d equal to their export, '
      '%(vanished)d gone before they were opened' % stats, '(%d distinct source prefixes exported)' % len(exports))
for p in problems[:20]:
    print('PROBLEM', p)
sys.exit(1 if problems or stats['checked'] == 0 else 0)
PY
)
status=$?
note "$out"
ok $status "$SOAK_ITERATIONS recorder steps with 8 readers: every file read is exactly its snapshot's export"
is "$(ls -A "$SRC")" "keep.txt" "the source tree is back at its starting state"
check "the daemon is alive" daemon_alive "$MNT"
back() { [[ $(fds) == "$before_fds" && $(inotify_watches) == "$before_watches" && $(state) == "$before_state" ]]; }
wait_until 30 back
note "end: $(fds) descriptors, $(inotify_watches) inotify watches, RSS $(rss_kib) KiB, $(state)"
is "$(fds)" "$before_fds" "open descriptors back at the starting level" ||
  diag "$(fd_list | grep -v pipe: | diff <(grep -v pipe: "$W/fds.before") - )"
is "$(inotify_watches)" "$before_watches" "inotify watches back at the starting level"
p=$(pipes) n=$(threads)
ok $((p > 2 * n)) "libfuse's splice pipes: at most two a thread ($p pipes, $n threads)"
is "$(state)" "$before_state" "the daemon's tables back at the starting level"
margin=$((16 * 1024)); [[ ${LIVEMP4_SANITIZED:-0} == 1 ]] && margin=$((160 * 1024))
rss=$(rss_kib)
ok $((rss > before_rss + margin)) "RSS back within $((margin / 1024)) MiB of the start ($before_rss -> $rss KiB)"
check "unmount" unmount_fs "$MNT"
