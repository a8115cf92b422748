#!/usr/bin/env bash
# Firefox (Debian's firefox-esr, headless, driven through its Marionette protocol by
# tests/lib/marionette.py) plays every virtual file of the player corpus, served by nginx
# straight from the mount with HTTP range requests, and a recording that is still growing.
#
# For each recording (the corpus of players.sh, every source format, and one more here: H.264
# + 44.1 kHz AAC, whose track timescales have a large least common multiple) the page below
# plays a muted <video> from the start for half a second, seeks one second before the end and
# plays to the end.  Checked: no media error and an `ended` event; videoWidth x videoHeight is
# ffprobe's (0 x 0 with no video); getVideoPlaybackQuality().totalVideoFrames > 0 before the
# seek (frames decoded from the start) and more after it (frames decoded from the seek
# target); the seek lands on its target and playback ends at `duration`; and `duration` is
# the recording's presentation end (ffprobe: the latest stream start + duration), of the
# virtual file and of the source, within one frame, or else the longest track's own length:
# Firefox's MP4 demuxer takes a track's duration from its media and leaves a leading empty
# edit out (a video track whose first frame is shown at 80 ms, B-frame delay, lasts 3.0 s for
# Firefox, not 3.08 s), exactly so for an MP4 that FFmpeg writes with the same edit list
# (`ffmpeg -i V.mp4 -c copy -output_ts_offset 0.08 -movflags +faststart`): that is Firefox's
# reading, not a fault of the file.
#
# The growing recording (ffmpeg in real time) is served through nginx's open_file_cache, so
# that every range request reads one open handle, i.e. one snapshot: it plays, seeks and ends
# at that snapshot's duration while the recorder goes on.
#
# Firefox's own decoders handle VP9 and Opus; H.264 and AAC go through the system libavcodec
# (Debian's build loads it): the first test point asks canPlayType about each codec, so a
# Firefox that cannot decode one fails here, not as a mysterious playback failure.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
FIREFOX=${FIREFOX:-/usr/bin/firefox-esr}
require_tool "$FIREFOX:firefox-esr" nginx

