#!/usr/bin/env python3
"""Rewrites a finished moov-at-end MP4 (ftyp [free|wide] mdat moov, as FFmpeg writes it) into
the layouts recorders rarely write, keeping every sample's bytes and moving only the boxes
around them; the moov's chunk offsets (stco/co64) follow the samples.

  mp4fixture.py two-mdats SRC OUT    ftyp wide mdat free uuid mdat moov: the payload split at
                                     a chunk in its middle, boxes of other kinds between
  mp4fixture.py largesize SRC OUT    ftyp mdat(64-bit largesize header) moov
  mp4fixture.py mdat0 SRC OUT        ftyp moov mdat(size 0: "to the end of the file")
  mp4fixture.py sparse-4g SRC OUT    ftyp free(a hole of 4 GiB, sparse) mdat(largesize) moov
                                     with co64: every offset past 4 GiB, a few KiB on disk
  mp4fixture.py cmov SRC OUT         the moov compressed (cmov: dcom zlib, cmvd), as QuickTime
                                     could write it
  mp4fixture.py boxes FILE           the top-level boxes, "offset size type" a line
"""
import struct
import sys
import zlib

CONTAINERS = {b'moov', b'trak', b'mdia', b'minf', b'stbl', b'edts', b'dinf'}


def top_boxes(data, start=0, end=None):
    """The boxes in data[start:end]: (offset, size, header size, type) each."""
    end = len(data) if end is None else end
    out, off = [], start
    while off + 8 <= end:
        size, typ = struct.unpack('>I4s', data[off:off + 8])
        hdr = 8
        if size == 1:
            size = struct.unpack('>Q', data[off + 8:off + 16])[0]
            hdr = 16
        elif size == 0:
            size = end - off
        out.append((off, size, hdr, typ))
        off += size
    return out


def parse(body, containers=CONTAINERS):
    """A box body as a list of [type, payload-or-children]."""
    out = []
    for off, size, hdr, typ in top_boxes(body):
        payload = body[off + hdr:off + size]
        out.append([typ, parse(payload, containers) if typ in containers else payload])
    return out


def serialize(boxes):
    out = b''
    for typ, content in boxes:
        payload = serialize(content) if isinstance(content, list) else content
        out += struct.pack('>I4s', 8 + len(payload), typ) + payload
    return out


def box(typ, payload):
    return struct.pack('>I4s', 8 + len(payload), typ) + payload


def chunk_offsets(boxes, out=None):
    out = [] if out is None else out
    for typ, content in boxes:
        if isinstance(content, list):
            chunk_offsets(content, out)
        elif typ in (b'stco', b'co64'):
            n = struct.unpack('>I', content[4:8])[0]
            w = 4 if typ == b'stco' else 8
            out += [int.from_bytes(content[8 + i * w:8 + (i + 1) * w], 'big') for i in range(n)]
    return out


def remap(boxes, fn, force_co64):
    """Maps every chunk offset through fn, writing co64 where asked or needed."""
    for b in boxes:
        typ, content = b
        if isinstance(content, list):
            remap(content, fn, force_co64)
        elif typ in (b'stco', b'co64'):
            n = struct.unpack('>I', content[4:8])[0]
            w = 4 if typ == b'stco' else 8
            offs = [fn(int.from_bytes(content[8 + i * w:8 + (i + 1) * w], 'big')) for i in range(n)]
            wide = force_co64 or typ == b'co64' or any(o >= 1 << 32 for o in offs)
            b[0] = b'co64' if wide else b'stco'
            b[1] = content[:8] + b''.join(struct.pack('>Q' if wide else '>I', o) for o in offs)


def load(src):
    data = open(src, 'rb').read()
    tops = top_boxes(data)
    mdats = [t for t in tops if t[3] == b'mdat']
    moovs = [t for t in tops if t[3] == b'moov']
    if len(mdats) != 1 or len(moovs) != 1:
        sys.exit('%s: want one mdat and one moov, got %s' % (src, [t[3] for t in tops]))
    ftyp = [t for t in tops if t[3] == b'ftyp'][0]
    m_off, m_size, m_hdr, _ = mdats[0]
    v_off, v_size, v_hdr, _ = moovs[0]
    moov = parse(data[v_off + v_hdr:v_off + v_size])
    return (data[ftyp[0]:ftyp[0] + ftyp[1]], data[m_off + m_hdr:m_off + m_size], m_off + m_hdr, moov)


def moov_bytes(moov):
    return box(b'moov', serialize(moov))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == 'boxes':
        with open(sys.argv[2], 'rb') as f:
            size = f.seek(0, 2)
            off = 0
            while off + 8 <= size:
                f.seek(off)
                h = f.read(16)
                s, t = struct.unpack('>I4s', h[:8])
                if s == 1:
                    s = struct.unpack('>Q', h[8:16])[0]
                elif s == 0:
                    s = size - off
                print(off, s, t.decode('latin1'))
                off += s
        return
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    mode, src, out = sys.argv[1:]
    ftyp, payload, payload_at, moov = load(src)
    if mode == 'two-mdats':
        wide = box(b'wide', b'')
        rel = sorted(o - payload_at for o in chunk_offsets(moov))
        split = next(o for o in rel if o >= len(payload) // 2)
        between = box(b'free', b'\0' * 56) + box(b'uuid', b'\x11' * 16 + b'fixture')
        first = len(ftyp) + len(wide) + 8
        second = first + split + len(between) + 8
        fn = lambda o: (first if o - payload_at < split else second - split) + (o - payload_at)
        remap(moov, fn, False)
        blob = (ftyp + wide + box(b'mdat', payload[:split]) + between + box(b'mdat', payload[split:]) +
                moov_bytes(moov))
        open(out, 'wb').write(blob)
    elif mode == 'largesize':
        start = len(ftyp) + 16
        remap(moov, lambda o: start + o - payload_at, False)
        hdr = struct.pack('>I4sQ', 1, b'mdat', 16 + len(payload))
        open(out, 'wb').write(ftyp + hdr + payload + moov_bytes(moov))
    elif mode == 'mdat0':
        size = len(moov_bytes(moov))   # the size does not depend on the offsets' values
        start = len(ftyp) + size + 8
        remap(moov, lambda o: start + o - payload_at, False)
        m = moov_bytes(moov)
        assert len(m) == size
        open(out, 'wb').write(ftyp + m + struct.pack('>I4s', 0, b'mdat') + payload)
    elif mode == 'sparse-4g':
        hole = (4 << 30) + 4096
        start = len(ftyp) + 16 + hole + 16
        remap(moov, lambda o: start + o - payload_at, True)
        with open(out, 'wb') as f:
            f.write(ftyp)
            f.write(struct.pack('>I4sQ', 1, b'free', 16 + hole))
            f.seek(hole, 1)                    # a hole: nothing written, nothing on disk
            f.write(struct.pack('>I4sQ', 1, b'mdat', 16 + len(payload)))
            f.write(payload)
            f.write(moov_bytes(moov))
    elif mode == 'cmov':
        start = len(ftyp) + 8
        remap(moov, lambda o: start + o - payload_at, False)
        m = moov_bytes(moov)
        cmov = box(b'cmov', box(b'dcom', b'zlib') + box(b'cmvd', struct.pack('>I', len(m)) + zlib.compress(m)))
        open(out, 'wb').write(ftyp + box(b'mdat', payload) + box(b'moov', cmov))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
