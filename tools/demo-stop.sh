#!/usr/bin/env bash
# make demo-stop: stop the demo recorder and unmount demo/mnt.
cd "$(dirname "$0")/.."
if [ -f demo/recorder.pid ]; then
  kill "$(cat demo/recorder.pid)" 2>/dev/null || true
  rm -f demo/recorder.pid
fi
if mountpoint -q demo/mnt 2>/dev/null; then
  fusermount3 -u demo/mnt || fusermount3 -uz demo/mnt
fi
echo "demo stopped (recordings kept in demo/source)"