EXTRA=(av44k)          # recorded here, after the corpus
NAMES=("${CORPUS[@]}" "${EXTRA[@]}")
PER_FILE=5
plan $((${#NAMES[@]} * PER_FILE + 16))

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work WWW=$T/www NGX=$T/nginx PROFILE=$T/profile FFHOME=$T/home
mkdir -p "$SRC" "$W" "$WWW" "$PROFILE" "$FFHOME"
MARIONETTE="$TESTS_LIB/marionette.py"
PAGE_TIMEOUT=20

make_corpus "$SRC" >"$W/corpus.log" 2>&1 || { cat "$W/corpus.log"; bail_out "cannot record the corpus"; }
to 60 ffmpeg -nostdin -hide_banner -v error -y -f lavfi -i "testsrc2=size=160x120:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 3 -c:v libx264 -preset veryfast -bf 2 -g 25 \
  -pix_fmt yuv420p -c:a aac -b:a 64k -movflags frag_keyframe+empty_moov -f mp4 "$SRC/av44k.mp4" \
  </dev/null >"$W/av44k.log" 2>&1 || { cat "$W/av44k.log"; bail_out "cannot record av44k"; }
desc_of() {
  case $1 in
    av44k) echo "fragmented MP4, H.264 with B-frames + 44.1 kHz AAC" ;;
    *) corpus_desc "$1" ;;
  esac
}
source_of() {
  local f
  for f in "$SRC/$1".*; do echo "$f"; return; done
}
check "mount the corpus" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

# --- the page ------------------------------------------------------------------------
# play.html?src=URL&seek=S&lead=L: plays URL muted; once currentTime reaches L (or a quarter
# of the duration) it seeks to S before the end and plays to the end.  window.result holds
# what happened (updated on every event, so a page that never finishes still tells how far
# it got); document.title becomes "done" on `ended` or an error.
cat >"$WWW/play.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><title>playing</title></head>
<body>
<video id="v" muted preload="auto"></video>
<script>
'use strict';
const p = new URLSearchParams(location.search);
const v = document.getElementById('v');
const seekBefore = Number(p.get('seek') || 1), lead = Number(p.get('lead') || 0.5);
const r = window.result = { t0: Date.now(), src: p.get('src'), events: [] };
function frames() {
  const q = v.getVideoPlaybackQuality();
  r.frames = q.totalVideoFrames;
  r.dropped = q.droppedVideoFrames;
  r.currentTime = v.currentTime;
  r.buffered = [];
  for (let i = 0; i < v.buffered.length; i++) r.buffered.push([v.buffered.start(i), v.buffered.end(i)]);
  return q.totalVideoFrames;
}
function ev(e, extra) {
  r.events.push(Object.assign({ e, t: Date.now() - r.t0, ct: v.currentTime, frames: frames() }, extra || {}));
}
function finish(why) {
  if (r.finished) return;
  frames();
  r.finished = why;
  document.title = 'done';
}
v.addEventListener('loadedmetadata', () => {
  r.duration = v.duration;
  r.videoWidth = v.videoWidth;
  r.videoHeight = v.videoHeight;
  ev('loadedmetadata');
});
v.addEventListener('durationchange', () => ev('durationchange', { duration: v.duration }));
v.addEventListener('playing', () => ev('playing'));
v.addEventListener('waiting', () => ev('waiting'));
v.addEventListener('error', () => {
  r.error = v.error ? `code ${v.error.code}: ${v.error.message}` : 'unknown error';
  ev('error');
  finish('error');
});
v.addEventListener('timeupdate', () => {
  frames();
  if (r.seekTarget === undefined && v.currentTime >= Math.min(lead, v.duration / 4)) {
    r.playedTo = v.currentTime;
    r.framesBeforeSeek = frames();
    r.seekTarget = Math.max(0, v.duration - seekBefore);
    ev('seeking', { target: r.seekTarget });
    v.currentTime = r.seekTarget;
  }
});
v.addEventListener('seeked', () => {
  if (r.seeked === undefined) {
    r.seeked = v.currentTime;
    r.framesAtSeeked = frames();
    ev('seeked');
  }
});
v.addEventListener('ended', () => {
  r.ended = v.currentTime;
  r.durationAtEnd = v.duration;
  ev('ended');
  finish('ended');
});
v.src = r.src;
v.play().catch((e) => { r.playError = String(e); ev('play-rejected'); });
</script>
</body></html>
HTML

# --- nginx ---------------------------------------------------------------------------
check "nginx serves the mount" start_nginx "$NGX" "$WWW" "
    location /media/ { alias $MNT/; }
    # The growing recording: one open handle (one snapshot) for every range request.
    location /live/ {
      alias $MNT/;
      open_file_cache max=16 inactive=120s;
      open_file_cache_valid 120s;
    }" || bail_out "no nginx"
BASE="http://127.0.0.1:$NGINX_PORT"

# --- Firefox -------------------------------------------------------------------------
MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$PROFILE/user.js" <<EOF
user_pref("marionette.port", $MPORT);
user_pref("app.update.enabled", false);
user_pref("app.update.auto", false);
user_pref("app.update.checkInstallTime", false);
user_pref("app.normandy.enabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.startup.page", 0);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("startup.homepage_welcome_url", "about:blank");
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.sessionstore.resume_from_crash", false);
user_pref("media.autoplay.default", 0);
EOF
# Under timeout (as `to` does, but started directly so that $! is timeout's pid), which makes
# itself the leader of a new process group: on a timeout or when the cleanup stops it, every
# process Firefox started in that group gets the signal too.
HOME=$FFHOME XDG_CACHE_HOME=$FFHOME/cache MOZ_CRASHREPORTER_DISABLE=1 \
  timeout -k 5 900 "$FIREFOX" --marionette --headless --no-remote -profile "$PROFILE" about:blank \
  </dev/null >"$W/firefox.log" 2>&1 {_tap_stdout}>&- {_tap_stderr}>&- &
FF_PID=$!
track_pid "$FF_PID"
marionette_up() { (exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null; }
check "Firefox listens for Marionette on 127.0.0.1:$MPORT" wait_until 60 marionette_up ||
  { diag_file "$W/firefox.log" 40; bail_out "Firefox did not start"; }
FF_MAIN=$(pgrep -P "$FF_PID" | head -n 1)

# The codecs of the corpus, as Firefox here decodes them.
codecs_script='
const done = arguments[arguments.length - 1];
const v = document.createElement("video");
const t = { h264: "video/mp4; codecs=\"avc1.64000d\"", aac: "audio/mp4; codecs=\"mp4a.40.2\"",
            vp9: "video/mp4; codecs=\"vp09.00.10.08\"", opus: "audio/mp4; codecs=\"opus\"" };
const out = {};
for (const k in t) out[k] = v.canPlayType(t[k]);
out.userAgent = navigator.userAgent;
done(out);'
to 90 python3 "$MARIONETTE" "$MPORT" eval "$BASE/play.html?src=" "$codecs_script" 60 \
  >"$W/codecs.json" 2>"$W/codecs.log"
python3 - "$W/codecs.json" >"$W/codecs.verdict" 2>&1 <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print('no answer: %s' % e); sys.exit(1)
print(r.get('userAgent'))
bad = [k for k in ('h264', 'aac', 'vp9', 'opus') if r.get(k) not in ('probably', 'maybe')]
print('canPlayType: %s' % {k: r.get(k) for k in ('h264', 'aac', 'vp9', 'opus')})
sys.exit(1 if bad else 0)
EOF
status=$?
ok $status "Firefox can play H.264, AAC, VP9 and Opus in MP4 (canPlayType)" ||
  { diag_file "$W/codecs.verdict"; diag_file "$W/codecs.log" 20; }
note "$(cat "$W/codecs.verdict")"

# play NAME URI: plays $BASE/URI in Firefox; the page's result in $W/NAME.json, Marionette's
# log in $W/NAME.log, nginx's log of the playback in $W/NAME.access.log.
play() {
  local name=$1 uri=$2 rc
  : >"$NGX/access.log"
  to $((PAGE_TIMEOUT + 60)) python3 "$MARIONETTE" "$MPORT" page "$BASE/play.html?src=/$uri&seek=1&lead=0.5" \
    "$PAGE_TIMEOUT" >"$W/$name.json" 2>"$W/$name.log"
  rc=$?
  cp "$NGX/access.log" "$W/$name.access.log"
  return "$rc"
}

# presentation_end FILE: the latest (start_time + duration) of FILE's streams, per ffprobe
# (the format duration where no stream has one: Matroska).
presentation_end() {
  local e
  e=$(to 60 ffprobe -v error -show_entries stream=start_time,duration -of csv=p=0 "$1" |
    awk -F, '$1 != "N/A" && $2 != "N/A" { e = $1 + $2; if (e > m) m = e } END { if (m > 0) printf "%.6f", m }')
  [[ -n $e ]] || e=$(ffprobe_duration "$1")
  echo "$e"
}

# longest_track FILE: the largest stream duration of FILE, per ffprobe.
longest_track() {
  to 60 ffprobe -v error -show_entries stream=duration -of csv=p=0 "$1" |
    awk '$1 != "N/A" { if ($1 + 0 > m) m = $1 + 0 } END { printf "%.6f", m }'
}

# video_info FILE: "WIDTH HEIGHT FRAME_SECONDS" of the first video stream, or "0 0
# FRAME_SECONDS" of the first audio stream (1024 samples of AAC, 20 ms of Opus).
video_info() {
  local w h rate codec sr
  IFS=, read -r w h rate < <(to 30 ffprobe -v error -select_streams v:0 \
    -show_entries stream=width,height,avg_frame_rate -of csv=p=0 "$1")
  if [[ -n ${w:-} ]]; then
    awk -v w="$w" -v h="$h" -v r="$rate" 'BEGIN { split(r, a, "/"); printf "%d %d %.6f\n", w, h, a[2] / a[1] }'
    return
  fi
  IFS=, read -r codec sr < <(to 30 ffprobe -v error -select_streams a:0 \
    -show_entries stream=codec_name,sample_rate -of csv=p=0 "$1")
  case ${codec:-} in
    opus) echo "0 0 0.020000" ;;
    *) awk -v s="${sr:-48000}" 'BEGIN { printf "0 0 %.6f\n", 1024 / s }' ;;
  esac
}

