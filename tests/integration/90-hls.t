#!/usr/bin/env bash
# The live HLS view (issue 19): while ffmpeg records in real time (a fragmented MP4, and a
# Matroska file), NAME.m3u8 lists the settled segments of NAME.hls/ without #EXT-X-ENDLIST;
# ffmpeg follows the playlist from its first segment while the recorder writes and ends at
# #EXT-X-ENDLIST with exactly the frames of the finished recording's virtual MP4; GStreamer
# (souphttpsrc ! hlsdemux over nginx, which serves the mount) decodes every video frame of
# it; segment files read while the recording grew have the same bytes afterwards; listings
# show NAME.m3u8 and never NAME.hls.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
require_tool ffmpeg ffprobe nginx gst-launch-1.0 python3

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
SECS=8

plan 31
check "mount an empty SOURCE" mount_fs "$SRC" "$MNT" -o list_playlists || bail_out "cannot mount"
check "nginx serves the mount" start_nginx "$W/nginx" "$W" "location /media/ { alias $MNT/; open_file_cache off; types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; } add_header Cache-Control no-cache; }" ||
  bail_out "no nginx"

listed() { grep -c '\.m4s$' "$1" 2>/dev/null; }
has_segment() { [[ $(to 10 grep -c '\.m4s$' "$1" 2>/dev/null) -ge 2 ]]; }
ended() { to 10 grep -q '^#EXT-X-ENDLIST$' "$1"; }

# GStreamer: decoded video frames of an HLS URI, through hlsdemux.
gst_frames() {
  to 120 "$TIMING_PYTHON" - "$1" <<'EOF'
import sys
import gi
gi.require_version('Gst', '1.0')
from gi.repository import Gst, GLib
Gst.init(None)
p = Gst.parse_launch('souphttpsrc location=%s ! hlsdemux ! decodebin name=d' % sys.argv[1])
frames = [0]
def on_pad(d, pad):
    caps = pad.get_current_caps() or pad.query_caps(None)
    sink = Gst.ElementFactory.make('fakesink', None)
    sink.set_property('sync', False)
    p.add(sink)
    sink.sync_state_with_parent()
    if caps.get_structure(0).get_name().startswith('video/'):
        sink.set_property('signal-handoffs', True)
        sink.connect('handoff', lambda *a: frames.__setitem__(0, frames[0] + 1))
    pad.link(sink.get_static_pad('sink'))
p.get_by_name('d').connect('pad-added', on_pad)
loop = GLib.MainLoop()
problems = []
def on_message(bus, m):
    if m.type == Gst.MessageType.EOS:
        loop.quit()
    elif m.type in (Gst.MessageType.ERROR, Gst.MessageType.WARNING):
        problems.append(str(m.parse_error()[0] if m.type == Gst.MessageType.ERROR else m.parse_warning()[0]))
        if m.type == Gst.MessageType.ERROR:
            loop.quit()
bus = p.get_bus()
bus.add_signal_watch()
bus.connect('message', on_message)
p.set_state(Gst.State.PLAYING)
loop.run()
p.set_state(Gst.State.NULL)
print(frames[0])
if problems:
    print('\n'.join(problems), file=sys.stderr)
    sys.exit(1)
EOF
}

