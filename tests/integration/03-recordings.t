#!/usr/bin/env bash
# Finished fragmented-MP4 recordings appear as fast-start MP4s with the same frames, packets
# and timing as their source, the same bytes as `livemp4 export`, and the same bytes again
# after a remount.
source "$(dirname "$0")/../lib/common.sh"
require_fuse

# name: record_ffmpeg options
VARIANTS=(
  "av"
  "video --video-only"
  "dbm -- -movflags frag_keyframe+empty_moov+default_base_moof"
  "fragdur -- -frag_duration 200000"
  "video-fragdur --video-only -- -frag_duration 200000"
  "sepmoof -- -movflags frag_keyframe+empty_moov+separate_moof"
)
PER_VARIANT=11
plan $((${#VARIANTS[@]} * PER_VARIANT + 6))

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt OUT=$T/out
mkdir -p "$SRC" "$OUT"

names=()
for v in "${VARIANTS[@]}"; do
  read -r name opts <<<"$v"
  names+=("$name")
  # shellcheck disable=SC2086
  record_ffmpeg "$OUT/$name.mp4" $opts >"$OUT/$name.rec" 2>&1 || { cat "$OUT/$name.rec"; bail_out "recording $name failed"; }
  mv "$OUT/$name.mp4" "$SRC/$name.mp4"
  rm -f "$OUT/$name.mp4.log"
done

check "mount $SRC" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

for name in "${names[@]}"; do
  virt=$MNT/$name.mp4 src=$SRC/$name.mp4
  check "$name: virtual file is a valid fast-start MP4" check_mp4 "$virt"
  check "$name: same decoded frames as the source" same_frames "$src" "$virt"
  check "$name: same packets and timestamps as the source" same_packets "$src" "$virt"
  check "$name: same duration and start times as the source" same_timing "$src" "$virt"
  check "$name: same packets at the same times as the source, in ffprobe and GStreamer" same_timing_all "$src" "$virt"
  to 60 "$LIVEMP4" export "$src" "$OUT/$name.export" >"$OUT/$name.export.log" 2>&1
  check "$name: livemp4 export succeeds" test -s "$OUT/$name.export"
  check "$name: mounted file equals livemp4 export byte for byte" to 60 cmp "$OUT/$name.export" "$virt"
  to 60 cp "$virt" "$OUT/$name.copy1"
  is "$(file_size "$virt")" "$(stat -c %s "$OUT/$name.copy1")" "$name: stat size equals the bytes read"
  check "$name: a second read gives the same bytes" to 60 cmp "$OUT/$name.copy1" "$virt"
  check "$name: virtual file differs from its source (it was remuxed)" to 30 bash -c "! cmp -s '$src' '$virt'"
  packets=$(to 30 ffprobe -v error -show_entries packet=stream_index -of csv=p=0 "$src" | grep -c .)
  xattrs="$(xattr "$virt" user.livemp4.format 2>&1) $(xattr "$virt" user.livemp4.samples 2>&1)"
  is "$xattrs" "fmp4 $packets" "$name: user.livemp4.format and .samples are fmp4 and the source's packet count"
done

check "the mount lists exactly the source's names" \
  diff <(cd "$SRC" && ls -A | LC_ALL=C sort) <(cd "$MNT" && to 10 ls -A | LC_ALL=C sort)
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
check "remount $SRC" mount_fs "$SRC" "$MNT" || bail_out "cannot remount"
ok_all=0
for name in "${names[@]}"; do
  to 60 cmp "$OUT/$name.copy1" "$MNT/$name.mp4" || ok_all=1
done
ok $ok_all "after a remount every virtual file has the same bytes"
check "daemon exits cleanly after the second unmount" unmount_fs "$MNT"