# verdicts NAME WIDTH HEIGHT FRAME DURATION SOURCE_DURATION LONGEST_TRACK: the checks of one
# playback, one line each, "STATUS|DESCRIPTION|DETAIL" (STATUS 0 = pass).
verdicts() {
  python3 - "$W/$1.json" "$2" "$3" "$4" "$5" "$6" "$7" <<'EOF'
import json, sys
path, w, h, frame, dur, src_dur, longest = sys.argv[1:]
w, h, frame, dur, src_dur, longest = int(w), int(h), float(frame), float(dur), float(src_dur), float(longest)
try:
    r = json.load(open(path)) or {}
except Exception as e:
    r = {'error': 'no result: %s' % e}
def out(ok, desc, detail=''):
    print('%d|%s|%s' % (0 if ok else 1, desc, str(detail).replace('\n', ' ')))
evs = []
for e in r.get('events', []):
    s = '%s@%.3f(%s)' % (e['e'], e['ct'], e.get('frames'))
    if evs and evs[-1][0] == e['e']:
        evs[-1][1] += 1
        evs[-1][2] = s
    else:
        evs.append([e['e'], 1, s, s])
ev = ' '.join(x[3] if x[1] == 1 else '%s ...(%d times)... %s' % (x[3], x[1], x[2]) for x in evs)
ev += ' [events: (name)@currentTime(totalVideoFrames)]'
err = r.get('error') or r.get('playError')
out(not err and r.get('finished') == 'ended', 'plays with no media error to the `ended` event',
    'error=%s finished=%s currentTime=%s frames=%s buffered=%s events: %s'
    % (err, r.get('finished'), r.get('currentTime'), r.get('frames'), r.get('buffered'), ev))
out(r.get('videoWidth') == w and r.get('videoHeight') == h,
    'videoWidth x videoHeight is ffprobe\'s %dx%d' % (w, h),
    'got %sx%s' % (r.get('videoWidth'), r.get('videoHeight')))
fb, fe = r.get('framesBeforeSeek'), r.get('frames')
if w:
    out(fb is not None and fb > 0 and fe is not None and fe > fb,
        'video frames decoded from the start (totalVideoFrames > 0 at %.1f s) and after the seek (more at the end)'
        % (r.get('playedTo') or 0),
        'totalVideoFrames before the seek %s (at currentTime %s), at the end %s; events: %s'
        % (fb, r.get('playedTo'), fe, ev))
else:
    out(r.get('playedTo') is not None and (fe or 0) == 0,
        'no video: audio played from the start (currentTime reached %s s), totalVideoFrames 0' % r.get('playedTo'),
        'totalVideoFrames %s; events: %s' % (fe, ev))
s, tgt, e, d = r.get('seeked'), r.get('seekTarget'), r.get('ended'), r.get('duration')
out(s is not None and tgt is not None and abs(s - tgt) <= frame and e is not None and d is not None
    and abs(e - d) <= frame,
    'seeks 1 s before the end and plays from there to the end (ended at duration, within %.3f s)' % frame,
    'seek target %s, seeked at %s, ended at %s, duration %s; events: %s' % (tgt, s, e, d, ev))
out(d is not None and ((abs(d - dur) <= frame and abs(d - src_dur) <= frame) or abs(d - longest) <= frame),
    'duration is the presentation end (virtual file %.6f s, source %.6f s) or the longest track (%.6f s), '
    'per ffprobe, within %.3f s' % (dur, src_dur, longest, frame), 'Firefox: %s' % d)
EOF
}

