#!/usr/bin/env bash
# The mount shared over SMB: Samba's smbd, started by the test on 127.0.0.1 (a free port) with
# a private smb.conf and its own pid, lock, state, cache, private and log directories in the
# test's temporary directory, shares the mount point to guests; smbclient reads it.
#  - every recording of the player corpus (players.sh: every source format), settled, is
#    listed with the size stat() gives and copied byte for byte as the mount shows it;
#  - a recording that is still growing, copied three times while the recorder writes, is each
#    time a valid fast-start MP4 whose packets are the first packets of the finished
#    recording (one SMB open is one FUSE open, so one snapshot), and the copies grow;
#  - a directory of 600 recordings (copies of two small recordings, 1 s each) is listed in
#    full and copied in one smbclient session (recurse, mget), every file identical to the
#    mount's.
# The share's settings are the ones README.md's "Serving over SMB" gives: no oplocks and no
# leases (a client holding one may cache a file's data across opens, and Samba cannot tell it
# that a recording grew: the change happens in the source, under FUSE, where the kernel has no
# leases to break), nothing that stores metadata on the read-only mount.
# smbd runs as root (it must, to become the guest account, `nobody`, for file access), so the
# mount is made with -o allow_other and the test's directories are opened to others.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
require_tool smbd smbclient
[[ $(id -u) == 0 ]] || _require_missing "root privileges (smbd runs as root to switch to the guest account)"

