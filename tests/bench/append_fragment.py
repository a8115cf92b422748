#!/usr/bin/env python3
"""Appends to a growing copy of a fragmented MP4 the next fragment of its source.

  append_fragment.py SOURCE.mp4 GROWING.mp4

GROWING holds the first bytes of SOURCE, up to where a top-level box begins.
The next fragment is appended to it as a recorder writes one: the moof there
and every box after it up to the next moof (its mdat).  Exits with status 1
when SOURCE has no further fragment.
"""
import os
import struct
import sys


def box_at(f, pos, end):
    """(size, type) of the top-level box at pos, or None at the end."""
    f.seek(pos)
    head = f.read(16)
    if len(head) < 8:
        return None
    size, kind = struct.unpack('>I4s', head[:8])
    if size == 1:
        size = struct.unpack('>Q', head[8:16])[0]
    elif size == 0:
        size = end - pos
    if size < 8 or pos + size > end:
        sys.exit('append_fragment: bad box at %d' % pos)
    return size, kind


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    source, growing = sys.argv[1], sys.argv[2]
    start = os.path.getsize(growing)
    end = os.path.getsize(source)
    with open(source, 'rb') as f:
        first = box_at(f, start, end)
        if first is None or first[1] != b'moof':
            sys.exit(1)
        stop = start + first[0]
        while True:
            box = box_at(f, stop, end)
            if box is None or box[1] == b'moof':
                break
            stop += box[0]
        f.seek(start)
        data = f.read(stop - start)
    with open(growing, 'ab') as out:
        out.write(data)


if __name__ == '__main__':
    main()
