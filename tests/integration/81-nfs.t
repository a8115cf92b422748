#!/usr/bin/env bash
# The mount exported over NFS (issue 18, item 4): nfs-ganesha's VFS backend, started by the
# test on 127.0.0.1 (a free port, NFSv4 only, no rpcbind, no grace period) with a config in
# the test's directory, exports the mount point; libnfs's nfs-cp reads it.
#  - every recording of the player corpus (players.sh: every source format), one in a
#    subdirectory two levels down, and one that was recorded while mounted, are copied over
#    NFS byte for byte equal to `livemp4 export` of their sources: once, again after the
#    kernel evicted the FUSE inodes (drop_caches: ganesha opens what it cached by handle,
#    which reaches the daemon as a lookup of "." in a node it has forgotten), and again after
#    livemp4fs restarted on the same mount point (ganesha restarted too: it holds the old
#    mount's root; its export's Filesystem_id is fixed, so its handles are the same); no
#    nfs-cp meets NFS4ERR_STALE;
#  - the kernel's own handles of the same files and directories (name_to_handle_at, as the
#    NFS server takes them) open the same bytes with open_by_handle_at after the eviction and
#    on the restarted daemon's new mount: node ids and generations derive from the sources;
#  - a handle taken while the recording was live names that snapshot: once it has grown and
#    settled and the kernel forgot it, the handle is stale (ESTALE), as README documents; a
#    renamed recording keeps its handle, a renamed plain file's goes stale;
#  - the last copies read as their sources do, as ffmpeg and as GStreamer read them.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
require_tool ganesha.nfsd:nfs-ganesha nfs-cp:libnfs-utils nfs-ls:libnfs-utils
require_that "nfs-ganesha's VFS backend (libfsalvfs.so)" nfs-ganesha-vfs \
  bash -c 'compgen -G "/usr/lib/*/ganesha/libfsalvfs.so" || compgen -G "/usr/lib*/ganesha/libfsalvfs.so"'
[[ $(id -u) == 0 ]] || _require_missing "root privileges (ganesha, open_by_handle_at and drop_caches need them)"

FHANDLE="$TESTS_LIB/fhandle.py"
T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work G=$T/ganesha
mkdir -p "$SRC/sub/deep" "$W" "$G/recovery"

make_corpus "$SRC" >"$W/corpus.log" 2>&1 || { cat "$W/corpus.log"; bail_out "cannot record the corpus"; }
cp "$SRC/av.mp4" "$SRC/sub/deep/cam.mp4"
echo "plain notes" >"$SRC/sub/notes.txt"
# Virtual name -> source, for every recording the rounds copy.
declare -A SOURCE=([sub/deep/cam.mp4]=sub/deep/cam.mp4 [live.mp4]=live.mp4)
for name in "${CORPUS[@]}"; do SOURCE[$name.mp4]=$(_corpus_source_name "$name"); done
mapfile -t NAMES < <(printf '%s\n' "${!SOURCE[@]}" | LC_ALL=C sort)