N_MANY=600
plan $((${#CORPUS[@]} + 22))

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work S=$T/samba C=$T/client
mkdir -p "$SRC/many" "$W" "$S"/{run,lock,state,cache,private,ncalrpc,log} "$C"/{lock,state,cache,private}
chmod 711 "$(dirname "$T")" "$T"

# --- the recordings --------------------------------------------------------------------
make_corpus "$SRC" >"$W/corpus.log" 2>&1 || { cat "$W/corpus.log"; bail_out "cannot record the corpus"; }
# Two small recordings (1 s, 64x48; one with audio), copied under 600 names.
record_ffmpeg "$W/small-av.mp4" --duration 1 --size 64x48 >"$W/small.log" 2>&1 &&
  record_ffmpeg "$W/small-v.mp4" --duration 1 --size 64x48 --video-only >>"$W/small.log" 2>&1 ||
  { cat "$W/small.log"; bail_out "cannot record the small recordings"; }
for ((i = 0; i < N_MANY; i++)); do
  if ((i % 2)); then cp "$W/small-av.mp4" "$SRC/many/rec-$i.mp4"; else cp "$W/small-v.mp4" "$SRC/many/rec-$i.mp4"; fi
done
touch -d '1 minute ago' "$SRC"/*.* "$SRC"/many/*   # settled at once (settle=2)

check "mount with -o allow_other,settle=2" mount_fs "$SRC" "$MNT" -o allow_other,settle=2 || bail_out "cannot mount"

# --- smbd --------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$S/smb.conf" <<EOF
[global]
  server role = standalone server
  smb ports = $PORT
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  server min protocol = SMB2_10
  pid directory = $S/run
  lock directory = $S/lock
  state directory = $S/state
  cache directory = $S/cache
  private dir = $S/private
  ncalrpc dir = $S/ncalrpc
  log file = $S/log/log.%m
  max log size = 0
  log level = 1
  map to guest = Bad User
  guest account = nobody
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes

[rec]
  path = $MNT
  read only = yes
  guest ok = yes
  guest only = yes
  oplocks = no
  level2 oplocks = no
  smb2 leases = no
  kernel oplocks = no
  strict locking = no
  posix locking = no
  store dos attributes = no
  vfs objects =
EOF
cat >"$C/smb.conf" <<EOF
[global]
  client min protocol = SMB2_10
  lock directory = $C/lock
  state directory = $C/state
  cache directory = $C/cache
  private dir = $C/private
  log level = 1
EOF
check "testparm accepts the smb.conf" to 30 testparm -s "$S/smb.conf"
# Under timeout (as `to`, but started directly so that $! is its pid), which leads a process
# group of its own: smbd's children (one per connection, notifyd, cleanupd) stay in it.
timeout -k 5 600 smbd --foreground --no-process-group --debug-stdout -s "$S/smb.conf" \
  </dev/null >"$S/smbd.out" 2>&1 {_tap_stdout}>&- {_tap_stderr}>&- &
SMBD_PID=$!
track_pid "$SMBD_PID"
smb_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
check "smbd listens on 127.0.0.1:$PORT" wait_until 30 smb_listening || { diag_file "$S/smbd.out"; bail_out "no smbd"; }

# smb CMDS: runs smbclient's commands CMDS on //127.0.0.1/rec as a guest.
smb() {
  to 120 smbclient "//127.0.0.1/rec" -p "$PORT" -N -s "$C/smb.conf" -c "$1"
}
# smb_get PATH OUT: copies PATH of the share to OUT.
smb_get() {
  local out
  out=$(smb "get \"$1\" \"$2\"" 2>&1)
  local rc=$?
  if ((rc != 0)) || [[ $out == *NT_STATUS* ]] || [[ ! -f $2 ]]; then
    echo "smbclient get $1: exit $rc: $out"
    return 1
  fi
}
# smb_sizes DIR: "NAME SIZE" of the files smbclient lists in DIR of the share, sorted.
smb_sizes() {
  smb "ls \"$1\\*\"" | awk '$2 ~ /^[A-Z]+$/ && $2 !~ /D/ && $3 ~ /^[0-9]+$/ { print $1, $3 }' | LC_ALL=C sort
}
mnt_sizes() {
  (cd "$1" && to 60 find . -maxdepth 1 -type f -printf '%f %s\n') | LC_ALL=C sort
}

# --- 1. the corpus, settled ----------------------------------------------------------------
settled() { [[ $(xattr "$MNT/$1" user.livemp4.state) == settled ]]; }
all_settled() {
  local name
  for name in "${CORPUS[@]}"; do settled "$name.mp4" || return 1; done
}
check "the corpus recordings are settled (settle=2)" wait_until 30 all_settled
smb_sizes "" >"$W/ls.smb" 2>"$W/ls.err"
mnt_sizes "$MNT" >"$W/ls.mnt"
check "smbclient lists the mount's files with the sizes stat() gives" diff "$W/ls.mnt" "$W/ls.smb"
mkdir -p "$W/corpus"
for name in "${CORPUS[@]}"; do
  desc="$name ($(corpus_desc "$name"))"
  if ! virt=$(corpus_virtual "$MNT" "$name"); then
    fail "$desc: shown as an MP4"
    continue
  fi
  if smb_get "$name.mp4" "$W/corpus/$name.mp4" >"$W/corpus/$name.log" 2>&1 &&
     cmp "$virt" "$W/corpus/$name.mp4" >>"$W/corpus/$name.log" 2>&1; then
    pass "$desc: copied over SMB, byte for byte the mount's ($(stat -c %s "$virt") bytes)"
  else
    fail "$desc: copied over SMB, byte for byte the mount's"
    diag_file "$W/corpus/$name.log"
  fi
done

# --- 2. a growing recording ------------------------------------------------------------------
LIVE_SECONDS=10
record_ffmpeg_bg "$SRC/live.mp4" --realtime --duration $LIVE_SECONDS --size 320x240 || bail_out "cannot start ffmpeg"
live_pid=$REC_PID
reaches() { local d; d=$(xattr "$MNT/live.mp4" user.livemp4.duration 2>/dev/null) && awk -v d="$d" -v w="$1" 'BEGIN { exit !(d >= w) }'; }
declare -a live_copies=()
live_ok=0
for want in 2 4 6; do
  if ! wait_until 30 reaches "$want"; then
    diag "the growing recording did not reach $want s in the mount"
    continue
  fi
  kill -0 "$live_pid" 2>/dev/null || { diag "the recorder ended before the copy at $want s"; continue; }
  f=$W/live-$want.mp4
  if smb_get live.mp4 "$f" >"$W/live-$want.log" 2>&1; then
    live_copies+=("$f")
    kill -0 "$live_pid" 2>/dev/null && live_ok=$((live_ok + 1))
  else
    diag_file "$W/live-$want.log"
  fi
done
is "${#live_copies[@]} $live_ok" "3 3" "three copies of the growing recording over SMB, each with the recorder still running after it"
sizes=""
for f in "${live_copies[@]}"; do sizes+="$(stat -c %s "$f") "; done
awk -v s="$sizes" 'BEGIN { n = split(s, a, " "); if (n < 3) exit 1; for (i = 2; i <= n; i++) if (a[i] + 0 <= a[i - 1] + 0) exit 1 }'
ok $? "the copies grow: ${sizes% } bytes"
wait "$live_pid"
ok $? "the recorder finished"
check "the finished recording settles" wait_until 30 settled live.mp4
check "the finished recording copied over SMB is byte for byte the mount's" \
  eval 'smb_get live.mp4 "$W/live-final.mp4" && cmp "$MNT/live.mp4" "$W/live-final.mp4"'
for i in 0 1 2; do
  f=${live_copies[i]:-$W/missing-copy-$i.mp4}
  if check "copy $((i + 1)) of the growing recording is a valid fast-start MP4" check_mp4 "$f"; then
    check "copy $((i + 1)) ($(ffprobe_duration "$f") s) is a packet prefix of the finished recording" \
      packets_prefix "$f" "$W/live-final.mp4"
  else
    fail "copy $((i + 1)) of the growing recording is a packet prefix of the finished recording"
  fi
done

# --- 3. 600 recordings ---------------------------------------------------------------------
smb_sizes many >"$W/many.smb" 2>"$W/many.err"
mnt_sizes "$MNT/many" >"$W/many.mnt"
n=$(grep -c . "$W/many.smb")
if [[ $n == "$N_MANY" ]] && diff "$W/many.mnt" "$W/many.smb" >"$W/many.diff"; then
  pass "smbclient lists all $N_MANY recordings of many/ with the mount's sizes"
else
  fail "smbclient lists all $N_MANY recordings of many/ with the mount's sizes"
  diag "  listed $n; differences:"; diag_file "$W/many.diff" 20; diag_file "$W/many.err" 20
fi
mkdir -p "$W/many"
smb "prompt OFF; recurse ON; lcd \"$W/many\"; cd many; mget *" >"$W/mget.log" 2>&1
rc=$?
if ((rc == 0)) && ! grep -q NT_STATUS "$W/mget.log" &&
   diff <(sha256_tree "$MNT/many") <(sha256_tree "$W/many") >"$W/many-sha.diff"; then
  pass "smbclient copies all $N_MANY (recurse, mget), each identical to the mount's"
else
  fail "smbclient copies all $N_MANY (recurse, mget), each identical to the mount's"
  diag "  smbclient exit $rc; $(find "$W/many" -type f | wc -l) files copied"
  diag_file "$W/many-sha.diff" 20; grep NT_STATUS "$W/mget.log" | head -n 20 | while read -r l; do diag "  $l"; done
fi
check "rec-0 and rec-599 are recordings the daemon shows as settled" \
  eval '[[ $(xattr "$MNT/many/rec-599.mp4" user.livemp4.state) == settled && $(xattr "$MNT/many/rec-0.mp4" user.livemp4.format) != "" ]]'
check "the daemon is still serving" daemon_alive "$MNT"

# --- cleanup ---------------------------------------------------------------------------------
kill -TERM "$SMBD_PID" 2>/dev/null
smbd_gone() { ! pgrep -g "$SMBD_PID" >/dev/null; }
if check "smbd and its children exit on SIGTERM" wait_until 20 smbd_gone; then
  wait "$SMBD_PID" 2>/dev/null
else
  kill -KILL -- "-$SMBD_PID" 2>/dev/null
  wait "$SMBD_PID" 2>/dev/null
fi
grep -h -E 'ERROR|PANIC|[Ee]rror' "$S"/log/* "$S/smbd.out" 2>/dev/null | grep -v '^ *$' | head -n 20 >"$W/smbd-errors"
if [[ -s $W/smbd-errors ]]; then
  note "smbd logged:"; note "$(cat "$W/smbd-errors")"
fi
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
