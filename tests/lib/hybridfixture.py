#!/usr/bin/env python3
"""Rewrites a fragmented MP4 that FFmpeg wrote here (-movflags frag_keyframe, with or without
empty_moov; tfhd base data offsets absolute, as FFmpeg writes them by default) into the hybrid
MP4 layouts of the recorders we cannot run here, in every state their finalisation passes
through.  Sample bytes never change; boxes move around them and every offset follows.

  hybridfixture.py obs SRC OUTDIR      OBS Studio's hybrid MP4 (plugins/obs-outputs/mp4-mux.c,
                                       mp4_flush_fragment / mp4_mux_finalise), from an
                                       empty_moov SRC:
     obs-0-growing.mp4   ftyp(iso6) free(16: room for a 64-bit mdat header) moov(mvex)
                         moof mdat ...            (while recording)
     obs-1-moov-part.mp4 ... and the first half of the full moov (being written)
     obs-2-moov.mp4      ... moov(full, every sample; chunk offsets into the fragments' mdats)
     obs-3-ftyp.mp4      the ftyp rewritten (same size: brand obs1 where iso6 was)
     obs-4-finished.mp4  the free box's first 8 bytes rewritten as an mdat header that covers
                         the old moov and every moof up to the full moov
  hybridfixture.py ffmpeg SRC OUTDIR   FFmpeg 7.1's -movflags hybrid_fragmented
                                       (libavformat/movenc.c: mov_write_header,
                                       mov_write_trailer), from a SRC whose moov carries the
                                       first fragment (no empty_moov):
     ff-0-growing.mp4    ftyp free(8) moov(mvex, first fragment) mdat moof mdat ...
     ff-1-header.mp4     the old moov's header rewritten as an mdat header that runs to the
                         end of the fragments (no moov anywhere yet)
     ff-2-moov-part.mp4  ... and the first half of the full moov
     ff-3-finished.mp4   ... and the whole full moov
  hybridfixture.py boxes FILE          the top-level boxes, "offset size type" a line
"""
import os
import struct
import sys

import mp4fixture
from mp4fixture import box, serialize, top_boxes

# mp4fixture's containers and the fragments'.
CONTAINERS = mp4fixture.CONTAINERS | {b'mvex', b'moof', b'traf'}


def parse(body):
    return mp4fixture.parse(body, CONTAINERS)


def child(boxes, typ):
    for b in boxes:
        if b[0] == typ:
            return b
    return None


def walk(boxes, typ):
    for b in boxes:
        if b[0] == typ:
            yield b
        if isinstance(b[1], list):
            yield from walk(b[1], typ)


def u32(b, at):
    return struct.unpack('>I', b[at:at + 4])[0]


# ---- samples ---------------------------------------------------------------------------------

class Sample:
    __slots__ = ('offset', 'size', 'duration', 'cts', 'sync')

    def __init__(self, offset, size, duration, cts, sync):
        self.offset, self.size, self.duration, self.cts, self.sync = offset, size, duration, cts, sync


def stbl_samples(stbl):
    """The samples an stbl lists (FFmpeg's first fragment in the moov), in decode order."""
    def body(t):
        b = child(stbl, t)
        return b[1] if b else None
    stts, ctts, stss, stsz, stsc = body(b'stts'), body(b'ctts'), body(b'stss'), body(b'stsz'), body(b'stsc')
    stco, co64 = body(b'stco'), body(b'co64')
    n = u32(stsz, 8)
    if n == 0:
        return [], []
    const = u32(stsz, 4)
    sizes = [const] * n if const else [u32(stsz, 12 + 4 * i) for i in range(n)]
    durs = []
    for i in range(u32(stts, 4)):
        durs += [u32(stts, 12 + 8 * i)] * u32(stts, 8 + 8 * i)
    ctss = []
    if ctts:
        for i in range(u32(ctts, 4)):
            ctss += [struct.unpack('>i', ctts[12 + 8 * i:16 + 8 * i])[0]] * u32(ctts, 8 + 8 * i)
    ctss += [0] * (n - len(ctss))
    sync = None if stss is None else {u32(stss, 8 + 4 * i) - 1 for i in range(u32(stss, 4))}
    offsets = ([u32(stco, 8 + 4 * i) for i in range(u32(stco, 4))] if stco else
               [struct.unpack('>Q', co64[8 + 8 * i:16 + 8 * i])[0] for i in range(u32(co64, 4))])
    runs = [(u32(stsc, 8 + 12 * i), u32(stsc, 12 + 12 * i)) for i in range(u32(stsc, 4))]
    out, chunks, s = [], [], 0
    for c, off in enumerate(offsets):
        per = [r for r in runs if r[0] <= c + 1][-1][1]
        chunks.append((off, per))
        for _ in range(per):
            out.append(Sample(off, sizes[s], durs[s], ctss[s], sync is None or s in sync))
            off += sizes[s]
            s += 1
    return out, chunks