# follow NAME EXT RECORDER-OPTIONS...: records NAME.EXT in real time and follows NAME.m3u8.
follow() {
  local name=$1 ext=$2
  shift 2
  local pl=$MNT/$name.m3u8 copies=$W/seg-$name
  mkdir -p "$copies"
  ffmpeg -nostdin -hide_banner -v error -y -re -f lavfi -i "testsrc2=size=160x120:rate=25" \
    -re -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$SECS" -c:v libx264 -preset veryfast -bf 2 -g 25 \
    -pix_fmt yuv420p -c:a aac "$@" "$SRC/$name.$ext" </dev/null >"$W/$name.rec.log" 2>&1 &
  local rec=$!
  track_pid "$rec"
  check "$name: the playlist lists segments while the recorder writes" wait_until 30 has_segment "$pl"
  local live_text
  live_text=$(to 10 cat "$pl")
  if kill -0 "$rec" 2>/dev/null; then
    ok "$(grep -c ENDLIST <<<"$live_text")" "$name: no #EXT-X-ENDLIST while the recorder writes ($(grep -c '\.m4s$' <<<"$live_text") segments)"
  else
    skip 1 "$name: the recorder ended before the playlist was read"
  fi
  # ffmpeg follows the playlist from its first segment.
  ffmpeg -nostdin -v error -live_start_index 0 -i "$pl" -map 0 -f framemd5 "$W/$name.player.md5" \
    >"$W/$name.player.log" 2>&1 &
  local player=$!
  track_pid "$player"
  # Segment files as they are while the recording grows.
  local seg n=0
  for seg in $(grep '\.m4s$' <<<"$live_text") "$name.hls/init.mp4"; do
    to 30 cp "$MNT/$seg" "$copies/$(basename "$seg")" && n=$((n + 1))
  done
  local playing=1
  sleep 1
  kill -0 "$rec" 2>/dev/null && ! kill -0 "$player" 2>/dev/null && playing=0
  kill -0 "$rec" 2>/dev/null || playing=2
  if ((playing == 2)); then
    skip 1 "$name: the recorder ended before the player could be seen playing"
  else
    ok $((1 - playing)) "$name: ffmpeg is still playing while the recorder writes"
  fi
  wait "$rec"
  is "$?" 0 "$name: the recorder finished"
  check "$name: #EXT-X-ENDLIST once the recording has ended" wait_until 30 ended "$pl"
  to 180 tail --pid="$player" -f /dev/null
  wait "$player"
  local status=$?
  ok $((status != 0 || $(wc -c <"$W/$name.player.log") > 0)) "$name: ffmpeg played $name.m3u8 to its end with no message" ||
    diag_file "$W/$name.player.log"
  check "$name: its frames are the finished recording's" same_frames_md5 "$W/$name.player.md5" "$MNT/$name.mp4"
  local changed=0
  for seg in "$copies"/*; do
    cmp -s "$seg" "$MNT/$name.hls/$(basename "$seg")" || { changed=1; diag "  $(basename "$seg") changed"; }
  done
  ok $changed "$name: the $n files read while it grew have the same bytes now"
  local frames expected
  expected=$(to 120 ffprobe -v error -select_streams v -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$MNT/$name.mp4")
  frames=$(gst_frames "http://127.0.0.1:$NGINX_PORT/media/$name.m3u8" 2>"$W/$name.gst.log")
  is "$frames" "$expected" "$name: GStreamer's hlsdemux over nginx decodes every video frame" || diag_file "$W/$name.gst.log"
}

# same_frames_md5_of_playlist M3U8 FILE: ffmpeg decodes the playlist to FILE's frames.
same_frames_md5_of_playlist() {
  local err
  err=$(to 120 ffmpeg -nostdin -v error -y -i "$1" -map 0 -f framemd5 "$W/playlist.md5" 2>&1) || { echo "$err"; return 1; }
  [[ -z $err ]] || { echo "$err"; return 1; }
  same_frames_md5 "$W/playlist.md5" "$2"
}

# same_frames_md5 MD5 FILE: the framemd5 MD5 holds FILE's decoded frames, per stream.
same_frames_md5() {
  to 120 ffmpeg -nostdin -v error -y -i "$2" -map 0 -f framemd5 "$W/ref.md5" || return 1
  to 60 python3 "$MP4UTIL" framecmp same "$1" "$W/ref.md5" && echo "$(grep -vc '^#' "$1") frames equal"
}

follow live mp4 -movflags frag_keyframe+empty_moov -flush_packets 1 -f mp4
follow cam mkv -flush_packets 1 -cluster_time_limit 1000 -f matroska

# Generations: key frames at 0, 1, 2 and 9 s (a 7 s GOP, longer than the 6 s target), the
# source written in three steps, each closed (settled: #EXT-X-ENDLIST) before the next grows it.
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=160x120:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t 11 -c:v libx264 -preset veryfast -bf 2 -g 1000 -sc_threshold 0 -force_key_frames 0,1,2,9 -pix_fmt yuv420p \
  -c:a aac -movflags frag_keyframe+empty_moov -f mp4 "$W/gop.mp4" </dev/null || bail_out "ffmpeg failed"
cut2=$(python3 "$MP4UTIL" cut "$W/gop.mp4" 2 moof 0) cut3=$(python3 "$MP4UTIL" cut "$W/gop.mp4" 3 moof 0)
PL=$MNT/gop.m3u8
head -c "$cut2" "$W/gop.mp4" >"$SRC/gop.mp4"
lists() { to 10 grep -q "$1" "$PL"; }
check "generation 1: two segments of 1 s, target 6 s, #EXT-X-ENDLIST" wait_until 30 lists "^gop.hls/000001.m4s$"
g1=$(to 10 cat "$PL")
ok $(( $(grep -c '^#EXT-X-ENDLIST$' <<<"$g1") != 1 || $(grep -c '^#EXT-X-TARGETDURATION:6$' <<<"$g1") != 1 )) \
  "generation 1: #EXT-X-TARGETDURATION:6 and #EXT-X-ENDLIST" || diag "$g1"
to 10 cp "$MNT/gop.hls/000000.m4s" "$W/g1-000000.m4s"
tail -c +$((cut2 + 1)) "$W/gop.mp4" | head -c $((cut3 - cut2)) >>"$SRC/gop.mp4"
check "grown after #EXT-X-ENDLIST, with a 7 s GOP: the playlist moves to gop.hls/g2/" wait_until 30 lists "^gop.hls/g2/000002.m4s$"
g2=$(to 10 cat "$PL")
ok $(( $(grep -c '^#EXT-X-TARGETDURATION:7$' <<<"$g2") != 1 || $(grep -c '^#EXT-X-MAP:URI="gop.hls/g2/init.mp4"$' <<<"$g2") != 1 )) \
  "generation 2: its own init segment and #EXT-X-TARGETDURATION:7" || diag "$g2"
check "generation 2's first segment is generation 1's, byte for byte" cmp "$W/g1-000000.m4s" "$MNT/gop.hls/g2/000000.m4s"
gone() { ! to 10 cat "$MNT/gop.hls/000000.m4s" >/dev/null 2>&1; }
check "generation 1's names are gone" wait_until 10 gone
tail -c +$((cut3 + 1)) "$W/gop.mp4" >>"$SRC/gop.mp4"
check "grown again: generation 3" wait_until 30 lists "^gop.hls/g3/000003.m4s$"
check "ffmpeg plays generation 3 to its end with the recording's frames" same_frames_md5_of_playlist "$PL" "$MNT/gop.mp4"

names=$(to 10 ls -a "$MNT")
ok "$(grep -cE '\.hls$' <<<"$names")" "the listing shows no NAME.hls directory"
is "$(grep -cE '^(live|cam)\.m3u8$' <<<"$names")" 2 "the listing shows live.m3u8 and cam.m3u8"
stop_nginx
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
