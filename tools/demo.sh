#!/usr/bin/env bash
# make demo: install what is missing, build, start a live recording of a test
# pattern with sound into demo/source/, mount it at demo/mnt/, say what to run.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and the demo need (the test suite's list, packages.txt, is longer).
tools/install-deps.sh build-essential pkg-config libfuse3-dev fuse3 libglib2.0-dev ffmpeg attr
make -s all

tools/demo-stop.sh >/dev/null 2>&1 || true
mkdir -p demo/source demo/mnt
rm -f demo/source/live.mp4

# A fragmented MP4 written in real time, flushed at every fragment: the kind
# of file a crash-safe recorder leaves on disk.
nohup ffmpeg -nostdin -v error -re \
  -f lavfi -i "testsrc2=size=640x360:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t 3600 -c:v libx264 -preset veryfast -bf 2 -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k \
  -movflags frag_keyframe+empty_moov+default_base_moof -frag_duration 500000 -flush_packets 1 \
  demo/source/live.mp4 >demo/recorder.log 2>&1 &
echo $! > demo/recorder.pid

fs/livemp4fs demo/source demo/mnt -o settle=5
for _ in $(seq 50); do [ -s demo/source/live.mp4 ] && break; sleep 0.1; done
sleep 2

cat <<MSG

livemp4fs demo is running.
  recorder: ffmpeg writes a fragmented MP4 to demo/source/live.mp4 (for up to an hour)
  mount:    demo/mnt shows it as a fast-start MP4, growing

Try:
  ffprobe demo/mnt/live.mp4                   # a plain MP4, moov first, while it records
  ffplay demo/mnt/live.mp4                    # or mpv, vlc: plays what is recorded so far
  getfattr -d demo/mnt/live.mp4               # state, duration, samples, format
  tools/livemp4 inspect demo/source/live.mp4  # the same without FUSE
  cp demo/mnt/live.mp4 /tmp/snapshot.mp4      # a consistent copy, however it grows

Stop it with:  make demo-stop
MSG
