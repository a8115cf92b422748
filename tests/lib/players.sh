# tests/lib/players.sh — helpers of the player tests (40-*.t onward): a small corpus of
# recordings, ffprobe references, tests/node's packages, known bugs.  Source it after common.sh.
#
#   make_corpus SRC      records every corpus entry into SRC (SRC/NAME.mp4, .mkv or .webm);
#                        returns non-zero (printing why) if a recording fails
#   corpus_virtual MNT NAME
#                        prints the virtual MP4 of NAME under MNT and succeeds if the daemon
#                        shows it as one (a Matroska/WebM source NAME.mkv is shown as
#                        NAME.mp4 once the daemon reads Matroska; until then it fails)
#   CORPUS               the names, in order
#   corpus_desc NAME     one line describing NAME
#   ffprobe_streams F    "index|codec_name|codec_type|nb_read_packets" per stream of F
#   ffprobe_duration F   the format duration of F, in seconds
#   require_node_modules installs tests/node's packages (npm ci) when they are missing
#   known_bug ID STATUS DESC
#                        a test point for a known bug: while KNOWN_BUGS[ID] is set it is
#                        printed as a TAP TODO ("not ok N - DESC # TODO reason"), which prove
#                        shows without failing the run (and reports as "TODO passed" once it
#                        passes); empty the entry to make it an ordinary test point again
#
# The entries: "av" (H.264 with B-frames + AAC, fragmented MP4), "video" (H.264 only),
# "audio" (AAC only), "fragdur" (fragments of 200 ms that do not start at key frames),
# "mkv" (Matroska, H.264 + AAC) and "webm" (WebM, VP9 + Opus).  Each lasts 3 s at 160x120.

CORPUS=(av video audio fragdur mkv webm)
NODE_DIR="$REPO_ROOT/tests/node"

corpus_desc() {
  case $1 in
    av) echo "fragmented MP4, H.264 with B-frames + AAC" ;;
    video) echo "fragmented MP4, H.264 only" ;;
    audio) echo "fragmented MP4, AAC only" ;;
    fragdur) echo "fragmented MP4, 200 ms fragments not aligned to key frames" ;;
    mkv) echo "Matroska, H.264 + AAC" ;;
    webm) echo "WebM, VP9 + Opus" ;;
    *) echo "$1" ;;
  esac
}

_corpus_source_name() {
  case $1 in
    mkv) echo mkv.mkv ;;
    webm) echo webm.webm ;;
    *) echo "$1.mp4" ;;
  esac
}

# _record_matroska OUT FORMAT VCODEC-OPTIONS... -- ACODEC-OPTIONS...
_record_matroska() {
  local out=$1 fmt=$2 err
  shift 2
  local -a v=() a=()
  while (($#)) && [[ $1 != -- ]]; do v+=("$1"); shift; done
  (($#)) && shift
  a=("$@")
  err=$(to 60 ffmpeg -nostdin -hide_banner -v error -y \
    -f lavfi -i "testsrc2=size=160x120:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -t 3 "${v[@]}" -pix_fmt yuv420p "${a[@]}" -f "$fmt" "$out" 2>&1 </dev/null)
  local rc=$?
  if ((rc != 0)); then
    echo "ffmpeg -f $fmt $out failed (exit $rc): $err"
    return 1
  fi
}

make_corpus() {
  local src=$1 name out
  mkdir -p "$src"
  for name in "${CORPUS[@]}"; do
    out="$src/$(_corpus_source_name "$name")"
    case $name in
      av) record_ffmpeg "$out" ;;
      video) record_ffmpeg "$out" --video-only ;;
      audio) record_ffmpeg "$out" --audio-only ;;
      fragdur) record_ffmpeg "$out" -- -frag_duration 200000 ;;
      mkv) _record_matroska "$out" matroska -c:v libx264 -preset veryfast -bf 2 -g 25 -- -c:a aac -b:a 64k ;;
      webm) _record_matroska "$out" webm -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 25 -b:v 200k \
              -- -c:a libopus -b:a 48k ;;
    esac || { echo "recording $name failed"; return 1; }
    rm -f "$out.log"
  done
}

corpus_virtual() {
  local mnt=$1 name=$2 f
  f="$mnt/$name.mp4"
  echo "$f"
  [[ -f $f ]]
}

