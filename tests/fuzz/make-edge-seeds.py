#!/usr/bin/env python3
"""Writes the hand-made edge-case seeds of the fuzz corpora (and of the limit tests' ideas).

  make-edge-seeds.py INIT.mp4 OUTDIR

INIT.mp4 is a small fragmented recording (ftyp + empty moov + fragments) whose init segment
(everything before the first moof) is reused; its track 1 receives the crafted fragments.
"""
import os
import struct
import sys


def box(t, body=b''):
    return struct.pack('>I4s', 8 + len(body), t) + body


def large_box(t, body=b'', size=None):
    return struct.pack('>I4sQ', 1, t, 16 + len(body) if size is None else size) + body


def full(t, version, flags, body=b''):
    return box(t, struct.pack('>I', version << 24 | flags) + body)


def top_boxes(d):
    off = 0
    while off + 8 <= len(d):
        s, t = struct.unpack('>I4s', d[off:off + 8])
        if s == 1:
            s = struct.unpack('>Q', d[off + 8:off + 16])[0]
        if s == 0:
            s = len(d) - off
        yield off, s, t
        off += s


def tfhd(track, flags=0x020000, base=None, sdi=None, dur=None, size=None, sflags=None):
    body = struct.pack('>I', track)
    for bit, v, fmt in ((1, base, '>Q'), (2, sdi, '>I'), (8, dur, '>I'), (0x10, size, '>I'), (0x20, sflags, '>I')):
        if v is not None:
            flags |= bit
            body += struct.pack(fmt, v)
    return full(b'tfhd', 0, flags, body)


def tfdt(t, version=1):
    return full(b'tfdt', version, 0, struct.pack('>Q' if version else '>I', t))


def trun(samples, flags=0x000301, data_offset=0, count=None, version=0, first_flags=None):
    """samples: list of tuples matching the per-sample flags (duration, size, flags, cts)."""
    body = struct.pack('>I', len(samples) if count is None else count)
    if flags & 1:
        body += struct.pack('>i', data_offset)
    if first_flags is not None:
        flags |= 4
        body += struct.pack('>I', first_flags)
    for s in samples:
        body += b''.join(struct.pack('>I', v & 0xffffffff) for v in s)
    return full(b'trun', version, flags, body)


def moof(seq, *trafs):
    return box(b'moof', full(b'mfhd', 0, 0, struct.pack('>I', seq)) + b''.join(box(b'traf', b''.join(t)) for t in trafs))


def fragment(seq, track, t0, sizes, dur=512, extra=b'', sflags=None):
    """A moof + mdat with data_offset pointing just past the moof."""
    samples = [(dur, s) for s in sizes]
    def build(off):
        tr = [tfhd(track), tfdt(t0), trun(samples, 0x000301, off, first_flags=sflags)]
        return moof(seq, tr)
    m = build(0)
    m = build(len(m) + 8)
    payload = bytes((seq * 7 + i) & 0xff for i in range(sum(sizes)))
    return m + box(b'mdat', payload) + extra


