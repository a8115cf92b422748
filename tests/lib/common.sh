# tests/lib/common.sh — sourced by every integration test (bash, set -u).
#
# TAP:        plan N | plan_skip_all REASON | ok STATUS DESC | pass DESC | fail DESC
#             check DESC CMD...  (ok if CMD exits 0; its output becomes diag lines on failure)
#             is GOT WANT DESC | skip N REASON | diag MSG... (stderr) | note MSG... (stdout)
#             bail_out MSG | done_testing
#             The exit status is the number of failed tests (255 on a plan mismatch or an
#             unexpected exit, or if a mount or a process was left behind).
# Needs:      require_fuse | require_tool CMD[:PACKAGE]... | require_that DESC PACKAGE CMD...
#             (a missing tool fails the test; ALLOW_SKIP=1 skips it instead: see below)
# Fixtures:   make_tmp (prints a new directory under one per-test directory in ${TMPDIR:-/tmp},
#             removed on exit) | track_pid PID (killed on exit)
#             mount_fs SRC MNT [ARGS...] | unmount_fs MNT | daemon_alive MNT | daemon_log MNT
# Media:      record_ffmpeg OUT [OPTIONS] [-- FFMPEG OUTPUT OPTIONS]  (see below)
#             record_ffmpeg_bg OUT ...   (same, in the background; sets REC_PID)
#             check_mp4 FILE | same_frames SRC VIRT | frames_prefix A B
#             packets_prefix A B | same_timing SRC VIRT | seen_within LIMIT CMD...
#             wait_until SECONDS CMD...  (polls CMD every 0.05 s)
# Every external command runs under `timeout` (to SECONDS CMD...).
# Never call a bare `wait` in a test: the daemons are background jobs of the test's shell, so
# it would wait for them; wait for a pid (wait "$REC_PID").
#
# LIVEMP4FS and LIVEMP4 name the binaries (the Makefile exports them); they default to
# build/release/livemp4fs and build/release/livemp4 under the repository root.

set -u
set -o pipefail

TESTS_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TESTS_LIB/../.." && pwd)
: "${LIVEMP4FS:=$REPO_ROOT/build/release/livemp4fs}"
: "${LIVEMP4:=$REPO_ROOT/build/release/livemp4}"
: "${TEST_TIMEOUT:=60}"       # default bound for a single external command
MP4UTIL="$TESTS_LIB/mp4util.py"
TEST_NAME=$(basename "$0")

# ---------------------------------------------------------------- TAP -------

_tap_planned=""     # number of planned tests, or "" if none yet
_tap_run=0
_tap_failed=0
_tap_skip_all=0
_tap_done=0
_tap_extra_fail=0   # leftovers found at cleanup

plan() { _tap_planned=$1; echo "1..$1"; }

plan_skip_all() {
  _tap_skip_all=1
  _tap_planned=0
  echo "1..0 # SKIP $*"
  exit 0
}

diag() {
  local line
  while IFS= read -r line; do echo "# $line" >&2; done <<<"$*"
}

note() {
  local line
  while IFS= read -r line; do echo "# $line"; done <<<"$*"
}

# diag_file FILE [MAX_LINES]: FILE's lines as diag lines (the last MAX_LINES, default 200)
diag_file() {
  local file=$1 max=${2:-200} n
  [[ -s $file ]] || return 0
  n=$(wc -l <"$file")
  if ((n > max)); then
    diag "... ($((n - max)) earlier lines of $(basename "$file") left out)"
  fi
  tail -n "$max" "$file" | while IFS= read -r line; do echo "#   $line" >&2; done
}

