#!/usr/bin/env bash
# MPEG-TS recordings watched while they are written (issue 13): FFmpeg in real time with its
# default writes and with -flush_packets 1 (a write a packet), GStreamer's mpegtsmux from a
# live source killed with SIGKILL.  Every snapshot taken while they grow is a valid fast-start
# MP4 whose packets are the first of the finished recording's; settled, every packet of FFmpeg's
# -c copy remux (the last video frame of the killed one, cut short, may be held back) and the
# bytes of `livemp4 export`.
# Chromium plays the H.264 + AAC ones over HTTP from the mount.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM
require_tool gst-launch-1.0 "$CHROMIUM:chromium" nginx node npm

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
virtual() { echo "$MNT/${1%.*}.mp4"; }

plan 23
check "mount" mount_fs "$SRC" "$MNT" -o settle=2 || bail_out "cannot mount"

# like_remux prefix|same VIRT REF: per stream, VIRT's packets (data, keyframe, times) are REF's
# first (prefix), or all of REF's (same; a killed recorder's last video one may be missing).
packets() {
  to 60 ffprobe -v error -show_packets -show_data_hash MD5 \
    -show_entries packet=stream_index,pts_time,dts_time,flags,data_hash -of csv=p=0 "$1" |
    awk -F, '{ printf "%s %.4f %.4f %s %s\n", $1, $2, $3, substr($4, 1, 1), $5 }'
}
like_remux() {
  local mode=$1 d rc
  d=$(make_tmp)
  packets "$2" >"$d/v"
  packets "$3" >"$d/r"
  python3 - "$mode" "$d/v" "$d/r" <<'PY'
import sys
mode, v, r = sys.argv[1], open(sys.argv[2]).read().split('\n'), open(sys.argv[3]).read().split('\n')
def split(lines):
    out = {}
    for l in lines:
        if l: out.setdefault(l.split()[0], []).append(l)
    return out
V, R = split(v), split(r)
killed = 'killed' in sys.argv[3]
bad = []
for k in sorted(R):
    a, b = V.get(k, []), R[k]
    if mode == 'same' and not (a == b or (killed and a == b[:-1])):
        bad.append('stream %s: %d of %d packets, not all%s' % (k, len(a), len(b), ' (or all but the last)' if killed else ''))
    elif a != b[:len(a)]:
        bad.append('stream %s: the %d packets are not the first of the %d' % (k, len(a), len(b)))
print('; '.join(bad) if bad else ' '.join('%s:%d/%d' % (k, len(V.get(k, [])), len(R[k])) for k in sorted(R)))
sys.exit(1 if bad else 0)
PY
  rc=$?
  rm -rf "$d"
  return $rc
}

# watch NAME PID: while PID runs, snapshots of NAME every 0.7 s are copied aside.
watch() {
  local n=$1 pid=$2 i=0 v
  v=$(virtual "$n")
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.7
    [[ -e $v ]] && cp "$v" "$W/snap-$n-$i.mp4" 2>/dev/null && i=$((i + 1))
  done
  echo "$i"
}
# snapshots_ok NAME: every snapshot copied while NAME grew is valid and a prefix of the whole.
snapshots_ok() {
  local n=$1 s bad=0 count=0
  for s in "$W"/snap-"$n"-*.mp4; do
    [[ -e $s ]] || continue
    count=$((count + 1))
    if [[ $(stream_count "$s") == 0 ]]; then
      check_mp4 -e "$s" >/dev/null 2>&1 || { echo "$s: not a valid empty MP4"; bad=1; }
      continue
    fi
    check_mp4 "$s" >"$W/snap.log" 2>&1 || { echo "$s:"; cat "$W/snap.log"; bad=1; continue; }
    like_remux prefix "$s" "$W/$n.ref.mp4" >"$W/snap.log" 2>&1 || { echo "$s:"; cat "$W/snap.log"; bad=1; }
  done
  echo "$count snapshots"
  ((count >= 2 && bad == 0))
}