def main():
    init_src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    d = open(init_src, 'rb').read()
    first_moof = next(o for o, s, t in top_boxes(d) if t == b'moof')
    init = d[:first_moof]
    ftyp = next(d[o:o + s] for o, s, t in top_boxes(d) if t == b'ftyp')
    moov = next(d[o:o + s] for o, s, t in top_boxes(d) if t == b'moov')
    seeds = {}

    good = init + fragment(1, 1, 0, [10, 20, 30]) + fragment(2, 1, 1536, [5, 5])
    seeds['edge-minimal'] = good
    # trun claiming 0xffffffff samples with no per-sample fields (defaults from tfhd).
    seeds['edge-trun-count-max'] = init + moof(1, [tfhd(1, dur=1, size=1), tfdt(0), trun([], 0x000001, 0, count=0xffffffff)]) + box(b'mdat', b'x' * 64)
    # ... and one just above the per-moof cap, with zero-size samples.
    seeds['edge-trun-zero-size'] = init + moof(1, [tfhd(1, dur=1, size=0), tfdt(0), trun([], 0, count=(1 << 20) + 1)]) + box(b'mdat')
    # Many moofs of zero-size samples (each just under the per-moof cap).
    seeds['edge-zero-size-moofs'] = init + b''.join(moof(i, [tfhd(1, dur=1, size=0), trun([], 0, count=1000)]) for i in range(1, 40))
    # Box sizes: 2^64-1 for a moof, a moof of 2^63 bytes, a 64-bit mdat of 2^63.
    seeds['edge-moof-size-max'] = init + large_box(b'moof', b'\0' * 32, size=(1 << 64) - 1)
    seeds['edge-moof-size-2e63'] = init + large_box(b'moof', b'\0' * 32, size=1 << 63)
    seeds['edge-mdat-size-2e63'] = good + large_box(b'mdat', b'\0' * 32, size=1 << 63)
    seeds['edge-box-size-small'] = init + struct.pack('>I4s', 4, b'moof') + b'\0' * 16
    seeds['edge-mdat-size-zero'] = init + fragment(1, 1, 0, [10, 20])[:-38] + struct.pack('>I4s', 0, b'mdat') + b'z' * 30
    # data_offset out of the file, negative, into the moof itself, overlapping samples.
    seeds['edge-data-offset-far'] = init + moof(1, [tfhd(1), tfdt(0), trun([(1, 10)], 0x301, 0x7fffffff)]) + box(b'mdat', b'y' * 10)
    seeds['edge-data-offset-negative'] = init + moof(1, [tfhd(1), tfdt(0), trun([(1, 10)], 0x301, -0x80000000)]) + box(b'mdat', b'y' * 10)
    seeds['edge-data-offset-self'] = init + moof(1, [tfhd(1), tfdt(0), trun([(1, 10), (1, 10)], 0x301, 0)]) + box(b'mdat', b'y' * 10)
    seeds['edge-overlap'] = init + moof(1, [tfhd(1), tfdt(0), trun([(1, 10)], 0x301, 60)], [tfhd(1), trun([(1, 10)], 0x301, 55)]) + box(b'mdat', b'y' * 40)
    seeds['edge-base-offset-max'] = init + moof(1, [tfhd(1, flags=0, base=(1 << 64) - 8), tfdt(0), trun([(1, 10)], 0x301, 4)]) + box(b'mdat', b'y' * 10)
    # Decode times and durations at their extremes.
    seeds['edge-tfdt-max'] = init + moof(1, [tfhd(1), tfdt((1 << 64) - 1), trun([(0xffffffff, 1), (0xffffffff, 1)], 0x301, 0)]) + box(b'mdat', b'y' * 2)
    seeds['edge-cts-extremes'] = init + moof(1, [tfhd(1), tfdt(0), trun([(1, 1, 0, -0x80000000), (1, 1, 0x10000, 0x7fffffff)], 0xf01, 0)]) + box(b'mdat', b'yy')
    # Deeply nested boxes inside a moof and inside the moov.
    nest = b''
    for _ in range(3000):
        nest = box(b'traf', nest)
    seeds['edge-deep-moof'] = init + box(b'moof', nest)
    nest = b''
    for _ in range(3000):
        nest = box(b'trak', nest)
    seeds['edge-deep-moov'] = ftyp + box(b'moov', nest + box(b'mvex'))
    # 65 tracks (one more than RECORDING_MAX_TRACKS), cloned from the first trak.
    mo = moov[8:]
    traks = [mo[o:o + s] for o, s, t in top_boxes(mo) if t == b'trak']
    rest = b''.join(mo[o:o + s] for o, s, t in top_boxes(mo) if t != b'trak')
    def retrack(trak, tid):
        t = bytearray(trak)
        i = t.find(b'tkhd')
        v = t[i + 4]
        t[i + 4 + 4 + (16 if v else 8):i + 4 + 4 + (16 if v else 8) + 4] = struct.pack('>I', tid)
        return bytes(t)
    seeds['edge-65-tracks'] = ftyp + box(b'moov', rest + b''.join(retrack(traks[0], i) for i in range(1, 66))) + fragment(1, 65, 0, [3])
    seeds['edge-duplicate-track'] = ftyp + box(b'moov', rest + traks[0] + traks[0]) + fragment(1, 1, 0, [3])
    # Structure out of order.
    seeds['edge-moof-before-moov'] = ftyp + fragment(1, 1, 0, [3]) + moov
    seeds['edge-two-moovs'] = init + moov + fragment(1, 1, 0, [3])
    seeds['edge-mdat-first'] = ftyp + box(b'mdat', b'm' * 20) + moov
    seeds['edge-unknown-track'] = init + fragment(1, 9, 0, [3]) + fragment(2, 1, 0, [4])
    seeds['edge-junk-tail'] = good + bytes(range(256)) * 2
    seeds['edge-styp-sidx'] = init + box(b'styp', b'msdhisom') + full(b'sidx', 1, 0, b'\0' * 28) + fragment(1, 1, 0, [7, 7])
    seeds['edge-empty-truns'] = init + moof(1, [tfhd(1), tfdt(0), trun([], 0x301, 0), trun([], 0x301, 0)]) + box(b'mdat')
    seeds['edge-sample-flags'] = init + fragment(1, 1, 0, [1, 2, 3], sflags=0x01010000) + fragment(2, 1, 0, [4], sflags=0x02000000)
    for name, data in seeds.items():
        with open(os.path.join(out, name + '.mp4'), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