def trex_defaults(moov):
    d = {}
    for _, t in walk(moov, b'trex'):
        d[u32(t, 4)] = (u32(t, 12), u32(t, 16), u32(t, 20))   # duration, size, flags
    return d


def moof_samples(moof_body, moof_start, trex):
    """{track_ID: [Sample]} of one moof; chunks as [(track_ID, first index, count)]."""
    out, chunks = {}, []
    for _, traf in walk(parse(moof_body), b'traf'):
        tfhd = child(traf, b'tfhd')[1]
        flags = u32(tfhd, 0) & 0xffffff
        tid = u32(tfhd, 4)
        at = 8
        base = moof_start
        if flags & 1:
            base = struct.unpack('>Q', tfhd[at:at + 8])[0]
            at += 8
        if flags & 2:
            at += 4
        ddur, dsize, dflags = trex.get(tid, (0, 0, 0))
        if flags & 8:
            ddur = u32(tfhd, at)
            at += 4
        if flags & 0x10:
            dsize = u32(tfhd, at)
            at += 4
        if flags & 0x20:
            dflags = u32(tfhd, at)
        lst = out.setdefault(tid, [])
        pos = base
        for typ, trun in traf:
            if typ != b'trun':
                continue
            tf = u32(trun, 0) & 0xffffff
            count = u32(trun, 4)
            at = 8
            if tf & 1:
                pos = base + struct.unpack('>i', trun[at:at + 4])[0]
                at += 4
            first_flags = None
            if tf & 4:
                first_flags = u32(trun, at)
                at += 4
            first = len(lst)
            for i in range(count):
                dur, size, fl, cts = ddur, dsize, dflags, 0
                if i == 0 and first_flags is not None:
                    fl = first_flags
                if tf & 0x100:
                    dur = u32(trun, at)
                    at += 4
                if tf & 0x200:
                    size = u32(trun, at)
                    at += 4
                if tf & 0x400:
                    fl = u32(trun, at)
                    at += 4
                if tf & 0x800:
                    cts = struct.unpack('>i', trun[at:at + 4])[0]
                    at += 4
                lst.append(Sample(pos, size, dur, cts, not (fl & 0x01010000)))
                pos += size
            chunks.append((tid, first, count))
    return out, chunks


# ---- the full moov ---------------------------------------------------------------------------

