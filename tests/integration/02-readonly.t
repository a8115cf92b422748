#!/usr/bin/env bash
# Every modifying operation in the mount fails with EROFS, and SOURCE stays unchanged.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 7

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt
mkdir -p "$SRC/dir"
printf 'plain\n' >"$SRC/plain.txt"
printf 'nested\n' >"$SRC/dir/nested.txt"
ln -s plain.txt "$SRC/link"
record_ffmpeg "$SRC/rec.mp4" --duration 2 >"$T/rec.log" 2>&1 || { cat "$T/rec.log"; bail_out "ffmpeg failed"; }
rm -f "$SRC/rec.mp4.log"
before=$(sha256_tree "$SRC"; cd "$SRC" && find . -printf '%p %y %m %s %T@\n' | LC_ALL=C sort)

check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

# One line per operation and target: "EROFS <what>" or "WRONG <what>: <outcome>".
cat >"$T/ops.py" <<'PY'
import errno, os, sys
mnt = sys.argv[1]
def p(*a): return os.path.join(mnt, *a)
ops = []
for name in ('plain.txt', 'rec.mp4', 'dir/nested.txt'):
    f = p(name)
    ops += [
        ('open O_WRONLY ' + name, lambda f=f: os.close(os.open(f, os.O_WRONLY))),
        ('open O_RDWR ' + name, lambda f=f: os.close(os.open(f, os.O_RDWR))),
        ('open O_APPEND ' + name, lambda f=f: os.close(os.open(f, os.O_WRONLY | os.O_APPEND))),
        ('open O_TRUNC ' + name, lambda f=f: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC))),
        ('truncate ' + name, lambda f=f: os.truncate(f, 0)),
        ('chmod ' + name, lambda f=f: os.chmod(f, 0o777)),
        ('chown ' + name, lambda f=f: os.chown(f, 1, 1)),
        ('utime ' + name, lambda f=f: os.utime(f, (0, 0))),
        ('rename ' + name, lambda f=f: os.rename(f, f + '.renamed')),
        ('rename onto ' + name, lambda f=f: os.rename(p('plain.txt'), f) if not f.endswith('plain.txt') else os.rename(p('rec.mp4'), f)),
        ('unlink ' + name, lambda f=f: os.unlink(f)),
        ('link ' + name, lambda f=f: os.link(f, p('hardlink'))),
    ]
ops += [
    ('create new file', lambda: os.close(os.open(p('new.txt'), os.O_WRONLY | os.O_CREAT, 0o644))),
    ('create new file in dir', lambda: os.close(os.open(p('dir', 'new.txt'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))),
    ('mknod fifo', lambda: os.mkfifo(p('fifo'))),
    ('mkdir', lambda: os.mkdir(p('newdir'))),
    ('mkdir nested', lambda: os.mkdir(p('dir', 'newdir'))),
    ('rmdir', lambda: os.rmdir(p('dir'))),
    ('rename dir', lambda: os.rename(p('dir'), p('dir2'))),
    ('chmod dir', lambda: os.chmod(p('dir'), 0o700)),
    ('symlink', lambda: os.symlink('plain.txt', p('newlink'))),
    ('unlink symlink', lambda: os.unlink(p('link'))),
    ('rename symlink', lambda: os.rename(p('link'), p('link2'))),
    ('utime symlink (nofollow)', lambda: os.utime(p('link'), (0, 0), follow_symlinks=False)),
    ('chmod root', lambda: os.chmod(mnt, 0o700)),
]
for what, fn in ops:
    try:
        fn()
        print('WRONG %s: succeeded' % what)
    except OSError as e:
        if e.errno == errno.EROFS:
            print('EROFS %s' % what)
        else:
            print('WRONG %s: %s' % (what, errno.errorcode.get(e.errno, e.errno)))
# A write through a read-only handle must fail too (EBADF from the kernel is fine here).
fd = os.open(p('plain.txt'), os.O_RDONLY)
try:
    os.write(fd, b'x')
    print('WRONG write on O_RDONLY handle: succeeded')
except OSError as e:
    print('EROFS write on O_RDONLY handle refused (%s)' % errno.errorcode.get(e.errno))
os.close(fd)
PY
to 60 python3 "$T/ops.py" "$MNT" >"$T/ops.out" 2>&1
note "$(cat "$T/ops.out")"
check "every modifying operation fails with EROFS" bash -c "! grep -v '^EROFS' '$T/ops.out'"
check "$(grep -c '^EROFS' "$T/ops.out") operations tried" test "$(grep -c '^EROFS' "$T/ops.out")" -ge 40
check "shell redirection into the mount reports a read-only file system" \
  to 10 bash -c "{ echo x >'$MNT/plain.txt'; } 2>&1 | grep -q 'Read-only file system'"
check "the mount still serves the recording" check_mp4 "$MNT/rec.mp4"
after=$(sha256_tree "$SRC"; cd "$SRC" && find . -printf '%p %y %m %s %T@\n' | LC_ALL=C sort)
is "$after" "$before" "SOURCE is unchanged (sha256, names, modes, sizes, mtimes)"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