plan $((${#NAMES[@]} + 20))

check "mount (settle=1)" mount_fs "$SRC" "$MNT" -o settle=1 || bail_out "cannot mount"

# --- a recording made while mounted: the handle of a live snapshot ----------------------
record_ffmpeg_bg "$SRC/live.mp4" --realtime --duration 8 || bail_out "cannot start ffmpeg"
LIVE_PID=$REC_PID
# The handle of a snapshot taken while the recorder still writes (taken again until the
# snapshot has 10 samples or the recorder ends; only one taken while it ran counts).
LIVE_HANDLE="" LIVE_SIZE=0
live_handle() {
  local s h size
  kill -0 "$LIVE_PID" 2>/dev/null || return 2
  s=$(xattr "$MNT/live.mp4" user.livemp4.samples 2>/dev/null) && ((s >= 1)) || return 1
  h=$(to 10 python3 "$FHANDLE" encode "$MNT/live.mp4") && size=$(file_size "$MNT/live.mp4") || return 1
  kill -0 "$LIVE_PID" 2>/dev/null || return 2
  LIVE_HANDLE=$h LIVE_SIZE=$size
  ((s >= 10))
}
take_live_handle() {
  local i rc
  for ((i = 0; i < 200; i++)); do
    live_handle
    rc=$?
    ((rc == 0)) && return 0
    ((rc == 2)) && break
    sleep 0.1
  done
  [[ -n $LIVE_HANDLE ]] || { echo "no handle taken while the recorder wrote"; return 1; }
}
check "the handle of the recording's snapshot while it is live" take_live_handle
wait "$LIVE_PID"
settled() {
  local n
  for n in "${NAMES[@]}"; do [[ $(xattr "$MNT/$n" user.livemp4.state 2>/dev/null) == settled ]] || return 1; done
}
check "every recording settles" wait_until 30 settled

# The bytes each recording must have: livemp4 export of its source.
export_all() {
  local n
  for n in "${NAMES[@]}"; do
    mkdir -p "$W/export/$(dirname "$n")"
    to 60 "$LIVEMP4" export "$SRC/${SOURCE[$n]}" "$W/export/$n" || { echo "livemp4 export ${SOURCE[$n]} failed"; return 1; }
    EXPECT[$n]=$(sha256sum <"$W/export/$n" | cut -d' ' -f1)
  done
}
declare -A EXPECT=()
check "livemp4 export of every source" export_all || bail_out "cannot export"
note "the live snapshot's handle: $LIVE_SIZE bytes of $(stat -c %s "$W/export/live.mp4") once settled"

# --- the kernel's handles of the FUSE mount -----------------------------------------------
declare -A HANDLE=()
take_handles() {
  local n
  for n in "${NAMES[@]}" sub sub/deep; do
    HANDLE[$n]=$(to 10 python3 "$FHANDLE" encode "$MNT/$n") || return 1
  done
}
check "name_to_handle_at of every recording and directory" take_handles

# handles_open LABEL: every handle opens (open_by_handle_at on the mount) to its bytes, and
# the directories' handles list them.
handles_open() {
  local n got bad=0
  for n in "${NAMES[@]}"; do
    got=$(to 60 python3 "$FHANDLE" sha256 "$MNT" "${HANDLE[$n]}" 2>&1)
    [[ ${got%% *} == "${EXPECT[$n]}" ]] || { echo "$1: $n by handle ${HANDLE[$n]}: $got"; bad=1; }
  done
  got=$(to 30 python3 "$FHANDLE" list "$MNT" "${HANDLE[sub/deep]}" 2>&1)
  [[ $got == cam.mp4 ]] || { echo "$1: sub/deep by handle: $got"; bad=1; }
  got=$(to 30 python3 "$FHANDLE" list "$MNT" "${HANDLE[sub]}" 2>&1)
  [[ $got == $'deep\nnotes.txt' ]] || { echo "$1: sub by handle: $got"; bad=1; }
  return "$bad"
}

# --- ganesha ------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$G/ganesha.conf" <<EOF
NFS_CORE_PARAM {
  Protocols = 4;
  NFS_Port = $PORT;
  Bind_Addr = 127.0.0.1;
  Enable_NLM = false;
  Enable_RQUOTA = false;
}
NFSV4 {
  Graceless = true;
  RecoveryBackend = fs;
  RecoveryRoot = "$G/recovery";
}
NFS_KRB5 { Active_krb5 = false; }
EXPORT {
  Export_Id = 81;
  Path = "$MNT";
  Pseudo = "/live";
  Access_Type = RO;
  Squash = No_Root_Squash;
  Protocols = 4;
  Transports = TCP;
  SecType = sys;
  # FUSE mounts get a new device number each time: a fixed id keeps ganesha's handles.
  Filesystem_id = 81.1;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
EOF
GANESHA_PID=""
nfs_url() { echo "nfs://127.0.0.1/live/$1?version=4&nfsport=$PORT"; }
nfs_answers() { to 10 nfs-ls "$(nfs_url "")" >/dev/null 2>&1; }
start_ganesha() {
  # Under timeout, as `to` (started directly so that $! is its pid).
  timeout -k 5 900 ganesha.nfsd -F -f "$G/ganesha.conf" -L "$G/ganesha.log" -p "$G/ganesha.pid" -N NIV_EVENT \
    </dev/null >>"$G/ganesha.out" 2>&1 {_tap_stdout}>&- {_tap_stderr}>&- &
  GANESHA_PID=$!
  track_pid "$GANESHA_PID"
  wait_until 60 nfs_answers || { echo "ganesha does not answer on 127.0.0.1:$PORT"; tail -n 30 "$G/ganesha.log"; return 1; }
}
stop_ganesha() {
  kill -TERM "$GANESHA_PID" 2>/dev/null
  gone() { ! kill -0 "$GANESHA_PID" 2>/dev/null; }
  wait_until 60 gone || { echo "ganesha still running 60 s after SIGTERM"; return 1; }
  wait "$GANESHA_PID" 2>/dev/null
  return 0
}
check "ganesha exports the mount (NFSv4, 127.0.0.1:$PORT)" start_ganesha || bail_out "no ganesha"

# nfs_round LABEL: nfs-cp of every recording, each byte-identical to its export; no
# NFS4ERR_STALE (or any error) from any of them.
nfs_round() {
  local n bad=0 out
  mkdir -p "$W/$1"
  for n in "${NAMES[@]}"; do
    mkdir -p "$W/$1/$(dirname "$n")"
    if ! out=$(to 120 nfs-cp "$(nfs_url "$n")" "$W/$1/$n" 2>&1); then
      echo "$1: nfs-cp $n failed: $out"
      bad=1
    elif [[ $out == *STALE* ]]; then
      echo "$1: nfs-cp $n: $out"
      bad=1
    elif ! cmp "$W/export/$n" "$W/$1/$n"; then
      echo "$1: $n over NFS differs from livemp4 export"
      bad=1
    fi
  done
  ((bad == 0)) && echo "${#NAMES[@]} recordings, $(cat "${NAMES[@]/#/$W/$1/}" | wc -c) bytes"
  return "$bad"
}
nfs_listing() {
  local out
  out=$(to 30 nfs-ls "$(nfs_url sub/deep)" 2>&1) || { echo "$out"; return 1; }
  [[ $out == *" $(stat -c %s "$W/export/sub/deep/cam.mp4") cam.mp4" ]] || { echo "nfs-ls sub/deep: $out"; return 1; }
}

check "first read: every recording over NFS equals its export" nfs_round first
check "nfs-ls lists sub/deep with the size stat() gives" nfs_listing
check "first read: every handle opens to the same bytes" handles_open first

# --- the kernel forgets the FUSE inodes -----------------------------------------------------
evict() { sync; echo 2 >/proc/sys/vm/drop_caches; }
check "drop_caches" evict
check "after eviction: every recording over NFS equals its export" nfs_round evicted
check "after eviction: every handle opens to the same bytes" handles_open evicted
live_stale() {
  local got final
  final=$(stat -c %s "$W/export/live.mp4")
  ((LIVE_SIZE < final)) || { echo "the live handle's snapshot ($LIVE_SIZE bytes) is the final one ($final)"; return 1; }
  got=$(to 30 python3 "$FHANDLE" sha256 "$MNT" "$LIVE_HANDLE" 2>/dev/null)
  [[ $got == ESTALE ]] || { echo "the grown live snapshot's handle gave: $got"; return 1; }
}
check "the handle of a live snapshot since grown and forgotten is stale (ESTALE)" live_stale

# --- livemp4fs restarts on the same mount point ---------------------------------------------
restart() {
  stop_ganesha || return 1
  unmount_fs "$MNT" || return 1
  mount_fs "$SRC" "$MNT" -o settle=1 || return 1
  start_ganesha
}
check "livemp4fs (and ganesha) restarted on the same mount point" restart || bail_out "cannot restart"
check "after restart: every recording over NFS equals its export" nfs_round restarted
check "after restart: the old mount's handles open to the same bytes" handles_open restarted

# --- the last copies, as ffmpeg and GStreamer read them --------------------------------------
for n in "${NAMES[@]}"; do
  check "$n over NFS reads as its source (ffmpeg, GStreamer)" same_timing_all "$SRC/${SOURCE[$n]}" "$W/restarted/$n"
done

# --- renames: a recording keeps its handle, a plain file's goes stale -----------------------
NOTES_HANDLE=$(to 10 python3 "$FHANDLE" encode "$MNT/sub/notes.txt")
renamed() {
  mv "$SRC/av.mp4" "$SRC/sub/av-moved.mp4" && mv "$SRC/sub/notes.txt" "$SRC/sub/notes-moved.txt" || return 1
  sleep 2   # past the mirror's entry timeout (1 s), so the kernel forgets the old names
  evict
}
check "two sources renamed, the FUSE inodes evicted" renamed
renamed_handles() {
  local got
  got=$(to 60 python3 "$FHANDLE" sha256 "$MNT" "${HANDLE[av.mp4]}" 2>&1)
  [[ ${got%% *} == "${EXPECT[av.mp4]}" ]] || { echo "the renamed recording's handle: $got"; return 1; }
  got=$(to 30 python3 "$FHANDLE" sha256 "$MNT" "$NOTES_HANDLE" 2>/dev/null)
  [[ $got == ESTALE ]] || { echo "the renamed plain file's handle gave: $got"; return 1; }
}
check "a renamed recording's handle opens its bytes; a renamed plain file's is stale" renamed_handles

check "ganesha stops" stop_ganesha
check "unmount: the daemon exits cleanly" unmount_fs "$MNT"