report() {
  local name=$1 status desc detail
  while IFS='|' read -r status desc detail; do
    ok "$status" "$name: $desc" || diag "  $detail"
  done
}

# play_and_check NAME URI FILE SOURCE: one playback and its PER_FILE test points.
play_and_check() {
  local name=$1 uri=$2 file=$3 src=$4 w h frame dur sdur longest
  play "$name" "$uri" || diag "  marionette.py page: exit $? (1: the page did not finish within $PAGE_TIMEOUT s)" \
    "$(sed 's/^/  /' "$W/$name.log")"
  read -r w h frame < <(video_info "$file")
  dur=$(presentation_end "$file")
  sdur=$(presentation_end "$src")
  longest=$(longest_track "$file")
  verdicts "$name" "${w:-0}" "${h:-0}" "${frame:-0.04}" "${dur:-0}" "${sdur:-0}" "${longest:-0}" >"$W/$name.verdicts"
  report "$name" <"$W/$name.verdicts"
  [[ $(cut -d'|' -f1 "$W/$name.verdicts" | sort -u) == 0 ]] ||
    diag "  nginx: $(wc -l <"$W/$name.access.log") requests; result: $(head -c 3000 "$W/$name.json")"
}

# --- 1. every recording --------------------------------------------------------------
for name in "${NAMES[@]}"; do
  desc="$name ($(desc_of "$name"))"
  if ! virt=$(corpus_virtual "$MNT" "$name"); then
    for ((i = 0; i < PER_FILE; i++)); do fail "$desc: shown as an MP4"; done
    continue
  fi
  play_and_check "$desc" "media/$name.mp4" "$virt" "$(source_of "$name")"