ffprobe_streams() {
  to 60 ffprobe -v error -count_packets \
    -show_entries stream=index,codec_type,codec_name,nb_read_packets -of csv=p=0:s='|' "$1"
}

ffprobe_duration() {
  to 60 ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"
}

# require_node_modules: the packages in tests/node/package-lock.json, installed with
# `npm ci` if node_modules is missing or older than the lock file.  Prints why on failure.
require_node_modules() {
  command -v node >/dev/null || { echo "no node"; return 1; }
  command -v npm >/dev/null || { echo "no npm"; return 1; }
  if [[ -d $NODE_DIR/node_modules && $NODE_DIR/node_modules/.package-lock.json -nt $NODE_DIR/package-lock.json ]]; then
    return 0
  fi
  # npm ci removes node_modules first; a lock directory keeps two tests from racing on it.
  local lock="$NODE_DIR/.npm-ci.lock" i
  for ((i = 0; i < 1200; i++)); do
    mkdir "$lock" 2>/dev/null && break
    sleep 0.1
  done
  if [[ -d $NODE_DIR/node_modules && $NODE_DIR/node_modules/.package-lock.json -nt $NODE_DIR/package-lock.json ]]; then
    rmdir "$lock"
    return 0
  fi
  to 300 npm ci --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error </dev/null
  local rc=$?
  rmdir "$lock" 2>/dev/null
  return "$rc"
}

# Bugs the player tests found, by id.  Each is reported to the project; delete the entry once
# it is fixed and the test points that name it become ordinary ones.
declare -A KNOWN_BUGS=()

known_bug() {
  local id=$1 status=$2 reason
  shift 2
  reason=${KNOWN_BUGS[$id]:-}
  if [[ -z $reason ]]; then
    ok "$status" "$@"
    return
  fi
  _tap_run=$((_tap_run + 1))
  if [[ $status == 0 ]]; then
    echo "ok $_tap_run - $* # TODO known bug $id: $reason"
  else
    echo "not ok $_tap_run - $* # TODO known bug $id: $reason"
  fi
  return "$status"
}

# start_nginx DIR WWW [DIRECTIVES]: nginx on a free port of 127.0.0.1 (its config, logs and
# temporary files in DIR), serving WWW at / and, inside its server block, DIRECTIVES (more
# locations, e.g. "location /media/ { alias $MNT/; }").  The access log DIR/access.log has
# one line a request: "$msec $request_time $status $body_bytes_sent "$http_range"
# "$sent_http_content_range" $uri".  Sets NGINX_PORT and NGINX_PID (tracked: stopped on
# exit); returns non-zero, printing why, if nginx does not listen within 10 s.
NGINX_PORT="" NGINX_PID=""
start_nginx() {
  local dir=$1 www=$2 directives=${3:-} user_line=""
  mkdir -p "$dir/tmp"
  NGINX_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  [[ $(id -u) == 0 ]] && user_line="user root;"
  cat >"$dir/nginx.conf" <<NGX
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 64; }
http {
  types { text/html html; video/mp4 mp4; }
  default_type application/octet-stream;
  log_format ranges '\$msec \$request_time \$status \$body_bytes_sent "\$http_range" "\$sent_http_content_range" \$uri';
  access_log $dir/access.log ranges;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { root $www; }
    $directives
  }
}
NGX
  if ! to 10 nginx -t -q -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/t.log" 2>&1; then
    echo "nginx -t: bad configuration"; cat "$dir/t.log" "$dir/error.log"
    return 1
  fi
  nginx -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/stdout.log" 2>&1 \
    {_tap_stdout}>&- {_tap_stderr}>&- &
  NGINX_PID=$!
  track_pid "$NGINX_PID"
  _nginx_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null; }
  if ! wait_until 10 _nginx_listening; then
    echo "nginx does not listen on 127.0.0.1:$NGINX_PORT"; cat "$dir/error.log"
    return 1
  fi
  echo "nginx listens on 127.0.0.1:$NGINX_PORT"
}

# stop_nginx: stops the nginx of start_nginx (TERM, then waits for it).
stop_nginx() {
  [[ -n $NGINX_PID ]] || return 0
  _stop_pid "$NGINX_PID"
  NGINX_PID=""
}

