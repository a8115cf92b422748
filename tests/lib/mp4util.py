#!/usr/bin/env python3
"""Small helpers for the livemp4fs integration tests (no third-party modules).

  mp4util.py boxes FILE             print the top-level boxes: "offset size type", one a line
  mp4util.py faststart FILE         check the top-level layout of a fast-start MP4
  mp4util.py framecmp same|prefix A.md5 B.md5 [REORDER]
                                    compare two `-f framemd5` outputs per stream, hash column
  mp4util.py cut FILE N TYPE FRAC   print an offset FRAC (0..1) into the Nth (0-based) top-level
                                    box of TYPE, or nothing if there is none
"""
import struct
import sys


def top_boxes(path):
    """Returns (boxes, error): boxes as (offset, size, type); error describes why the box
    structure does not tile the file exactly, or None."""
    boxes = []
    with open(path, 'rb') as f:
        f.seek(0, 2)
        end = f.tell()
        off = 0
        while off < end:
            f.seek(off)
            hdr = f.read(8)
            if len(hdr) < 8:
                return boxes, 'truncated box header at offset %d (%d bytes left)' % (off, end - off)
            size, typ = struct.unpack('>I4s', hdr)
            hlen = 8
            if size == 1:
                ext = f.read(8)
                if len(ext) < 8:
                    return boxes, 'truncated 64-bit box size at offset %d' % off
                size = struct.unpack('>Q', ext)[0]
                hlen = 16
            elif size == 0:
                size = end - off
            name = typ.decode('latin-1')
            if size < hlen:
                return boxes, 'box %r at offset %d has impossible size %d' % (name, off, size)
            if off + size > end:
                boxes.append((off, size, name))
                return boxes, 'box %r at offset %d (size %d) runs past the end of the file (%d)' % (
                    name, off, size, end)
            boxes.append((off, size, name))
            off += size
    return boxes, None


def cmd_boxes(path):
    boxes, err = top_boxes(path)
    for off, size, typ in boxes:
        print(off, size, typ)
    if err:
        print('error:', err)
        return 1
    return 0


def cmd_faststart(path):
    boxes, err = top_boxes(path)
    types = [b[2] for b in boxes]
    desc = ' '.join(types[:12]) + (' ...' if len(types) > 12 else '')
    problems = []
    if err:
        problems.append(err)
    if not types or types[0] != 'ftyp':
        problems.append('first box is not ftyp')
    for t in ('moov', 'mdat'):
        if types.count(t) != 1:
            problems.append('%d %s boxes (want exactly 1)' % (types.count(t), t))
    if 'moov' in types and 'mdat' in types and types.index('moov') > types.index('mdat'):
        problems.append('moov comes after mdat')
    for t in ('moof', 'mfra', 'sidx', 'styp'):
        if t in types:
            problems.append('fragment box %s at top level' % t)
    if problems:
        print('%s: top-level boxes [%s]: %s' % (path, desc, '; '.join(problems)))
        return 1
    return 0


def read_framemd5(path):
    """Per stream: list of (pts, hash) in file order."""
    streams = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            cols = [c.strip() for c in line.split(',')]
            streams.setdefault(int(cols[0]), []).append((int(cols[2]), cols[-1]))
    return streams


def cmd_framecmp(mode, a_path, b_path, reorder=0):
    """same: per stream, identical hash sequences.
    prefix: per stream, A's frames are the first frames of B.  A prefix of the packets in
    decode order may lack up to REORDER frames shown before A's last frames (B-frames whose
    successors in decode order were cut off); those gaps are allowed only within A's last
    REORDER+1 frames, and every frame of A must be B's frame at the same position in
    presentation order."""
    a = read_framemd5(a_path)
    b = read_framemd5(b_path)
    bad = []
    if sorted(a) != sorted(b) and (mode == 'same' or not set(a) <= set(b)):
        bad.append('streams differ: %s vs %s' % (sorted(a), sorted(b)))
    for s in sorted(set(a) & set(b)):
        ha = [h for _, h in a[s]]
        hb = [h for _, h in b[s]]
        if mode == 'same':
            if ha != hb:
                i = next((i for i in range(min(len(ha), len(hb))) if ha[i] != hb[i]), min(len(ha), len(hb)))
                bad.append('stream %d: %d vs %d frames, first difference at frame %d' % (s, len(ha), len(hb), i))
            continue
        # prefix
        if len(ha) > len(hb):
            bad.append('stream %d: %d frames, more than the %d of the whole' % (s, len(ha), len(hb)))
            continue
        j = 0
        gaps = []
        ok = True
        for i, h in enumerate(ha):
            k = j
            while k < len(hb) and hb[k] != h and k - j < reorder:
                k += 1
            if k >= len(hb) or hb[k] != h:
                bad.append('stream %d: frame %d of %d (%s) is not frame %d of the whole%s' % (
                    s, i, len(ha), h, j, ' (nor within %d after it)' % reorder if reorder else ''))
                ok = False
                break
            if k != j:
                gaps.append((i, k - j))
            j = k + 1
        if ok and gaps and gaps[0][0] < len(ha) - (reorder + 1):
            bad.append('stream %d: %d frames missing before frame %d of %d, too far from the end' % (
                s, gaps[0][1], gaps[0][0], len(ha)))
    for m in bad:
        print(m)
    return 1 if bad else 0


def cmd_cut(path, n, typ, frac):
    boxes, _ = top_boxes(path)
    matching = [b for b in boxes if b[2] == typ]
    if n >= len(matching):
        return 1
    off, size, _ = matching[n]
    print(off + max(1, min(size - 1, int(size * frac))))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == 'boxes':
        return cmd_boxes(argv[1])
    if len(argv) >= 2 and argv[0] == 'faststart':
        return cmd_faststart(argv[1])
    if len(argv) >= 4 and argv[0] == 'framecmp':
        return cmd_framecmp(argv[1], argv[2], argv[3], int(argv[4]) if len(argv) > 4 else 0)
    if len(argv) == 5 and argv[0] == 'cut':
        return cmd_cut(argv[1], int(argv[2]), argv[3], float(argv[4]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