def full_moov(init_moov, tracks, chunks):
    """The moov a finalising muxer writes: init_moov's tracks with every sample, no mvex.
    tracks: {track_ID: [Sample]}; chunks: {track_ID: [(offset, count)]}."""
    moov = [list(b) for b in init_moov if b[0] != b'mvex']
    mvhd = child(moov, b'mvhd')
    movie_ts = u32(mvhd[1], 12 if mvhd[1][0] == 0 else 20)
    longest = 0
    for trak in [b for b in moov if b[0] == b'trak']:
        tkhd = child(trak[1], b'tkhd')
        tid = u32(tkhd[1], 12 if tkhd[1][0] == 0 else 20)
        samples = tracks.get(tid, [])
        mdia = child(trak[1], b'mdia')
        mdhd = child(mdia[1], b'mdhd')
        ts = u32(mdhd[1], 12 if mdhd[1][0] == 0 else 20)
        dur = sum(s.duration for s in samples)
        v = mdhd[1]
        mdhd[1] = (v[:16] + struct.pack('>I', dur) + v[20:] if v[0] == 0 else
                   v[:20] + struct.pack('>IQ', ts, dur) + v[32:])
        mdur = dur * movie_ts // ts if ts else 0
        longest = max(longest, mdur)
        v = tkhd[1]
        tkhd[1] = (v[:20] + struct.pack('>I', min(mdur, 0xffffffff)) + v[24:] if v[0] == 0 else
                   v[:28] + struct.pack('>Q', mdur) + v[36:])
        stbl = child(child(mdia[1], b'minf')[1], b'stbl')
        stsd = child(stbl[1], b'stsd')
        new = [stsd]
        runs = []
        for s in samples:
            if runs and runs[-1][1] == s.duration:
                runs[-1][0] += 1
            else:
                runs.append([1, s.duration])
        new.append([b'stts', struct.pack('>II', 0, len(runs)) + b''.join(struct.pack('>II', *r) for r in runs)])
        if any(s.cts for s in samples):
            neg = any(s.cts < 0 for s in samples)
            cr = []
            for s in samples:
                if cr and cr[-1][1] == s.cts:
                    cr[-1][0] += 1
                else:
                    cr.append([1, s.cts])
            new.append([b'ctts', struct.pack('>BBHI', 1 if neg else 0, 0, 0, len(cr)) +
                        b''.join(struct.pack('>Ii', *r) for r in cr)])
        if not all(s.sync for s in samples):
            keys = [i + 1 for i, s in enumerate(samples) if s.sync]
            new.append([b'stss', struct.pack('>II', 0, len(keys)) + b''.join(struct.pack('>I', k) for k in keys)])
        ch = chunks.get(tid, [])
        sc = []
        for i, (_, count) in enumerate(ch):
            if not sc or sc[-1][1] != count:
                sc.append((i + 1, count))
        new.append([b'stsc', struct.pack('>II', 0, len(sc)) + b''.join(struct.pack('>III', c, n, 1) for c, n in sc)])
        new.append([b'stsz', struct.pack('>III', 0, 0, len(samples)) +
                    b''.join(struct.pack('>I', s.size) for s in samples)])
        wide = any(off >= 1 << 32 for off, _ in ch)
        new.append([b'co64' if wide else b'stco', struct.pack('>II', 0, len(ch)) +
                    b''.join(struct.pack('>Q' if wide else '>I', off) for off, _ in ch)])
        stbl[1] = new
    v = mvhd[1]
    mvhd[1] = (v[:16] + struct.pack('>I', min(longest, 0xffffffff)) + v[20:] if v[0] == 0 else
               v[:24] + struct.pack('>Q', longest) + v[32:])
    return box(b'moov', serialize(moov))


def shift_moof(body, delta):
    """A moof body with every tfhd base data offset moved by delta."""
    moof = parse(body)
    for b in walk(moof, b'tfhd'):
        if u32(b[1], 0) & 1:
            b[1] = b[1][:8] + struct.pack('>Q', struct.unpack('>Q', b[1][8:16])[0] + delta) + b[1][16:]
    return serialize(moof)


def shift_stco(moov, delta):
    for b in walk(moov, b'stco'):
        n = u32(b[1], 4)
        b[1] = b[1][:8] + b''.join(struct.pack('>I', u32(b[1], 8 + 4 * i) + delta) for i in range(n))
    for b in walk(moov, b'co64'):
        n = u32(b[1], 4)
        b[1] = b[1][:8] + b''.join(struct.pack('>Q', struct.unpack('>Q', b[1][8 + 8 * i:16 + 8 * i])[0] + delta)
                                   for i in range(n))


def relay(src, head):
    """SRC's moov and fragments (no mfra) after `head` (ftyp and placeholder bytes): the bytes,
    the init moov (parsed), and where the fragments end."""
    data = open(src, 'rb').read()
    tops = top_boxes(data)
    types = [t[3] for t in tops]
    if b'moov' not in types or b'moof' not in types:
        sys.exit('%s: want a fragmented MP4, got %s' % (src, types))
    m = tops[types.index(b'moov')]
    delta = len(head) - m[0]
    out = bytearray(head)
    moov = parse(data[m[0] + m[2]:m[0] + m[1]])
    shift_stco(moov, delta)
    out += box(b'moov', serialize(moov))
    for off, size, hdr, typ in tops[types.index(b'moov') + 1:]:
        if typ == b'moof':
            out += data[off:off + hdr] + shift_moof(data[off + hdr:off + size], delta)
        elif typ in (b'mdat', b'free'):
            out += data[off:off + size]
    return bytes(out), moov