done

# --- 2. a growing recording ----------------------------------------------------------
LIVE_SECONDS=12
record_ffmpeg_bg "$SRC/live.mp4" --realtime --duration $LIVE_SECONDS --size 320x240 || bail_out "cannot start ffmpeg"
live_pid=$REC_PID
long_enough() { local d; d=$(xattr "$MNT/live.mp4" user.livemp4.duration 2>/dev/null) && awk -v d="$d" 'BEGIN { exit !(d >= 4) }'; }
check "the growing recording reaches 4 s in the mount" wait_until 30 long_enough
kill -0 "$live_pid" 2>/dev/null
ok $? "the recorder is still running when Firefox opens the growing recording"
: >"$NGX/access.log"
play live live/live.mp4
rc=$?
# nginx still holds the handle it opened (open_file_cache): fetch that snapshot again, to
# compare with what the page saw.
to 30 python3 -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())' \
  "$BASE/live/live.mp4" "$W/live-snapshot.mp4" || diag "cannot fetch /live/live.mp4 again"
kill -0 "$live_pid" 2>/dev/null
still_recording=$?
((rc == 0)) || diag "  marionette.py page: exit $rc" "$(sed 's/^/  /' "$W/live.log")"
check "the snapshot nginx served is a valid fast-start MP4" check_mp4 "$W/live-snapshot.mp4"
read -r w h frame < <(video_info "$W/live-snapshot.mp4")
live_dur=$(presentation_end "$W/live-snapshot.mp4")
verdicts live "${w:-0}" "${h:-0}" "${frame:-0.04}" "${live_dur:-0}" "${live_dur:-0}" \
  "$(longest_track "$W/live-snapshot.mp4")" >"$W/live.verdicts"
report "live (growing, snapshot of ${live_dur:-?} s)" <"$W/live.verdicts"
ok $still_recording "the recorder was still running after the playback (snapshot of ${live_dur:-?} s of $LIVE_SECONDS)"

# Which libavcodec Firefox's processes decoded H.264 and AAC with (Debian's build loads the
# system's; Firefox's own decoders are for VP9 and Opus).
avc=$(for p in $(pgrep -g "$FF_PID"); do grep -o '/[^ ]*libavcodec[^ ]*' "/proc/$p/maps" 2>/dev/null; done | sort -u | paste -sd' ' -)
note "Firefox's processes have mapped: ${avc:-no libavcodec}"

# --- cleanup -------------------------------------------------------------------------
to 20 python3 "$MARIONETTE" "$MPORT" quit 2>>"$W/quit.log"
ff_exited() { ! kill -0 "$FF_PID" 2>/dev/null; }
if wait_until 30 ff_exited; then
  wait "$FF_PID" 2>/dev/null
  pass "Firefox quits when asked (Marionette:Quit)"
else
  fail "Firefox quits when asked (Marionette:Quit)"
  _stop_pid "$FF_PID"
fi
# Firefox's processes share the process group of timeout (its leader, $FF_PID), but for its
# crash helper, which detaches into a group of its own ("crashhelper FIREFOX_PID ...") and
# goes when Firefox goes.
ff_left() {
  local p cmd
  pgrep -g "$FF_PID" -a && return 0
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    [[ -n $FF_MAIN && $cmd == */crashhelper" $FF_MAIN "* ]] && { echo "${p#/proc/} $cmd"; return 0; }
  done
  return 1
}
ff_gone() { ! ff_left; }
if check "no Firefox process is left (process group $FF_PID, crash helper of $FF_MAIN)" wait_until 20 ff_gone; then :; else
  kill -KILL -- "-$FF_PID" 2>/dev/null
fi
wait "$live_pid"
note "the live recording finished: $(ffprobe_duration "$SRC/live.mp4") s"
stop_nginx
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
