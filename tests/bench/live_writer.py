#!/usr/bin/env python3
"""Grows many fragmented-MP4 recordings at once without running an encoder each.

  live_writer.py SOURCE.mp4 OUTDIR COUNT SECONDS

SOURCE is a fragmented MP4 whose fragments (moof+mdat) last about a second.
Every OUTDIR/rec-NNN.mp4 gets SOURCE's init segment (everything before the
first moof), then one fragment a second, in source order, as a recorder
would append them; the files' appends are spread evenly over each second.
Prints the number of bytes written when done.
"""
import os
import struct
import sys
import time


def split(path):
    with open(path, 'rb') as f:
        data = f.read()
    pos, init_end, frags = 0, None, []
    while pos + 8 <= len(data):
        size, kind = struct.unpack('>I4s', data[pos:pos + 8])
        if size == 1:
            size = struct.unpack('>Q', data[pos + 8:pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        if size < 8:
            sys.exit('%s: bad box at %d' % (path, pos))
        if kind == b'moof':
            if init_end is None:
                init_end = pos
            frags.append([pos, pos + size])
        elif kind == b'mdat' and frags:
            frags[-1][1] = pos + size
        pos += size
    if init_end is None:
        sys.exit('%s: no fragments' % path)
    return data[:init_end], [data[a:b] for a, b in frags]


def main():
    source, outdir, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    init, frags = split(source)
    if len(frags) < seconds:
        sys.exit('%s: %d fragments, need %d' % (source, len(frags), seconds))
    fds = []
    for i in range(count):
        fd = os.open(os.path.join(outdir, 'rec-%03d.mp4' % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, init)
        fds.append(fd)
    written = len(init) * count
    start = time.monotonic()
    for k in range(seconds):
        for i, fd in enumerate(fds):
            delay = start + k + i / count - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            os.write(fd, frags[k])
            written += len(frags[k])
    for fd in fds:
        os.close(fd)
    print(written)


if __name__ == '__main__':
    main()
