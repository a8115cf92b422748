#!/usr/bin/env bash
# Installed like any FUSE filesystem: make install with DESTDIR and PREFIX, --help and
# --version, a man page that lists every option, and a mount from an fstab line through
# mount(8) and mount.fuse3 (fuse.livemp4fs), unmounted with umount.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
require_tool man
plan 14

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt ROOT=$T/root
mkdir -p "$SRC" "$MNT"
record_ffmpeg "$SRC/rec.mp4" --duration 2 >"$T/rec.log" 2>&1 || { cat "$T/rec.log"; bail_out "ffmpeg failed"; }
rm -f "$SRC/rec.mp4.log"

check "make install DESTDIR PREFIX=/usr" to 300 make -s -C "$REPO_ROOT" install DESTDIR="$ROOT" PREFIX=/usr
check "installed: daemon, tool, man page, systemd example" test -x "$ROOT/usr/bin/livemp4fs" -a -x "$ROOT/usr/bin/livemp4" \
  -a -f "$ROOT/usr/share/man/man1/livemp4fs.1" -a -f "$ROOT/usr/share/doc/livemp4fs/srv-mp4.mount"

# The binary under test (release or sanitizer build) stands in for the installed one, so
# mount.fuse3 finds it on PATH under the name fstab gives.
BIN=$T/bin
mkdir -p "$BIN"
ln -s "$LIVEMP4FS" "$BIN/livemp4fs"
export PATH="$BIN:$PATH"

check "--version names the version" bash -c 'livemp4fs --version | grep -q "^livemp4fs [0-9]"'
help=$(livemp4fs --help 2>&1)
ok $? "--help exits 0"
missing=()
for opt in settle keep_sources noinotify loglevel; do
  grep -q -- "$opt" <<<"$help" || missing+=("help:$opt")
  grep -q -- "$opt" "$ROOT/usr/share/man/man1/livemp4fs.1" || missing+=("man:$opt")
done
is "${missing[*]}" "" "every livemp4fs option is in --help and in the man page"
if command -v man >/dev/null; then
  check "the man page renders" bash -c "MANWIDTH=80 man -l '$ROOT/usr/share/man/man1/livemp4fs.1' | grep -q 'livemp4fs - show growing recordings'"
else
  skip 1 "man is not installed"
fi

# What fstab's "SRC MNT fuse.livemp4fs OPTS" runs: mount.fuse3 with type livemp4fs, which
# finds livemp4fs on PATH.  (mount(8) itself resets PATH, so it only finds an installed one.)
if to 30 mount.fuse3 "$SRC" "$MNT" -t livemp4fs -o ro,allow_other,settle=2 2>"$T/mount.err"; then
  m=$(realpath "$MNT")
  _mnts+=("$m")                    # unmounted by the harness if a check below fails
  _mnt_log[$m]=$T/mount.err
  pass "mount.fuse3 SOURCE MOUNTPOINT -t livemp4fs -o ro,allow_other,settle=2"
else
  fail "mount.fuse3 SOURCE MOUNTPOINT -t livemp4fs -o ro,allow_other,settle=2"
  diag_file "$T/mount.err" 20
fi
check "the recording is a valid fast-start MP4 through that mount" check_mp4 "$MNT/rec.mp4"
is "$(xattr "$MNT/rec.mp4" user.livemp4.format 2>/dev/null)" "fmp4" "status attributes through that mount"
check "umount MOUNTPOINT" to 30 umount "$MNT"

# A real fstab line (our own file, through mount -T, so /etc/fstab is left alone), naming the
# program by its path as fuse's "PROGRAM#SOURCE" form allows.
printf '%s#%s %s fuse ro,allow_other,settle=2 0 0\n' "$LIVEMP4FS" "$SRC" "$MNT" >"$T/fstab"
if to 30 mount -T "$T/fstab" "$MNT" 2>"$T/mount.err"; then
  pass "mount -T FSTAB MOUNTPOINT"
else
  fail "mount -T FSTAB MOUNTPOINT"
  diag_file "$T/mount.err" 20
fi
check "the recording is a valid fast-start MP4 through the fstab mount" check_mp4 "$MNT/rec.mp4"
check "umount MOUNTPOINT" to 30 umount "$MNT"
no_daemon() { ! pgrep -f -- "livemp4fs $SRC" >/dev/null; }
check "no livemp4fs left serving it" wait_until 10 no_daemon
done_testing