LAVFI=(-re -f lavfi -i testsrc2=size=640x480:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000)
to 60 ffmpeg -nostdin -hide_banner -v error -y "${LAVFI[@]}" -t 5 -c:v libx264 -preset veryfast -bf 2 -g 25 -b:v 3M \
  -c:a aac "$SRC/ff-live.ts" &
p1=$!
to 60 ffmpeg -nostdin -hide_banner -v error -y "${LAVFI[@]}" -t 5 -c:v libx264 -preset veryfast -bf 2 -g 25 -b:v 3M \
  -c:a aac -flush_packets 1 "$SRC/ff-flush.ts" &
p2=$!
gst-launch-1.0 -q -e videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 ! x264enc \
  tune=zerolatency key-int-max=25 ! h264parse ! queue ! mpegtsmux name=m ! filesink location="$SRC/gst-killed.ts" \
  audiotestsrc is-live=true ! audioconvert ! avenc_aac ! aacparse ! queue ! m. >/dev/null 2>&1 &
p3=$!
track_pid "$p3"
watch ff-live.ts "$p1" >"$W/n1" &
w1=$!
watch ff-flush.ts "$p2" >"$W/n2" &
w2=$!
watch gst-killed.ts "$p3" >"$W/n3" &
w3=$!
wait "$p1"
wait "$p2"
sleep 4
kill -KILL "$p3" 2>/dev/null
wait "$w1" "$w2" "$w3" 2>/dev/null

for n in ff-live.ts ff-flush.ts gst-killed.ts; do
  to 60 ffmpeg -nostdin -v error -y -i "$SRC/$n" -map 0 -c copy -movflags +faststart "$W/$n.ref.mp4" 2>/dev/null
done
state_is_settled() { [[ $(xattr "$1" user.livemp4.state 2>/dev/null) == settled ]]; }
for n in ff-live.ts ff-flush.ts gst-killed.ts; do
  v=$(virtual "$n")
  check "$n: every snapshot taken while it grew is valid and a prefix of the finished recording" snapshots_ok "$n"
  check "$n: settles once its writer is gone" wait_until 30 state_is_settled "$v"
  check "$n: a valid fast-start MP4 that decodes without error" check_mp4 "$v"
  check "$n: the packets of FFmpeg's remux, the last video frame too" like_remux same "$v" "$W/$n.ref.mp4"
  check "$n: its packets are the remux's first, at the same times, in ffprobe and GStreamer" \
    timing_prefix "$v" "$W/$n.ref.mp4"
  to 60 "$LIVEMP4" export "$SRC/$n" "$W/$n.export.mp4" >/dev/null 2>&1
  check "$n: the mount equals livemp4 export" cmp "$W/$n.export.mp4" "$v"
done

# --- Chromium plays the H.264 + AAC recordings over HTTP -------------------------------------
if require_node_modules >"$W/npm.log" 2>&1 &&
  start_nginx "$T/nginx" "$W" "location /media/ { alias $MNT/; }" >"$W/nginx.log" 2>&1; then
  pass "node modules (playwright-core) installed, nginx serves the mount"
else
  fail "node modules (playwright-core) installed, nginx serves the mount"
  diag_file "$W/npm.log"
  diag_file "$W/nginx.log"
fi
cp "$REPO_ROOT/tests/node/play.html" "$W/play.html"
for n in ff-live.ts gst-killed.ts; do
  v=$(virtual "$n")
  to 90 node "$NODE_DIR/play.mjs" "http://127.0.0.1:$NGINX_PORT/play.html?src=/media/${v##*/}&seek=1" 40000 \
    "$W/chromium-$n" >"$W/$n.play.json" 2>"$W/$n.play.log"
  verdict=$(python3 - "$W/$n.play.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    r = {'error': 'no result: %s' % e}
q = r.get('quality') or {}
ok = r.get('finished') == 'ended' and not r.get('error') and (q.get('total') or 0) > 0
print('%d|%s' % (ok, json.dumps(r)[:600]))
PY
)
  IFS='|' read -r played detail <<<"$verdict"
  ok $((played != 1)) "$n: Chromium plays it over HTTP to the end, decoding video frames" || diag "  $detail"
done
stop_nginx

check "daemon exits cleanly after unmount" unmount_fs "$MNT"
done_testing
