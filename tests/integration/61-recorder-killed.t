#!/usr/bin/env bash
# A recorder killed (SIGKILL) at random moments: every snapshot taken while it records and the
# one left after it died are valid fast-start MP4s (ffprobe and a full decode print nothing),
# whose packets are the first packets of the recording as it stands on disk.  Fragmented MP4
# (FFmpeg, fragments of 200 ms) and, when the Matroska indexer is built in, WebM.
# The kill moments come from $RANDOM, printed so a failure can be replayed (KILL_SEED=N).
source "$(dirname "$0")/../lib/common.sh"
require_fuse
ROUNDS=${ROUNDS:-3}
plan $((4 + ROUNDS * 2 * 3))

seed=${KILL_SEED:-$RANDOM}
RANDOM=$seed
note "kill seed $seed (KILL_SEED=$seed replays it)"

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
check "mount" mount_fs "$SRC" "$MNT" || bail_out "cannot mount"

# WebM recorder (VP9 + Opus), in real time, in the background (REC_PID).
record_webm_bg() {
  ffmpeg -nostdin -hide_banner -v error -y -re -f lavfi -i "testsrc2=size=96x64:rate=25" \
    -re -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 20 \
    -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 25 -c:a libopus -b:a 32k -flush_packets 1 -f webm "$1" \
    </dev/null >"$1.log" 2>&1 &
  REC_PID=$!
  track_pid "$REC_PID"
}
record_fmp4_bg() { record_ffmpeg_bg "$1" --realtime --duration 20 --size 96x64 -- -frag_duration 200000 -flush_packets 1; }

# kill_round NAME EXT STARTER: records in real time, takes snapshots (copies of the virtual
# file) at random moments, kills the recorder at a random moment, checks them all.
kill_round() {
  local name=$1 ext=$2 starter=$3 i snaps=0 kill_at
  local out=$SRC/$name.$ext virt=$MNT/$name.mp4
  "$starter" "$out"
  # 0.6 to 3.5 s in, at a 0.1 s granularity.
  kill_at=$((6 + RANDOM % 30))
  for ((i = 0; i < kill_at; i++)); do
    sleep 0.1
    # A snapshot about every 0.7 s: the whole virtual file as one handle reads it.
    if ((i % 7 == 3)) && [[ -e $virt ]]; then
      snaps=$((snaps + 1))
      to 30 cp "$virt" "$W/$name.snap$snaps.mp4" 2>/dev/null || rm -f "$W/$name.snap$snaps.mp4"
    fi
  done
  kill -KILL "$REC_PID"
  wait "$REC_PID" 2>/dev/null
  note "$name: recorder killed after $(echo "scale=1; $kill_at / 10" | bc) s at $(stat -c %s "$out") bytes"
  # The final snapshot: wait until the mount has seen the last bytes.
  # (Killed before its moov or EBML head was out: not a recording yet, mirrored as it is.)
  if to 60 "$LIVEMP4" export "$out" "$W/$name.exp" 2>/dev/null; then
    final_ok() { to 30 cmp -s "$W/$name.exp" "$virt"; }
  else
    virt=$MNT/$name.$ext
    final_ok() { to 30 cmp -s "$out" "$virt"; }
  fi
  check "$name: the mount shows what is on disk after the kill (as livemp4 export does)" wait_until 10 final_ok
  cp "$virt" "$W/$name.final.mp4"
  local f problems=""
  for f in "$W/$name".snap*.mp4; do
    [[ -e $f ]] || continue
    # A snapshot taken before the first fragment is complete has no samples: skip it.
    [[ $(stream_count "$f") == 0 ]] && continue
    out_msg=$(check_mp4 "$f" 2>&1) || problems+="$(basename "$f"): $out_msg; "
  done
  ok "$([[ -z $problems ]] && echo 0 || echo 1)" "$name: every snapshot taken while recording is valid ($snaps taken)" ||
    diag "$problems"
  if [[ $virt != *.mp4 || $(stream_count "$W/$name.final.mp4") == 0 ]]; then
    pass "$name: killed before its first sample: no samples (nothing to check)"
  else
    check "$name: the snapshot after the kill is valid" check_mp4 "$W/$name.final.mp4"
  fi
}

have_mkv=0
[[ -f $REPO_ROOT/muxer/mkv.c ]] && have_mkv=1
for ((r = 1; r <= ROUNDS; r++)); do
  kill_round "fmp4-$r" mp4 record_fmp4_bg
  if ((have_mkv)); then
    kill_round "webm-$r" webm record_webm_bg
  else
    skip 3 "no Matroska indexer"
  fi
done
# The recorders are dead: their files must not change any more (the daemon only reads).
(cd "$SRC" && sha256sum -- *.mp4 *.webm 2>/dev/null) >"$W/sums.after-kills"
to 60 cat "$MNT"/*.mp4 >/dev/null
check "the sources are unchanged after being served (sha256)" diff "$W/sums.after-kills" <(cd "$SRC" && sha256sum -- *.mp4 *.webm 2>/dev/null)
check "the daemon is still up" daemon_alive "$MNT"
check "daemon exits cleanly after unmount" unmount_fs "$MNT"