def index(data, moov, moov_at):
    """Every sample of the relaid file and the chunks a finalising muxer lists: FFmpeg's and
    OBS's full moov name one chunk per track and fragment."""
    tracks, chunks = {}, {}
    for trak in walk(moov, b'trak'):
        tid = u32(child(trak[1], b'tkhd')[1], 12 if child(trak[1], b'tkhd')[1][0] == 0 else 20)
        stbl = next(walk(trak[1], b'stbl'))[1]
        tracks[tid], chunks[tid] = stbl_samples(stbl)
    trex = trex_defaults(moov)
    for off, size, hdr, typ in top_boxes(data, moov_at):
        if typ != b'moof':
            continue
        per, runs = moof_samples(data[off + hdr:off + size], off, trex)
        for tid, first, count in runs:
            lst = per[tid][first:first + count]
            if not lst:
                continue
            tracks.setdefault(tid, []).extend(lst)
            chunks.setdefault(tid, []).append((lst[0].offset, count))
    return tracks, chunks


def ftyp_obs(fragmented):
    # mp4_write_ftyp without negative CTS: isom, then iso6 while fragmented (obs1 once finished)
    # as a placeholder of the same size, iso2, avc1, mp41.
    return box(b'ftyp', b'isom' + struct.pack('>I', 0) + b'isom' + (b'iso6' if fragmented else b'obs1') +
               b'iso2avc1mp41')


def write(outdir, name, data):
    with open(os.path.join(outdir, name), 'wb') as f:
        f.write(data)


def obs(src, outdir):
    head = ftyp_obs(True) + struct.pack('>I4sQ', 16, b'free', 0)
    placeholder = len(ftyp_obs(True))
    growing, moov = relay(src, head)
    write(outdir, 'obs-0-growing.mp4', growing)
    tracks, chunks = index(growing, moov, len(head))
    full = full_moov(moov, tracks, chunks)
    write(outdir, 'obs-1-moov-part.mp4', growing + full[:len(full) // 2])
    write(outdir, 'obs-2-moov.mp4', growing + full)
    ftyp = ftyp_obs(False)
    write(outdir, 'obs-3-ftyp.mp4', ftyp + growing[len(ftyp):] + full)
    size = len(growing) - placeholder
    mdat = (struct.pack('>I4sQ', 1, b'mdat', size) if size > 0xffffffff else struct.pack('>I4s', size, b'mdat'))
    done = bytearray(ftyp + growing[len(ftyp):] + full)
    done[placeholder:placeholder + len(mdat)] = mdat
    write(outdir, 'obs-4-finished.mp4', bytes(done))


def ffmpeg(src, outdir):
    data = open(src, 'rb').read()
    ftyp = data[:top_boxes(data)[0][1]]
    head = ftyp + struct.pack('>I4s', 8, b'free')
    growing, moov = relay(src, head)
    if not any(stbl_samples(next(walk(t[1], b'stbl'))[1])[0] for t in walk(moov, b'trak')):
        sys.exit('%s: FFmpeg hybrid_fragmented writes the first fragment into the moov (no empty_moov)' % src)
    write(outdir, 'ff-0-growing.mp4', growing)
    tracks, chunks = index(growing, moov, len(head))
    full = full_moov(moov, tracks, chunks)
    mdat_pos = len(head)
    size = len(growing) - mdat_pos      # mdat_size + 8
    if size > 0xffffffff:
        sys.exit('the 64-bit form (the free placeholder overwritten) is not generated')
    hdr = bytearray(growing)
    hdr[mdat_pos:mdat_pos + 8] = struct.pack('>I4s', size, b'mdat')
    write(outdir, 'ff-1-header.mp4', bytes(hdr))
    write(outdir, 'ff-2-moov-part.mp4', bytes(hdr) + full[:len(full) // 2])
    write(outdir, 'ff-3-finished.mp4', bytes(hdr) + full)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == 'boxes':
        data = open(sys.argv[2], 'rb').read()
        for off, size, _, typ in top_boxes(data):
            print(off, size, typ.decode('latin1'))
        return
    if len(sys.argv) != 4 or sys.argv[1] not in ('obs', 'ffmpeg'):
        sys.exit(__doc__)
    os.makedirs(sys.argv[3], exist_ok=True)
    (obs if sys.argv[1] == 'obs' else ffmpeg)(sys.argv[2], sys.argv[3])


if __name__ == '__main__':
    main()
