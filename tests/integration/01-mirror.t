#!/usr/bin/env bash
# The mount mirrors SOURCE's tree: directories, nested files (byte for byte), symlinks (same
# target), and recordings in subdirectories shown as MP4s.
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 17

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt
mkdir -p "$SRC/a/b/c" "$SRC/empty-dir" "$SRC/dir with spaces"
printf 'hello\n' >"$SRC/top.txt"
: >"$SRC/a/empty"
head -c 300000 /dev/urandom >"$SRC/a/b/random.bin"
head -c 5000 /dev/urandom >"$SRC/a/b/c/deep.dat"
printf 'spaces\n' >"$SRC/dir with spaces/file name.txt"
printf 'unicode\n' >"$SRC/a/ünïcödé-ファイル.txt"
ln -s top.txt "$SRC/link-rel"
ln -s ../../top.txt "$SRC/a/b/link-up"
ln -s /nonexistent/target "$SRC/link-dangling"
ln -s a/b "$SRC/link-dir"
ln -s rec.mp4 "$SRC/a/link-to-rec"
record_ffmpeg "$SRC/a/rec.mp4" --duration 2 >"$T/rec.log" 2>&1 || { cat "$T/rec.log"; bail_out "ffmpeg failed"; }
rm -f "$SRC/a/rec.mp4.log"

check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

# Every path, with its type; regular files with their contents, symlinks with their target.
describe() {
  (cd "$1" && to 30 find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort)
}
check "same paths and types (d/f/l) in the mount" diff <(describe "$SRC") <(describe "$MNT")
for d in a a/b a/b/c empty-dir "dir with spaces"; do
  check "directory $d is a directory" to 10 test -d "$MNT/$d" -a ! -L "$MNT/$d"
done
ok_files=0
while IFS= read -r -d '' f; do
  [[ $f == ./a/rec.mp4 ]] && continue
  to 30 cmp "$SRC/$f" "$MNT/$f" || ok_files=1
  [[ $(stat -c %s "$SRC/$f") == $(file_size "$MNT/$f") ]] || { diag "size of $f differs"; ok_files=1; }
done < <(cd "$SRC" && find . -type f -print0)
ok $ok_files "plain files are mirrored byte for byte, with their sizes"
ok_links=0
for l in link-rel a/b/link-up link-dangling link-dir a/link-to-rec; do
  if [[ ! -L $MNT/$l ]]; then diag "$l is not a symlink in the mount"; ok_links=1; continue; fi
  [[ $(readlink "$SRC/$l") == "$(to 10 readlink "$MNT/$l")" ]] || { diag "$l: readlink differs"; ok_links=1; }
done
ok $ok_links "symlinks are symlinks with the same target (readlink)"
check "a relative symlink resolves inside the mount" to 30 cmp "$MNT/link-rel" "$SRC/top.txt"
check "a symlink to a directory resolves inside the mount" to 30 cmp "$MNT/link-dir/random.bin" "$SRC/a/b/random.bin"
check "a nested recording is a valid fast-start MP4" check_mp4 "$MNT/a/rec.mp4"
check "the nested recording has the source's frames" same_frames "$SRC/a/rec.mp4" "$MNT/a/rec.mp4"
check "a symlink to a recording reads the virtual file" to 30 cmp "$MNT/a/link-to-rec" "$MNT/a/rec.mp4"
check "an empty directory lists empty" test -z "$(to 10 ls -A "$MNT/empty-dir")"
check "a missing name is ENOENT" to 10 bash -c "stat '$MNT/no-such-file' 2>&1 | grep -q 'No such file'"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
