#!/usr/bin/env bash
# Load: 32 concurrent readers (processes doing random-offset preads on open handles) on 20
# recordings, 10 of them growing (a small writer appends pre-made fragments of one recording
# in turn, as 10 recorders would), for LOAD_SECONDS (default 35).  Each reader opens a handle,
# does 20-100 random preads of 1 B-256 KiB on it, then reads the same handle whole,
# sequentially: every earlier read must be exactly that slice, and the handle's size must
# not have changed.  Meanwhile the daemon's VmRSS is sampled every 0.5 s; it must stay flat:
# growth from the end of the warm-up (5 s) to the end within 32 MiB, and over the second half
# within 16 MiB (ten times that under ASan, whose quarantine holds freed memory).  The early
# growth is libfuse's worker threads and their 1 MiB request buffers; the samples indexed
# meanwhile are reported.  Afterwards
# every growing recording is a valid MP4 and the sources are exactly what was written.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 10
: "${LOAD_SECONDS:=35}"

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W/frags"

record_ffmpeg "$W/full.mp4" --duration 40 --size 128x96 -- -frag_duration 250000 >"$W/rec.log" 2>&1 ||
  { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
record_ffmpeg "$W/other.mp4" --duration 8 --video-only >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
# init (everything before the first moof) and the fragments (moof + mdat) as files.
nfrag=$(python3 - "$W/full.mp4" "$W/frags" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
off, starts = 0, []
while off + 8 <= len(d):
    s, t = struct.unpack('>I4s', d[off:off + 8])
    if t == b'moof':
        starts.append(off)
    if t == b'mfra':
        break
    off += s
ends = starts[1:] + [off]
open(sys.argv[2] + '/init', 'wb').write(d[:starts[0]])
for i, (a, b) in enumerate(zip(starts, ends)):
    open('%s/%04d' % (sys.argv[2], i), 'wb').write(d[a:b])
print(len(starts))
PY
)
note "recording of $(stat -c %s "$W/full.mp4") bytes, $nfrag fragments"
for i in $(seq -w 0 9); do
  if ((10#$i % 2)); then cp "$W/full.mp4" "$SRC/settled-$i.mp4"; else cp "$W/other.mp4" "$SRC/settled-$i.mp4"; fi
  cat "$W/frags/init" "$W/frags/0000" "$W/frags/0001" >"$SRC/growing-$i.mp4"
done
(cd "$SRC" && sha256sum -- settled-*.mp4) >"$W/settled.sums"

check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"
pid=${_mnt_pid[$(realpath "$MNT")]}
samples() { local f t=0; for f in "$MNT"/growing-*.mp4; do t=$((t + $(to 10 getfattr --only-values -n user.livemp4.samples "$f" 2>/dev/null || echo 0))); done; echo $t; }
samples_before=$(samples)

out=$(python3 - "$MNT" "$SRC" "$W/frags" "$nfrag" "$LOAD_SECONDS" "$pid" "${LIVEMP4_SANITIZED:-0}" <<'PY' 2>&1
import hashlib, json, multiprocessing as mp, os, random, sys, threading, time
mnt, src, frags, nfrag, seconds, pid, sanitized = sys.argv[1:]
nfrag, seconds, pid = int(nfrag), float(seconds), int(pid)
growing = ['growing-%d.mp4' % i for i in range(10)]
files = growing + ['settled-%d.mp4' % i for i in range(10)]

def reader(k, deadline, q):
    r = random.Random(k)
    st = dict(handles=0, reads=0, bytes=0, mismatches=[], errors=[], growing_handles=0)
    while time.time() < deadline:
        name = r.choice(files)
        try:
            fd = os.open(os.path.join(mnt, name), os.O_RDONLY)
        except OSError as e:
            st['errors'].append('open %s: %s' % (name, e)); continue
        try:
            size = os.fstat(fd).st_size
            reads = []
            for _ in range(r.randrange(20, 101)):
                off = r.randrange(size + 1024)   # some past the end
                n = r.randrange(1, 262145)
                data = os.pread(fd, n, off)
                reads.append((off, len(data), hashlib.sha1(data).digest()))
                st['reads'] += 1
                st['bytes'] += len(data)
            whole = bytearray()
            while True:
                chunk = os.pread(fd, 1 << 20, len(whole))
                if not chunk:
                    break
                whole += chunk
            if len(whole) != size:
                st['mismatches'].append('%s: whole read %d bytes, fstat %d' % (name, len(whole), size))
            if os.fstat(fd).st_size != size:
                st['mismatches'].append('%s: fstat changed on the handle' % name)
            for off, n, h in reads:
                want = bytes(whole[off:off + n])
                if hashlib.sha1(want).digest() != h:
                    st['mismatches'].append('%s: pread(%d, %d) differs from the sequential read' % (name, n, off))
                    break
            st['handles'] += 1
            st['growing_handles'] += name.startswith('growing')
        except OSError as e:
            st['errors'].append('%s: %s' % (name, e))
        finally:
            os.close(fd)
    q.put(st)

def writer(deadline, stats):
    # Appends fragment 2, 3, ... to each growing file in turn, spread over the run.
    chunks = [open(os.path.join(frags, '%04d' % i), 'rb').read() for i in range(nfrag)]
    step = seconds / max(1, nfrag - 2)
    i = 2
    while i < nfrag and time.time() < deadline:
        for g in growing:
            with open(os.path.join(src, g), 'ab') as f:
                f.write(chunks[i])
            stats['appended'] += 1
        i += 1
        time.sleep(step)
    stats['fragments'] = i

def rss():
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0

start = time.time()
deadline = start + seconds
q = mp.Queue()
procs = [mp.Process(target=reader, args=(k, deadline, q)) for k in range(32)]
for p in procs:
    p.start()
wstats = dict(appended=0, fragments=0)
w = threading.Thread(target=writer, args=(deadline, wstats))
w.start()
samples = []
while time.time() < deadline:
    samples.append((time.time() - start, rss()))
    time.sleep(0.5)
results = [q.get(timeout=120) for _ in procs]
for p in procs:
    p.join()
w.join()
samples.append((time.time() - start, rss()))
warm = [kb for t, kb in samples if t >= 5] or [samples[-1][1]]
half = [kb for t, kb in samples if t >= seconds / 2] or [samples[-1][1]]
tot = dict(handles=0, reads=0, bytes=0, growing_handles=0)
mism, errs = [], []
for s in results:
    for k in tot:
        tot[k] += s[k]
    mism += s['mismatches']
    errs += s['errors']
limit = 320 * 1024 if sanitized == '1' else 32 * 1024
growth = warm[-1] - warm[0]
late_limit = limit // 2
print(json.dumps(dict(totals=tot, mismatches=mism[:5], n_mismatches=len(mism), errors=errs[:5], n_errors=len(errs),
                      rss_kb=dict(first=samples[0][1], after_warmup=warm[0], half=half[0], max=max(kb for t, kb in samples),
                                  end=warm[-1], growth=growth, limit=limit, late_growth=half[-1] - half[0],
                                  late_limit=late_limit),
                      writer=wstats, seconds=round(time.time() - start, 1))))
PY
)
status=$?
note "$out"
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$(tail -n 1 <<<"$out")" "$1" 2>/dev/null; }
is "$status" 0 "load driver ran ($LOAD_SECONDS s, 32 readers, 20 recordings, 10 growing)"
is "$(field n_mismatches)" 0 "$(field "totals['handles']") handles ($(field "totals['growing_handles']") on growing recordings), $(field "totals['reads']") random reads: each equals its handle's sequential read"
is "$(field n_errors)" 0 "no read or open failed ($(field errors))"
samples_after=$(samples)
growth=$(field "rss_kb['growth']") limit=$(field "rss_kb['limit']")
late=$(field "rss_kb['late_growth']") late_limit=$(field "rss_kb['late_limit']")
ok "$( [[ -n $growth && $growth -le $limit && $late -le $late_limit ]] && echo 0 || echo 1)" \
  "daemon VmRSS flat: $(field "rss_kb['after_warmup']") KiB after warm-up, $(field "rss_kb['half']") at half time, $(field "rss_kb['end']") at the end (max $(field "rss_kb['max']"); growth $growth KiB, limit $limit; second half $late KiB, limit $late_limit) while the growing recordings went from $samples_before to $samples_after samples"
check "the daemon is still up" daemon_alive "$MNT"
bad=""
for i in 0 5 9; do
  check_mp4 "$MNT/growing-$i.mp4" >"$W/check.$i" 2>&1 || bad+="growing-$i: $(head -3 "$W/check.$i"); "
done
is "$bad" "" "growing recordings are valid MP4s after the load"
frags_written=$(field "writer['fragments']")
exp_ok=0
cat "$W/frags/init" $(for ((k = 0; k < frags_written; k++)); do printf '%s/frags/%04d ' "$W" "$k"; done) >"$W/growing.expected"
for i in $(seq -w 0 9); do cmp -s "$W/growing.expected" "$SRC/growing-$i.mp4" || exp_ok=1; done
ok $exp_ok "growing sources hold exactly what the writer appended ($frags_written fragments)"
check "settled sources unchanged (sha256)" diff "$W/settled.sums" <(cd "$SRC" && sha256sum -- settled-*.mp4)
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