# ok STATUS DESC: passes when STATUS is 0.
ok() {
  local status=$1; shift
  _tap_run=$((_tap_run + 1))
  if [[ $status == 0 ]]; then
    echo "ok $_tap_run - $*"
    return 0
  fi
  _tap_failed=$((_tap_failed + 1))
  echo "not ok $_tap_run - $*"
  # The line in the test script (skipping this library's frames).
  local i line=?
  for ((i = 0; i < ${#BASH_SOURCE[@]} - 1; i++)); do
    if [[ ${BASH_SOURCE[i + 1]} != "${BASH_SOURCE[0]}" ]]; then line=${BASH_LINENO[i]}; break; fi
  done
  diag "  Failed test '$*' ($TEST_NAME, line $line)"
  return 1
}

pass() { ok 0 "$@"; }
fail() { ok 1 "$@"; }

# check DESC CMD...: one test point for CMD's exit status; CMD's output is shown on failure.
check() {
  local desc=$1; shift
  local out status
  out=$(mktemp "${_tmp_root:-${TMPDIR:-/tmp}}/check.XXXXXX")
  "$@" >"$out" 2>&1
  status=$?
  ok "$status" "$desc"
  if ((status != 0)); then
    diag "  command: $* (exit $status)"
    diag_file "$out" 60
  fi
  rm -f "$out"
  return "$status"
}

# is GOT WANT DESC
is() {
  if [[ $1 == "$2" ]]; then
    ok 0 "$3"
  else
    ok 1 "$3"
    diag "  got:  '$1'" "  want: '$2'"
    return 1
  fi
}

skip() {
  local n=$1 i; shift
  for ((i = 0; i < n; i++)); do
    _tap_run=$((_tap_run + 1))
    echo "ok $_tap_run # skip $*"
  done
}

bail_out() {
  echo "Bail out! $*"
  _tap_failed=$((_tap_failed + 1))
  exit 255
}

done_testing() {
  _tap_done=1
  if [[ -z $_tap_planned ]]; then
    _tap_planned=$_tap_run
    echo "1..$_tap_run"
  fi
  exit 0   # the EXIT trap computes the real status
}

# ------------------------------------------------------------ cleanup -------

_tmp_root=""
declare -a _pids=()
declare -A _mnt_pid=() _mnt_log=() _mnt_status=()
declare -a _mnts=()

to() { local secs=$1; shift; timeout -k 5 "$secs" "$@"; }

_tmp_root=$(mktemp -d "${TMPDIR:-/tmp}/livemp4fs-test.XXXXXX") || { echo "Bail out! mktemp failed"; exit 255; }

make_tmp() { mktemp -d "$_tmp_root/tmp.XXXXXX"; }

track_pid() { _pids+=("$1"); }

# _stop_pid PID: TERM, wait up to 5 s, KILL, reap.
_stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# _fuse_unmount MNT: fusermount3 -u, a few tries (the mount may be busy for a moment), then -z.
_fuse_unmount() {
  local mnt=$1 i
  _is_mounted "$mnt" || return 0
  for ((i = 0; i < 20; i++)); do
    to 10 fusermount3 -u "$mnt" 2>/dev/null && return 0
    _is_mounted "$mnt" || return 0
    sleep 0.1
  done
  diag "$mnt still busy: lazy unmount"
  to 10 fusermount3 -u -z "$mnt" 2>/dev/null || to 10 umount -l "$mnt" 2>/dev/null
  return 1
}

# _is_mounted MNT: MNT appears in /proc/mounts (unlike `mountpoint`, this works when the
# daemon is dead and the mount reports ENOTCONN).
_is_mounted() {
  local mnt
  mnt=$(realpath -m "$1")
  awk -v m="$mnt" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

# _wait_daemon MNT SECS: waits for MNT's daemon to exit; records its exit status.
_wait_daemon() {
  local mnt=$1 secs=${2:-10} pid i status
  pid=${_mnt_pid[$mnt]:-}
  [[ -n $pid ]] || return 0
  for ((i = 0; i < secs * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    diag "daemon for $mnt (pid $pid) still running $secs s after unmount: killing it"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    _mnt_status[$mnt]="killed"
  else
    wait "$pid" 2>/dev/null
    status=$?
    _mnt_status[$mnt]=$status
  fi
  unset "_mnt_pid[$mnt]"
}

_cleanup() {
  local rc=$1 mnt pid leftover
  trap - EXIT INT TERM
  _restore_output
  # Recorders and helpers first (they may hold files in the mount open), then this shell's
  # own descriptors on files under the test directory (exec 3<MNT/file).
  for pid in "${_pids[@]}"; do _stop_pid "$pid"; done
  local fd target
  for fd in /proc/$$/fd/*; do
    target=$(readlink "$fd" 2>/dev/null) || continue
    fd=${fd##*/}
    if ((fd > 2)) && [[ -n $_tmp_root && $target == "$_tmp_root"/* ]]; then
      eval "exec $fd<&-"
    fi
  done
  for mnt in "${_mnts[@]}"; do
    if _fuse_unmount "$mnt"; then
      _wait_daemon "$mnt" 10
    else
      _wait_daemon "$mnt" 2   # lazily unmounted: someone still holds it; do not wait long
    fi
  done
  # Anything still mounted under the test directory is a leftover.
  if [[ -n $_tmp_root ]]; then
    leftover=$(awk -v r="$_tmp_root/" 'index($2, r) == 1 { print $2 }' /proc/mounts)
    if [[ -n $leftover ]]; then
      diag "mounts left behind: $leftover"
      _tap_extra_fail=1
      for mnt in $leftover; do to 10 fusermount3 -u -z "$mnt" 2>/dev/null || to 10 umount -l "$mnt"; done
    fi
  fi
  # Children left behind (background jobs of this shell).
  leftover=$(jobs -pr)
  if [[ -n $leftover ]]; then
    diag "processes left behind: $(echo $leftover)"
    for pid in $leftover; do _stop_pid "$pid"; done
  fi
  local failed=$_tap_failed
  if [[ $_tap_skip_all == 0 ]]; then
    if [[ -z $_tap_planned ]]; then
      diag "no plan: the test stopped early (exit $rc) after $_tap_run tests"
      failed=255
    elif ((_tap_run != _tap_planned)); then
      diag "planned $_tap_planned tests but ran $_tap_run (exit $rc)"
      failed=255
    fi
  fi
  ((_tap_extra_fail)) && failed=255
  if ((failed != 0)); then
    for mnt in "${_mnts[@]}"; do
      diag "daemon log for $mnt (exit status ${_mnt_status[$mnt]:-?}):"
      diag_file "${_mnt_log[$mnt]}" 300
    done
  fi
  if [[ -n $_tmp_root && -d $_tmp_root ]]; then
    rm -rf --one-file-system "$_tmp_root" 2>/dev/null || diag "could not remove $_tmp_root"
  fi
  ((failed > 255)) && failed=254
  exit "$failed"
}

# The test's own stdout and stderr: a signal may arrive while a function runs with its output
# redirected, and the cleanup must still report to prove.  Long-lived children do not get them.
exec {_tap_stdout}>&1 {_tap_stderr}>&2
_restore_output() { exec >&"$_tap_stdout" 2>&"$_tap_stderr"; }

trap '_cleanup $?' EXIT
trap '_restore_output; diag "interrupted"; exit 130' INT
trap '_restore_output; diag "terminated"; exit 143' TERM

# ------------------------------------------------------------ the daemon -----

# What a test needs and the machine lacks makes it fail, naming what is missing and its
# package: a run that passes has run every test.  `make check` installs packages.txt first.
# Only a partial run asked for explicitly, ALLOW_SKIP=1 (make check ALLOW_SKIP=1), skips such
# a test instead (and check.sh lists it at the end).
#
# require_tool CMD[:PACKAGE]...: every CMD is a command on PATH (or, if it starts with /, an
#             executable file); the package is TOOL_PACKAGE[CMD] unless given.  Call it before
#             `plan` (after it, a missing tool can only bail out).
# require_that DESC PACKAGE CMD...: as require_tool for anything CMD can test (CMD succeeds);
#             e.g. require_that "GStreamer's Python bindings" python3-gst-1.0 \
#                    python3 -c 'import gi; gi.require_version("Gst", "1.0")'
# require_fuse: /dev/fuse, fusermount3, ffmpeg, ffprobe, python3, mountpoint, and the daemon
#             (not built: the test fails, ALLOW_SKIP or not).
declare -A TOOL_PACKAGE=(
  [fusermount3]=fuse3 [ffmpeg]=ffmpeg [ffprobe]=ffmpeg [python3]=python3
  [mountpoint]=util-linux [fincore]=util-linux [getfattr]=attr [setfattr]=attr
  [rsync]=rsync [tar]=tar [bc]=bc [man]=man-db [fuser]=psmisc [pkill]=procps
  [gst-launch-1.0]=gstreamer1.0-tools [gst-inspect-1.0]=gstreamer1.0-tools
  [gst-discoverer-1.0]=gstreamer1.0-plugins-base-apps [mediainfo]=mediainfo
  [chromium]=chromium [/usr/bin/chromium]=chromium [nginx]=nginx [node]=nodejs [npm]=nodejs
  [firefox-esr]=firefox-esr [firefox]=firefox-esr [vlc]=vlc-bin [cvlc]=vlc-bin
  [smbd]=samba [smbclient]=smbclient
)

# _require_missing WHAT: the test fails (or, with ALLOW_SKIP=1, is skipped) for WHAT.
_require_missing() {
  local what=$1
  if [[ -n $_tap_planned ]]; then
    bail_out "$what (a requirement checked after the plan)"
  fi
  if [[ ${ALLOW_SKIP:-0} == 1 ]]; then
    [[ -n ${LIVEMP4FS_SKIPPED:-} ]] && echo "$TEST_NAME: $what" >>"$LIVEMP4FS_SKIPPED"
    plan_skip_all "$what (ALLOW_SKIP=1)"
  fi
  plan 1
  fail "$what"
  diag "  make check installs packages.txt (tools/install-deps.sh) first; a partial run that"
  diag "  skips the tests whose tools are missing: make check ALLOW_SKIP=1 (ALLOW_SKIP=1 prove ...)"
  exit 1
}

require_tool() {
  local t cmd pkg list=""
  for t in "$@"; do
    cmd=${t%%:*}
    pkg=${TOOL_PACKAGE[$cmd]:-}
    [[ $t == *:* ]] && pkg=${t#*:}
    if [[ $cmd == /* ]]; then
      [[ -x $cmd ]] && continue
    else
      command -v "$cmd" >/dev/null && continue
    fi
    list+="${list:+, }$cmd${pkg:+ (package $pkg)}"
  done
  [[ -z $list ]] || _require_missing "missing tool: $list"
}

require_that() {
  local desc=$1 pkg=$2
  shift 2
  "$@" >/dev/null 2>&1 || _require_missing "missing: $desc (package $pkg; \`$*\` failed)"
}

require_fuse() {
  [[ -e /dev/fuse ]] || _require_missing "no /dev/fuse: this machine cannot mount FUSE filesystems"
  require_tool fusermount3 ffmpeg ffprobe python3 mountpoint
  if [[ ! -x $LIVEMP4FS ]]; then
    plan 1
    fail "daemon binary $LIVEMP4FS exists (run make)"
    exit 1
  fi
}

# mount_fs SRC MNT [ARGS...]: starts "$LIVEMP4FS" SRC MNT -f ARGS in the background, waits
# (up to 10 s) for the mount; returns non-zero (with diag lines) if it does not appear.
mount_fs() {
  local src=$1 mnt=$2 i log pid
  shift 2
  mkdir -p "$mnt"
  mnt=$(realpath "$mnt")
  log="$_tmp_root/daemon${mnt//\//_}.log"
  echo "--- $LIVEMP4FS $src $mnt -f $*" >>"$log"
  # The index cache in the test's directory, never the user's (-o cache=, -o nocache after it win).
  "$LIVEMP4FS" "$src" "$mnt" -f -o cache="$_tmp_root/index-cache" "$@" >>"$log" 2>&1 {_tap_stdout}>&- {_tap_stderr}>&- &
  pid=$!
  _mnt_pid[$mnt]=$pid
  _mnt_log[$mnt]=$log
  [[ " ${_mnts[*]} " == *" $mnt "* ]] || _mnts+=("$mnt")
  for ((i = 0; i < 200; i++)); do
    if to 5 mountpoint -q "$mnt"; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      diag "daemon exited with status $? before mounting: $LIVEMP4FS $src $mnt -f $*"
      diag_file "$log" 50
      unset "_mnt_pid[$mnt]"
      return 1
    fi
    sleep 0.05
  done
  diag "$mnt did not appear within 10 s: $LIVEMP4FS $src $mnt -f $*"
  diag_file "$log" 50
  return 1
}

# unmount_fs MNT: unmounts and waits for the daemon; succeeds only if the mount went away and
# the daemon exited with status 0 (a crash or a sanitizer report makes it fail).
unmount_fs() {
  local mnt
  mnt=$(realpath -m "$1")
  if ! to 10 fusermount3 -u "$mnt"; then
    _fuse_unmount "$mnt"
  fi
  _wait_daemon "$mnt" 10
  if _is_mounted "$mnt"; then
    echo "$mnt is still mounted"
    return 1
  fi
  if [[ ${_mnt_status[$mnt]:-} != 0 ]]; then
    echo "daemon exit status: ${_mnt_status[$mnt]:-unknown}"
    tail -n 40 "${_mnt_log[$mnt]}"
    return 1
  fi
  return 0
}

# daemon_alive MNT: the daemon is running and MNT answers.
daemon_alive() {
  local mnt pid
  mnt=$(realpath -m "$1")
  pid=${_mnt_pid[$mnt]:-}
  if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
    echo "daemon for $mnt is not running"
    return 1
  fi
  to 10 mountpoint -q "$mnt" || { echo "$mnt is not a mountpoint"; return 1; }
  to 10 stat "$mnt" >/dev/null || return 1
}

daemon_log() { local mnt; mnt=$(realpath -m "$1"); cat "${_mnt_log[$mnt]}"; }

# ------------------------------------------------------------ recordings -----

# record_ffmpeg OUT [OPTIONS] [-- FFMPEG OUTPUT OPTIONS...]
#   --duration S    seconds of media (default 3)
#   --video-only    no audio track
#   --audio-only    no video track
#   --realtime      read the sources at their native rate (-re) and flush every fragment
#                   (-flush_packets 1): the file grows for S seconds
#   --size WxH      (default 160x120)   --rate FPS (default 25)   --gop N (default 25)
# Video is testsrc2 in H.264 (libx264, 2 B-frames), audio a sine in AAC.  The container is a
# fragmented MP4 with -movflags frag_keyframe+empty_moov unless the output options include
# -movflags.  ffmpeg's log goes to OUT.log.
record_ffmpeg() {
  _record_ffmpeg_cmd "$@" || return 2
  to "$_rec_timeout" "${_rec_cmd[@]}" </dev/null >"$_rec_out.log" 2>&1
  local status=$?
  if ((status != 0)); then
    echo "ffmpeg failed (exit $status): ${_rec_cmd[*]}"
    tail -n 20 "$_rec_out.log"
  fi
  return "$status"
}

# record_ffmpeg_bg: as record_ffmpeg, in the background; REC_PID is ffmpeg's pid (killed on
# exit).  The recorder is started directly (not under timeout) so that signals reach it.
REC_PID=""
record_ffmpeg_bg() {
  _record_ffmpeg_cmd "$@" || return 2
  "${_rec_cmd[@]}" </dev/null >"$_rec_out.log" 2>&1 {_tap_stdout}>&- {_tap_stderr}>&- &
  REC_PID=$!
  track_pid "$REC_PID"
}

_record_ffmpeg_cmd() {
  local out=$1 dur=3 video=1 audio=1 re=0 size=160x120 rate=25 gop=25
  shift
  while (($#)); do
    case $1 in
      --duration) dur=$2; shift 2 ;;
      --video-only) audio=0; shift ;;
      --audio-only) video=0; shift ;;
      --realtime) re=1; shift ;;
      --size) size=$2; shift 2 ;;
      --rate) rate=$2; shift 2 ;;
      --gop) gop=$2; shift 2 ;;
      --) shift; break ;;
      *) echo "record_ffmpeg: unknown option $1" >&2; return 2 ;;
    esac
  done
  local -a cmd=(ffmpeg -nostdin -hide_banner -v error -y)
  local -a in_opts=()
  ((re)) && in_opts=(-re)
  ((video)) && cmd+=("${in_opts[@]}" -f lavfi -i "testsrc2=size=$size:rate=$rate")
  ((audio)) && cmd+=("${in_opts[@]}" -f lavfi -i "sine=frequency=440:sample_rate=48000")
  cmd+=(-t "$dur")
  ((video)) && cmd+=(-c:v libx264 -preset veryfast -bf 2 -g "$gop" -pix_fmt yuv420p)
  ((audio)) && cmd+=(-c:a aac -b:a 64k)
  local arg has_movflags=0
  for arg in "$@"; do [[ $arg == -movflags ]] && has_movflags=1; done
  ((has_movflags)) || cmd+=(-movflags frag_keyframe+empty_moov)
  # Without this FFmpeg keeps everything in its 32 KiB I/O buffer and the file does not grow
  # while it records; a live recorder flushes every fragment.
  ((re)) && cmd+=(-flush_packets 1)
  cmd+=("$@" -f mp4 "$out")
  _rec_cmd=("${cmd[@]}")
  _rec_out=$out
  # Real time needs the duration plus a margin; otherwise encoding is quick.
  _rec_timeout=$((${dur%.*} * 2 + 30))
}

# ------------------------------------------------------------ checks ---------

# check_mp4 [-e] FILE: a fast-start MP4 (ftyp first, one moov before one mdat, boxes tiling
# the file, no fragments); ffprobe -v error prints nothing; a full decode prints nothing.
# With -e, a file without any track passes too (ffmpeg cannot decode a file with no stream:
# the decode is left out for it).
check_mp4() {
  local allow_empty=0
  [[ $1 == -e ]] && { allow_empty=1; shift; }
  local f=$1 out status=0
  if [[ ! -f $f ]]; then echo "$f: missing"; return 1; fi
  if ((allow_empty)) && [[ $(stream_count "$f") == 0 ]]; then
    to 60 python3 "$MP4UTIL" faststart "$f" || status=1
    out=$(to 60 ffprobe -v error -show_format -show_streams "$f" 2>&1 >/dev/null)
    [[ $? == 0 && -z $out ]] || { echo "ffprobe -v error $f: $out"; status=1; }
    return "$status"
  fi
  to 60 python3 "$MP4UTIL" faststart "$f" || status=1
  out=$(to 60 ffprobe -v error -show_format -show_streams "$f" 2>&1 >/dev/null)
  local rc=$?
  if ((rc != 0)) || [[ -n $out ]]; then
    echo "ffprobe -v error $f: exit $rc"; [[ -n $out ]] && echo "$out" | head -n 20
    status=1
  fi
  out=$(to 120 ffmpeg -nostdin -v error -i "$f" -map 0 -f null - 2>&1)
  rc=$?
  if ((rc != 0)) || [[ -n $out ]]; then
    echo "ffmpeg -v error -i $f -f null -: exit $rc"; [[ -n $out ]] && echo "$out" | head -n 20
    status=1
  fi
  return "$status"
}

# stream_count FILE: how many streams ffprobe finds.
stream_count() {
  to 30 ffprobe -v error -show_entries stream=index -of csv=p=0 "$1" 2>/dev/null | grep -c .
}

# _framemd5 FILE OUT [ffmpeg output options]: decoded frames (or packets with -c copy).
_framemd5() {
  local f=$1 out=$2 err
  shift 2
  err=$(to 120 ffmpeg -nostdin -v error -i "$f" -map 0 "$@" -f framemd5 - 2>&1 >"$out")
  local rc=$?
  if ((rc != 0)) || [[ -n $err ]]; then
    echo "ffmpeg framemd5 of $f: exit $rc"; echo "$err" | head -n 20
    return 1
  fi
}

# _framemd5_ref FILE OUT [options]: as _framemd5, cached by path, size, mtime and options;
# for the reference side of the prefix checks, which is often the same file many times.
_framemd5_ref() {
  local f=$1 out=$2 key cache
  shift 2
  key=$(printf '%s\n' "$f" "$(stat -c '%s %Y %i' "$f" 2>/dev/null)" "$*" | md5sum | cut -c1-16)
  cache=$_tmp_root/framemd5.$key
  if [[ ! -f $cache ]]; then
    _framemd5 "$f" "$cache.tmp" "$@" || { rm -f "$cache.tmp"; return 1; }
    mv "$cache.tmp" "$cache"
  fi
  cp "$cache" "$out"
}

# same_frames SRC VIRT: every stream decodes to the same frames (hash column of framemd5).
same_frames() {
  local d status
  d=$(make_tmp)
  _framemd5 "$1" "$d/a" && _framemd5 "$2" "$d/b" || return 1
  to 60 python3 "$MP4UTIL" framecmp same "$d/a" "$d/b"
  status=$?
  ((status == 0)) && echo "$(grep -vc '^#' "$d/a") frames equal"
  rm -rf "$d"
  return "$status"
}

# frames_prefix A B [REORDER]: A's decoded frames per stream are the first frames of B's.
# A cut in decode order may drop up to REORDER (default 2: the B-frames of the encoder
# settings above) frames among A's last ones; see mp4util.py.
frames_prefix() {
  local d status
  d=$(make_tmp)
  _framemd5 "$1" "$d/a" && _framemd5_ref "$2" "$d/b" || return 1
  to 60 python3 "$MP4UTIL" framecmp prefix "$d/a" "$d/b" "${3:-2}"
  status=$?
  ((status == 0)) && echo "$(grep -vc '^#' "$d/a") of $(grep -vc '^#' "$d/b") frames a prefix"
  rm -rf "$d"
  return "$status"
}

# packets_prefix A B: A's packets (stream copy) per stream are exactly B's first packets.
packets_prefix() {
  local d status
  d=$(make_tmp)
  _framemd5 "$1" "$d/a" -c copy && _framemd5_ref "$2" "$d/b" -c copy || return 1
  to 60 python3 "$MP4UTIL" framecmp prefix "$d/a" "$d/b" 0
  status=$?
  rm -rf "$d"
  return "$status"
}

# same_packets A B: the same packets (stream copy) with the same dts and pts.  Durations are
# left out: FFmpeg's demuxer reports the first and last durations of a fragmented file
# differently (N/A, the default) from what its trun boxes hold.
same_packets() {
  local d status=0
  d=$(make_tmp)
  _framemd5 "$1" "$d/a" -c copy && _framemd5 "$2" "$d/b" -c copy || return 1
  if ! diff <(grep -v '^#' "$d/a" | cut -d, -f1-3,5-) <(grep -v '^#' "$d/b" | cut -d, -f1-3,5-) >"$d/diff"; then
    echo "packets differ (stream, dts, pts, size, hash):"
    head -n 20 "$d/diff"
    status=1
  fi
  rm -rf "$d"
  return "$status"
}

# timing FILE: per stream, type, start_time and duration, as ffprobe prints them.  The format
# duration is not compared: for a fragmented source FFmpeg estimates it as the end of the last
# stream minus the start of the first, for an MP4 with an mvhd it reads the presentation's
# length from time zero, so a file whose first frame is shown at 80 ms reads 3.0 s as the
# source and 3.08 s as a plain MP4 for the same presentation.  same_timing compares where the
# presentation ends (the latest stream start + duration) instead.
timing() {
  to 60 ffprobe -v error -show_entries stream=index,codec_type,start_time,duration \
    -of compact=p=0 "$1"
}

# same_timing SRC VIRT: every stream's start_time and duration, and the presentation end, are equal.
# Exact by default (they are, as measured with ffmpeg 5.1); SAME_TIMING_TOLERANCE=0.001
# allows that many seconds of difference.
same_timing() {
  local a b
  a=$(timing "$1") || { echo "ffprobe $1 failed"; return 1; }
  b=$(timing "$2") || { echo "ffprobe $2 failed"; return 1; }
  to 60 python3 - "$a" "$b" "${SAME_TIMING_TOLERANCE:-0}" <<'EOF'
import sys
a, b, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
def parse(s):
    out = []
    for line in s.splitlines():
        out.append(dict(kv.split('=', 1) for kv in line.split('|')))
    return out
pa, pb = parse(a), parse(b)
def end(streams):
    ends = [float(x['start_time']) + float(x['duration']) for x in streams
            if x.get('start_time', 'N/A') != 'N/A' and x.get('duration', 'N/A') != 'N/A']
    return {'presentation_end': '%.6f' % max(ends)} if ends else {}
pa.append(end(pa))
pb.append(end(pb))
bad = []
if len(pa) != len(pb):
    bad.append('%d vs %d entries' % (len(pa), len(pb)))
for x, y in zip(pa, pb):
    for k in sorted(set(x) | set(y)):
        vx, vy = x.get(k), y.get(k)
        if vx == vy:
            continue
        try:
            if abs(float(vx) - float(vy)) <= tol:
                continue
        except (TypeError, ValueError):
            pass
        bad.append('%s: %s vs %s' % (k, vx, vy))
if bad:
    print('timing differs:\n' + a + '\n---\n' + b + '\n' + '\n'.join(bad))
    sys.exit(1)
EOF
}

# seen_within LIMIT CMD...: polls CMD every 0.02 s for up to 10 s; prints the seconds it took;
# fails if CMD never succeeded or took longer than LIMIT.
seen_within() {
  local limit=$1 start=$EPOCHREALTIME now
  shift
  while :; do
    if "$@" >/dev/null 2>&1; then
      now=$EPOCHREALTIME
      awk -v a="$start" -v b="$now" -v l="$limit" 'BEGIN { d = b - a; printf "%.2f s\n", d; exit !(d <= l) }'
      return
    fi
    now=$EPOCHREALTIME
    awk -v a="$start" -v b="$now" 'BEGIN { exit !(b - a < 10) }' || { echo "not within 10 s"; return 1; }
    sleep 0.02
  done
}

# wait_until SECONDS CMD...: polls CMD (every 0.05 s) until it succeeds; fails on timeout.
wait_until() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 20; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  "$@"
}

# xattr FILE NAME: the value of extended attribute NAME (e.g. user.livemp4.state).
xattr() { to 10 getfattr --absolute-names --only-values -n "$2" "$1"; }

# file_size FILE: st_size as stat(2) reports it.
file_size() { to 10 stat -c %s "$1"; }

sha256_tree() {
  (cd "$1" && to 60 find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# ------------------------------------------------------------ timing (two readers) ---------
# same_timing_all SRC VIRT [--tolerance S]: per stream, the same packets (data MD5 and
#             keyframe flags, in order) at the same presentation times (relative to each
#             file's start: A/V start offsets included) within S (default 0.0005 s for an MP4
#             source, 0.0015 s for Matroska, whose block times are milliseconds), and the same
#             presentation end within one packet, as ffprobe AND as GStreamer (qtdemux,
#             matroskademux) read them.  See tests/lib/timing.py.
# timing_prefix A B: A's packets are the first of B's per stream, at the same times, in both.
# same_packet_counts SRC VIRT: as many packets per stream (ffprobe's count).
# TIMING_PYTHON: a python3 with GStreamer's bindings (gi); found among python3 and
# /usr/bin/python3 (a pyenv or venv python3 first on PATH often lacks them).
TIMING_PY="$TESTS_LIB/timing.py"
export TIMING_CACHE="$_tmp_root/timing-cache"
if [[ -z ${TIMING_PYTHON:-} ]]; then
  for _p in python3 /usr/bin/python3; do
    if "$_p" -c 'import gi; gi.require_version("Gst", "1.0")' 2>/dev/null; then TIMING_PYTHON=$_p; break; fi
  done
  : "${TIMING_PYTHON:=python3}"
  unset _p
fi
timing_py() { to 600 "$TIMING_PYTHON" "$TIMING_PY" "$@"; }
same_timing_all() { timing_py compare "$@"; }
timing_prefix() { timing_py prefix "$@"; }
same_packet_counts() { timing_py counts "$@"; }
