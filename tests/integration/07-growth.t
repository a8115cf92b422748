#!/usr/bin/env bash
# A recording that grows in arbitrary steps (cut inside the moov, a moof, an mdat header, an
# mdat, at box boundaries): after every step the mounted file is exactly what `livemp4 export`
# makes of the source as it stands (the daemon's incremental indexing agrees with a one-shot
# index, byte for byte), a valid MP4 once it has samples, holding every complete sample.
# Run with inotify and with -o noinotify (change detection by size and mtime only).
source "$(dirname "$0")/../lib/common.sh"
require_fuse

T=$(make_tmp)
W=$T/work
mkdir -p "$W"
record_ffmpeg "$W/full.mp4" --duration 3 -- -frag_duration 300000 >"$W/rec.log" 2>&1 || { cat "$W/rec.log"; bail_out "ffmpeg failed"; }

# Growth steps: offsets into full.mp4, sorted, ending with its size.
box() { python3 "$MP4UTIL" cut "$W/full.mp4" "$1" "$2" "$3"; }
size=$(stat -c %s "$W/full.mp4")
steps=$( {
  echo 20                                  # inside the ftyp
  box 0 moov 0.5                           # inside the moov
  box 0 moof 0 | awk '{ print $1 - 1 }'    # the moov complete, no fragment yet
  box 0 moof 0.5
  box 0 mdat 0 | awk '{ print $1 + 2 }'    # inside the first mdat's header
  box 0 mdat 0.3
  box 0 mdat 0.7
  box 1 moof 0 | awk '{ print $1 - 1 }'    # the first fragment complete
  box 1 moof 0.9
  box 1 mdat 0.5
  box 3 mdat 0.01
  box 5 mdat 0.99
  echo "$size"
} | sort -n | uniq)
nsteps=$(wc -w <<<"$steps")
plan $((2 * (nsteps + 3)))

grow_test() {
  local label=$1 src=$T/src-$1 mnt=$T/mnt-$1 off prev=0 i=0
  shift
  mkdir -p "$src"
  check "$label: mount $*" mount_fs "$src" "$mnt" "$@" || bail_out "cannot mount"
  : >"$src/rec.mp4"
  for off in $steps; do
    i=$((i + 1))
    # Append the next piece in place (the file keeps its inode, as a recorder's would).
    tail -c +$((prev + 1)) "$W/full.mp4" | head -c $((off - prev)) >>"$src/rec.mp4"
    prev=$off
    step_check "$label" "$src/rec.mp4" "$mnt/rec.mp4" "$off" "$i"
  done
  # The handles opened along the way still read exactly the file of their step.
  local k bad=0
  for k in "${!held_fds[@]}"; do
    to 30 cat <&"${held_fds[k]}" >"$W/held.$label.$k" || bad=1
    if ! cmp -s "${held_exp[k]}" "$W/held.$label.$k"; then
      diag "  handle opened at step $k: $(cmp "${held_exp[k]}" "$W/held.$label.$k" 2>&1 | head -1)" \
        "  sizes $(stat -c %s "${held_exp[k]}") vs $(stat -c %s "$W/held.$label.$k")"
      bad=1
    fi
    eval "exec ${held_fds[k]}<&-"
  done
  ok $bad "$label: ${#held_fds[@]} handles opened at successive steps each read their step's file exactly"
  held_fds=() held_exp=()
  check "$label: daemon exits cleanly after unmount" unmount_fs "$mnt"
}
declare -a held_fds=() held_exp=()

# step_check LABEL SRC VIRT OFFSET I: one test point per growth step.
step_check() {
  local label=$1 src=$2 virt=$3 off=$4 i=$5 exp=$W/exp.$1.$5 got=$W/got.$1.$5 problems=""
  local is_rec=1
  if ! to 30 "$LIVEMP4" export "$src" "$exp" 2>/dev/null; then
    cp "$src" "$exp"   # not a recording (yet): the mount mirrors the source as it is
    is_rec=0
  fi
  # The change may take a moment to be noticed: poll (bounded) until the bytes agree.
  same() { to 30 cp "$virt" "$got" && cmp -s "$exp" "$got"; }
  if ! wait_until 5 same; then
    problems+="mount differs from livemp4 export after 5 s: $(cmp "$exp" "$got" 2>&1 | head -1); "
    problems+="sizes $(stat -c %s "$exp") vs $(stat -c %s "$got") (stat: $(file_size "$virt")); "
  fi
  if ((is_rec)) && [[ $(stream_count "$got") != 0 ]]; then
    local out
    out=$(check_mp4 "$got" 2>&1) || problems+="not a valid MP4: $out; "
    out=$(packets_prefix "$got" "$W/full.mp4" 2>&1) || problems+="packets not a prefix: $out; "
  fi
  if ((is_rec)) && [[ -z $problems ]]; then
    local fd
    exec {fd}<"$virt"
    held_fds+=("$fd") held_exp+=("$exp")
  fi
  if [[ -z $problems ]]; then
    pass "$label: after growing to $off bytes, the mount shows what livemp4 export makes ($(stat -c %s "$got") bytes)"
  else
    fail "$label: after growing to $off bytes, the mount shows what livemp4 export makes"
    diag "  $problems"
  fi
}

grow_test inotify
grow_test noinotify -o noinotify
