#!/usr/bin/env bash
# A file rewritten in place (same inode, as `ffmpeg -y` or `cat >` do) is shown as what it is
# now, without a remount (issue 15): a 33-byte text file that becomes a fragmented MP4 is shown
# as that recording (the bytes of livemp4 export), a text file that becomes a Matroska
# recording NAME.mkv appears as NAME.mp4 (the original hidden), and a recording rewritten as
# text is shown as that text.  Each within a few seconds (the kernel keeps a plain file's name
# for a second, the daemon its directory listing for another).
source "$(dirname "$0")/../lib/common.sh"
require_fuse
plan 9

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC/d" "$W"
record_ffmpeg "$W/rec.mp4" --duration 2 -- -frag_duration 250000 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }
to 60 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine=sample_rate=48000 -t 2 \
  -c:v libx264 -preset veryfast -c:a aac "$W/rec.mkv" || bail_out "ffmpeg failed"
to 60 "$LIVEMP4" export "$W/rec.mp4" "$W/rec.virt" || bail_out "export failed"
to 60 "$LIVEMP4" export "$W/rec.mkv" "$W/mkv.virt" || bail_out "export failed"
printf 'this is a text file of 33 bytes.\n' >"$SRC/d/a.mp4"
printf 'this is a text file of 33 bytes.\n' >"$SRC/d/b.mkv"
cp "$W/rec.mp4" "$SRC/d/c.mp4"
[[ $(stat -c %s "$SRC/d/a.mp4") == 33 ]] || bail_out "the text file is not 33 bytes"

check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"
check "the text files are shown as they are" bash -c "cmp '$SRC/d/a.mp4' '$MNT/d/a.mp4' && cmp '$SRC/d/b.mkv' '$MNT/d/b.mkv'"
check "the recording is shown as a recording" cmp "$W/rec.virt" "$MNT/d/c.mp4"

ino_a=$(stat -c %i "$SRC/d/a.mp4") ino_c=$(stat -c %i "$SRC/d/c.mp4")
cat "$W/rec.mp4" >"$SRC/d/a.mp4"
cat "$W/rec.mkv" >"$SRC/d/b.mkv"
printf 'this is a text file of 33 bytes.\n' >"$SRC/d/c.mp4"
[[ $(stat -c %i "$SRC/d/a.mp4") == "$ino_a" && $(stat -c %i "$SRC/d/c.mp4") == "$ino_c" ]] || bail_out "rewritten with a new inode"

check "text rewritten as a fragmented MP4: shown as the recording" wait_until 5 cmp -s "$W/rec.virt" "$MNT/d/a.mp4"
check "text rewritten as Matroska: shown as NAME.mp4" wait_until 5 cmp -s "$W/mkv.virt" "$MNT/d/b.mp4"
check "... and the original hidden" wait_until 5 bash -c "! ls '$MNT/d' | grep -qx b.mkv"
check "a recording rewritten as text: shown as the text" wait_until 5 cmp -s "$SRC/d/c.mp4" "$MNT/d/c.mp4"
check "user.livemp4.state of the new recording" bash -c "[[ \$(getfattr --only-values -n user.livemp4.state '$MNT/d/a.mp4') == settled ]]"
check "unmount" unmount_fs "$MNT"
