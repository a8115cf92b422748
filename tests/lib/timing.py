#!/usr/bin/env python3
"""Differential timing checks for the livemp4fs integration tests: every packet of every
stream, its data, its keyframe flag and its presentation time, as two independent readers
(FFmpeg's ffprobe and GStreamer's demuxers) read a source recording and its virtual MP4.

  timing.py compare SRC VIRT [--tolerance S] [--readers ffprobe,gst]
        per stream (matched by type and order): packet data hashes and keyframe flags equal in
        order; presentation times equal within S, relative to each file's start (the earliest
        presentation time of any stream), so the A/V start offsets are compared too; where each
        stream's presentation ends (last pts + duration) equal within one packet duration.
        Default S: 0.0005 s for an MP4 source, 0.0015 s for Matroska (block times are in ms).
  timing.py prefix A B [--tolerance S] [--readers ...] [--streams-apart]
        A's packets are the first packets of B's, per stream, with the same times (snapshots).
        --streams-apart (compare and prefix): each stream's times relative to its own first
        packet, for a file that cannot know its A/V start offset (a moov-less MP4's walk).
        --common (prefix): per stream, the shorter's packets are the first of the longer's (two
        copies of one recording cut at different points).
  timing.py counts SRC VIRT
        the same number of packets per stream (as ffprobe counts them).
  timing.py dump FILE [--readers ...]
        what the readers read, one packet a line.
  timing.py gaps FILE MIN
        succeeds if an audio stream of FILE has a hole of at least MIN seconds: the next
        packet's pts more than one packet duration plus MIN after a packet's (ffprobe's reading).
  timing.py trun FILE
        a fragmented MP4's trun boxes per track: versions, sample count, zero durations and
        the smallest composition offset.
  timing.py caps FILE
        per video stream, the sizes (WxH) of the decoded frames in order, run-length encoded.

What each reader does differently, and is taken off its reading here (each checked against
the other reader, and against FFmpeg's own `-c copy -movflags +faststart` remux):
  - GStreamer: times are running times (buffer pts through its segment: edit lists applied as a
    player applies them), except for matroskademux, whose raw block times are taken: its first
    segment starts at the first block read and a later one moves the start back without a new
    base, so running times of its first buffers are early (23 ms for FFmpeg's x264 + AAC).
  - GStreamer: matroskademux clamps an Opus track's first block, which starts CodecDelay before
    zero, to 0 (GstClockTime is unsigned); it is put back at minus the pre-skip.
  - GStreamer: header buffers (FLAC's CodecPrivate from matroskademux) are not packets.
  - GStreamer: qtdemux leaves out every sample of a fragment that the end of the file cuts
    short; for such a source its reading is compared as a prefix, and the virtual file is
    counted against ffprobe's reading of the source.
  - ffprobe: a sample cut by the end of the file ("partial file") is no packet.
  - ffprobe: a fragment's negative composition offsets (trun version 1, CMAF) come out shifted
    by the smallest of them (the first frame of a CMAF video 40 ms late); the shift is taken
    off, and then ffprobe reads the source as GStreamer does.

Readings are cached in $TIMING_CACHE (if set), keyed by path, size, mtime and inode.
Exit status: 0 if equal, 1 if a difference was found, 2 if a reader failed.
"""
import hashlib
import json
import os
import re
import statistics
import struct
import subprocess
import sys
from fractions import Fraction

READERS = ('ffprobe', 'gst')
MAX_SHOWN = 5            # differing packets shown per stream and check


class ReadError(Exception):
    pass


def is_matroska(path):
    with open(path, 'rb') as f:
        return f.read(4) == b'\x1a\x45\xdf\xa3'


# ----------------------------------------------------------------------------- readers ----

def read_ffprobe(path):
    """{'streams': [{'type', 'codec', 'packets': [[pts, dts, dur, key, size, md5], ...]}]}
    (times in seconds as floats, None where unknown), in stream index order."""
    cmd = ['ffprobe', '-v', 'error', '-show_data_hash', 'MD5', '-show_packets',
           '-show_entries',
           'packet=stream_index,pts,dts,duration,flags,size,pos,data_hash:'
           'stream=index,id,codec_type,codec_name,time_base,width,height,sample_rate',
           '-of', 'json', path]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if p.returncode != 0:
        raise ReadError('ffprobe failed (exit %d): %s' % (p.returncode, p.stderr.decode(errors='replace')[:2000]))
    j = json.loads(p.stdout)
    streams = []
    tbs = {}
    for s in j.get('streams', []):
        tb = Fraction(s.get('time_base', '1/1'))
        tbs[s['index']] = tb
        info = s.get('codec_name', '?')
        if s.get('codec_type') == 'video':
            info += ' %sx%s' % (s.get('width'), s.get('height'))
        elif s.get('codec_type') == 'audio':
            info += ' %s Hz' % s.get('sample_rate')
        streams.append({'index': s['index'], 'id': s.get('id'), 'type': s.get('codec_type', '?'), 'codec': s.get('codec_name', '?'),
                        'info': info, 'packets': []})
    byindex = {s['index']: s for s in streams}

    def t(v, tb):
        return None if v is None else float(int(v) * tb)
    for pk in j.get('packets', []):
        s = byindex.get(pk['stream_index'])
        if s is None:
            continue
        tb = tbs[pk['stream_index']]
        flags = pk.get('flags', '')
        s['packets'].append([t(pk.get('pts'), tb), t(pk.get('dts'), tb), t(pk.get('duration'), tb),
                             'K' in flags, int(pk.get('size', 0)),
                             pk.get('data_hash', '').split(':')[-1], 'D' in flags, int(pk.get('pos', -1))])
    err = p.stderr.decode(errors='replace')
    for m in re.finditer(r'stream (\d+), offset (0x[0-9a-f]+|\d+): partial file', err):
        # FFmpeg's MP4 demuxer returns a sample cut short by the end of the file (a recorder
        # killed mid-write) with the bytes there are; it is no frame (GStreamer drops it).
        st = byindex.get(int(m.group(1)))
        fsize = os.path.getsize(path)
        if st:
            n = len(st['packets'])
            st['packets'] = [pk for pk in st['packets'] if not (0 <= pk[7] < fsize <= pk[7] + pk[4])]
            if len(st['packets']) != n:
                st['info'] += ' (a sample cut by the end of the file left out)'
    if not is_matroska(path):
        # FFmpeg's MP4 demuxer (5.1) reads a fragment's negative composition offsets (trun
        # version 1, CMAF) as if shifted by the smallest of them: a CMAF video track whose
        # first frame is composed at 0, as GStreamer and browsers read it, comes out 40 ms
        # (one frame of B-frame delay) late, and so does FFmpeg's own remux of it.  Take the
        # shift off again, so that both readers are compared with what the file says.
        truns = trun_stats(path)
        for s in streams:
            try:
                tid = int(str(s.get('id', '')), 0)
            except ValueError:
                continue
            t = truns.get(tid)
            if t and t['min_cts'] is not None and t['min_cts'] < 0 and s['packets']:
                shift = float(Fraction(-t['min_cts']) * tbs[s['index']])
                for pk in s['packets']:
                    if pk[0] is not None:
                        pk[0] -= shift
                s['info'] += ' (pts less %.6f s: negative trun offsets)' % shift
    err = p.stderr.decode(errors='replace').strip()
    return {'streams': streams, 'warnings': err.splitlines()[:20] if err else []}


def read_gst(path):
    """As read_ffprobe, through filesrc ! qtdemux|matroskademux ! appsink (one a pad).  Times
    are running times (the buffer's pts through its segment, as a sink synchronises it), so
    edit lists and segment starts are applied as a player applies them."""
    try:
        import gi
        gi.require_version('Gst', '1.0')
        from gi.repository import Gst
    except (ImportError, ValueError) as e:
        raise ReadError('GStreamer Python bindings missing (python3-gi, python3-gst-1.0, '
                        'gir1.2-gstreamer-1.0): %s' % e)
    Gst.init(None)
    mkv = is_matroska(path)
    demux_name = 'matroskademux' if mkv else 'qtdemux'
    pipe = Gst.Pipeline.new('timing')
    src = Gst.ElementFactory.make('filesrc', None)
    demux = Gst.ElementFactory.make(demux_name, None)
    if src is None or demux is None:
        raise ReadError('GStreamer element filesrc or %s missing' % demux_name)
    src.set_property('location', path)
    pipe.add(src)
    pipe.add(demux)
    src.link(demux)
    streams = []
    NONE = Gst.CLOCK_TIME_NONE

    def running(seg, ts):
        if ts == NONE or ts is None:
            return None
        if seg is None or seg.format != Gst.Format.TIME:
            return ts / 1e9
        sign, rt = seg.to_running_time_full(Gst.Format.TIME, ts)
        if sign == 0:
            return None
        return sign * rt / 1e9

    def on_sample(sink, st):
        sample = sink.emit('pull-sample')
        if sample is None:
            return Gst.FlowReturn.EOS
        buf = sample.get_buffer()
        if buf.get_flags() & Gst.BufferFlags.HEADER:
            # Codec configuration, not a frame: matroskademux sends FLAC's (and Vorbis's)
            # CodecPrivate headers as buffers too; qtdemux keeps them in the caps.
            st['headers'] = st.get('headers', 0) + 1
            return Gst.FlowReturn.OK
        caps = sample.get_caps()
        cs = caps.to_string() if caps else '?'
        if not st['caps'] or st['caps'][-1] != cs:
            st['caps'].append(cs)
        seg = sample.get_segment()
        ok, info = buf.map(Gst.MapFlags.READ)
        md5 = hashlib.md5(bytes(info.data)).hexdigest() if ok else '?'
        if ok:
            buf.unmap(info)
        dur = None if buf.duration == NONE else buf.duration / 1e9
        delta = bool(buf.get_flags() & Gst.BufferFlags.DELTA_UNIT)
        if mkv:
            # matroskademux's timestamps are the block times (its segments apply no edit);
            # its first segment starts at the first block it reads and a second one, sent
            # when an earlier block follows (B-frames, audio before video), moves the start
            # back without a new base: through the segments the first buffers would be read
            # up to that difference (23 ms for FFmpeg's x264 + AAC) early.
            pts = None if buf.pts == NONE else buf.pts / 1e9
            dts = None if buf.dts == NONE else buf.dts / 1e9
        else:
            pts, dts = running(seg, buf.pts), running(seg, buf.dts)
        st['packets'].append([pts, dts, dur, not delta, buf.get_size(), md5, False, None])
        return Gst.FlowReturn.OK

    def on_pad(element, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        name = caps.get_structure(0).get_name() if caps and caps.get_size() else '?'
        typ = name.split('/')[0] if '/' in name else '?'
        st = {'index': len(streams), 'type': typ, 'codec': name, 'pad': pad.get_name(),
              'caps': [], 'packets': []}
        streams.append(st)
        sink = Gst.ElementFactory.make('appsink', None)
        sink.set_property('sync', False)
        sink.set_property('async', False)
        sink.set_property('emit-signals', True)
        sink.connect('new-sample', on_sample, st)
        pipe.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad('sink'))

    demux.connect('pad-added', on_pad)
    warnings = []
    error = None
    if pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        error = 'cannot start the pipeline'
    bus = pipe.get_bus()
    while error is None:
        msg = bus.timed_pop_filtered(120 * Gst.SECOND,
                                     Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.WARNING)
        if msg is None:
            error = 'no end of stream within 120 s'
        elif msg.type == Gst.MessageType.EOS:
            break
        elif msg.type == Gst.MessageType.ERROR:
            e, dbg = msg.parse_error()
            error = '%s: %s (%s)' % (msg.src.get_name(), e.message, dbg)
        elif msg.type == Gst.MessageType.WARNING:
            e, dbg = msg.parse_warning()
            warnings.append('%s: %s' % (msg.src.get_name(), e.message))
    pipe.set_state(Gst.State.NULL)
    if error:
        raise ReadError('GStreamer (%s) on %s: %s' % (demux_name, path, error))
    for st in streams:
        ps = st['packets']
        if mkv and st['type'] == 'audio' and len(ps) >= 3 and ps[0][0] == 0.0 and ps[1][0] is not None:
            # GstClockTime is unsigned: matroskademux clamps a block that starts before zero
            # once the codec delay is taken off (Opus: CodecDelay, the pre-skip, 6.5 ms) to 0;
            # FFmpeg reads it at its negative time.  The first block is at 0 (a Matroska
            # recording starts there), so it is presented at minus the pre-skip.
            step = typical_duration({'packets': ps[1:]})
            m = re.search(r'streamheader=\(buffer\)< ?4f707573486561(64[0-9a-f]{8})', st['caps'][0] if st['caps'] else '')
            # (The second block may come late by a few ms: a live recorder's clock.)
            if 0 < ps[1][0] < 1.5 * step:
                if m:
                    head = bytes.fromhex(m.group(1))
                    ps[0][0] = -struct.unpack('<H', head[3:5])[0] / 48000.0
                else:
                    ps[0][0] = ps[1][0] - step
                st['clamped'] = True
        st['info'] = st['caps'][0][:200] if st['caps'] else st['codec']
        if len(st['caps']) > 1:
            st['info'] += ' (%d caps)' % len(st['caps'])
    return {'streams': streams, 'warnings': warnings, 'demuxer': demux_name}


def read(reader, path):
    st = os.stat(path)
    cache = os.environ.get('TIMING_CACHE')
    key = None
    if cache:
        key = hashlib.md5(('%s\n%s\n%d\n%d\n%d\n3' % (reader, os.path.realpath(path), st.st_size,
                                                     st.st_mtime_ns, st.st_ino)).encode()).hexdigest()
        f = os.path.join(cache, 'timing.%s.json' % key)
        if os.path.exists(f):
            with open(f) as fh:
                return json.load(fh)
    r = (read_ffprobe if reader == 'ffprobe' else read_gst)(path)
    if cache:
        os.makedirs(cache, exist_ok=True)
        tmp = os.path.join(cache, 'timing.%s.json.%d' % (key, os.getpid()))
        with open(tmp, 'w') as fh:
            json.dump(r, fh)
        os.replace(tmp, os.path.join(cache, 'timing.%s.json' % key))
    return r


# ----------------------------------------------------------------------------- compare ----

def match_streams(a, b):
    """Pairs (label, sa, sb) matched by type and order within the type; unmatched ones are
    paired with None."""
    out = []
    types = []
    for s in a['streams'] + b['streams']:
        if s['type'] not in types:
            types.append(s['type'])
    for t in types:
        la = [s for s in a['streams'] if s['type'] == t]
        lb = [s for s in b['streams'] if s['type'] == t]
        for i in range(max(len(la), len(lb))):
            out.append(('%s#%d' % (t, i), la[i] if i < len(la) else None, lb[i] if i < len(lb) else None))
    return out


def start_of(r):
    """The file's start: the earliest presentation time of any packet."""
    ts = [p[0] for s in r['streams'] for p in s['packets'] if p[0] is not None]
    return min(ts) if ts else 0.0


def typical_duration(s):
    ds = [p[2] for p in s['packets'] if p[2]]
    if ds:
        return statistics.median(ds)
    pts = sorted(p[0] for p in s['packets'] if p[0] is not None)
    deltas = [y - x for x, y in zip(pts, pts[1:]) if y > x]
    return statistics.median(deltas) if deltas else 0.0


def end_of(s):
    """Where the stream's presentation ends: max(pts + duration) over the packets the reader
    presents (not those FFmpeg discards); one without a duration counts with the stream's
    typical one."""
    td = typical_duration(s)
    ends = [p[0] + (p[2] if p[2] is not None else td) for p in s['packets'] if p[0] is not None and not p[6]]
    return max(ends) if ends else None


def fmt(v):
    return 'none' if v is None else '%.6f' % v


def first_pts(s):
    ts = [p[0] for p in s['packets'] if p[0] is not None]
    return min(ts) if ts else None


def qtdemux_trimmed_tail(reader, sa, sb):
    """qtdemux (GStreamer 1.22) leaves out the last sample of an audio track whose edit starts
    past media time 0 (Opus pre-skip) and ends inside that sample (an end trim, DiscardPadding):
    it ends the segment at the edit's duration in media time without adding the edit's start.
    FFmpeg's own MP4 output of the same Opus stream loses the same sample in GStreamer, while
    ffprobe reads it (the virtual file's edit is exact: pre-skip cut, the end trim kept).  Only
    that case passes: one audio sample fewer, the last one, shorter than the others."""
    pa, pb = sa['packets'], sb['packets']
    if reader != 'gst' or sa.get('type') != 'audio' or len(pb) != len(pa) - 1 or len(pa) < 2:
        return False
    last, before = pa[-1], pa[-2]
    if last[2] is None or before[2] is None or not last[2] < before[2]:
        return False
    return all(pa[i][5] == pb[i][5] for i in range(len(pb)))


def compare_readings(reader, ra, rb, tol, prefix=False, names=('src', 'virt'), apart=False, common=False):
    """Returns a list of difference lines (empty if equal) and a list of summary lines.
    apart: each stream's times relative to its own first packet (the A/V offset not compared).
    common (with prefix): per stream, the first packets of the shorter are the longer's."""
    diffs, summary = [], []
    t0a, t0b = start_of(ra), start_of(rb)
    na, nb = names
    for label, sa, sb in match_streams(ra, rb):
        if apart and sa is not None and sb is not None and sa['packets'] and sb['packets']:
            t0a, t0b = first_pts(sa), first_pts(sb)
        tag = '%s: %s' % (reader, label)
        if sa is None or sb is None:
            if prefix and sb is not None and sa is None:
                continue
            if prefix and sa is not None and sb is None and not sa['packets']:
                continue
            diffs.append('%s: only in %s (%s)' % (tag, na if sb is None else nb,
                                                    (sa or sb)['info']))
            continue
        pa, pb = sa['packets'], sb['packets']
        summary.append('%s: %s %d packets, %s %d packets; start %s / %s, end %s / %s (relative)' % (
            tag, na, len(pa), nb, len(pb),
            fmt(first_pts(sa) - t0a if pa else None), fmt(first_pts(sb) - t0b if pb else None),
            fmt(end_of(sa) - t0a if pa else None), fmt(end_of(sb) - t0b if pb else None)))
        if sa['codec'] != sb['codec']:
            diffs.append('%s: codec %s vs %s' % (tag, sa['codec'], sb['codec']))
        # Packet count, data and keyframe flags, in order.
        if prefix:
            if len(pa) > len(pb) and not common:
                diffs.append('%s: %d packets in %s, only %d in %s' % (tag, len(pa), na, len(pb), nb))
        elif len(pa) != len(pb) and not qtdemux_trimmed_tail(reader, sa, sb):
            diffs.append('%s: %d packets in %s, %d in %s' % (tag, len(pa), na, len(pb), nb))
        n = min(len(pa), len(pb))
        bad = [i for i in range(n) if pa[i][5] != pb[i][5]]
        if bad:
            diffs.append('%s: %d of %d packets differ in data (size/md5); first at packet %d:' % (
                tag, len(bad), n, bad[0]))
            for i in bad[:MAX_SHOWN]:
                diffs.append('   #%d %s size %d md5 %s | %s size %d md5 %s' % (
                    i, na, pa[i][4], pa[i][5][:12], nb, pb[i][4], pb[i][5][:12]))
        badk = [i for i in range(n) if pa[i][3] != pb[i][3]]
        if badk:
            diffs.append('%s: %d of %d keyframe flags differ; first at packet %d:' % (tag, len(badk), n, badk[0]))
            for i in badk[:MAX_SHOWN]:
                diffs.append('   #%d pts %s/%s key %s in %s, %s in %s' % (
                    i, fmt(pa[i][0]), fmt(pb[i][0]), pa[i][3], na, pb[i][3], nb))
        # Packets the reader discards (FFmpeg: outside the edit list, flag D) in the virtual
        # file only: the source presents them, the virtual file does not.
        iv, ir = (pa, pb) if prefix else (pb, pa)
        dropped = [i for i in range(n) if iv[i][6] and not ir[i][6]]
        if dropped:
            i = dropped[0]
            diffs.append('%s: %d packets that the source presents are discarded in %s (outside its edit '
                         'list); first at packet %d: pts %s, dts %s' % (
                             tag, len(dropped), na if prefix else nb, i, fmt(iv[i][0]), fmt(iv[i][1])))
        # Presentation times relative to each file's start.
        badt = []
        for i in range(n):
            xa, xb = pa[i][0], pb[i][0]
            if xa is None and xb is None:
                continue
            if xa is None or xb is None or abs((xa - t0a) - (xb - t0b)) > tol + 1e-6:
                badt.append(i)
        if badt:
            diffs.append('%s: %d of %d presentation times differ by more than %gs '
                         '(relative to each file\'s start: %s %s, %s %s); first at packet %d:' % (
                             tag, len(badt), n, tol, na, fmt(t0a), nb, fmt(t0b), badt[0]))
            for i in badt[:MAX_SHOWN]:
                ra_, rb_ = pa[i][0], pb[i][0]
                d = '' if ra_ is None or rb_ is None else ' (%+.6f)' % ((rb_ - t0b) - (ra_ - t0a))
                diffs.append('   #%d pts %s %s, %s %s%s  [dur %s / %s]' % (
                    i, na, fmt(None if ra_ is None else ra_ - t0a), nb,
                    fmt(None if rb_ is None else rb_ - t0b), d, fmt(pa[i][2]), fmt(pb[i][2])))
        if not pa or not pb:
            continue
        # Start offset (A/V offset) and end.
        sa0, sb0 = first_pts(sa), first_pts(sb)
        if sa0 is not None and sb0 is not None and abs((sa0 - t0a) - (sb0 - t0b)) > tol + 1e-6:
            diffs.append('%s: starts %s after the file\'s start in %s, %s in %s (%+.6f)' % (
                tag, fmt(sa0 - t0a), na, fmt(sb0 - t0b), nb, (sb0 - t0b) - (sa0 - t0a)))
        if not prefix:
            ea, eb = end_of(sa), end_of(sb)
            frame = max(typical_duration(sa), tol)
            if abs((ea - t0a) - (eb - t0b)) > frame + tol + 1e-6:
                diffs.append('%s: presentation ends at %s in %s, %s in %s (%+.6f; one packet: %.6f)' % (
                    tag, fmt(ea - t0a), na, fmt(eb - t0b), nb, (eb - t0b) - (ea - t0a), frame))
    return diffs, summary


def mp4_rules(reader, r, name, tol):
    """What the design asks of the virtual file's tables, as a reader sees them: decode
    times strictly increase in every stream (never a zero or negative stts delta), and an
    audio packet's presentation time is its decode time (never a gap hidden in audio ctts)."""
    out = []
    for s in r['streams']:
        ps = s['packets']
        back = [i for i in range(1, len(ps))
                if ps[i][1] is not None and ps[i - 1][1] is not None and ps[i][1] <= ps[i - 1][1]]
        if back:
            i = back[0]
            out.append('%s: %s stream %d: decode times do not increase at %d of %d packets; first at '
                       'packet %d: dts %s after %s' % (reader, name, s['index'], len(back), len(ps), i,
                                                        fmt(ps[i][1]), fmt(ps[i - 1][1])))
        if s['type'] == 'audio':
            off = [i for i, p in enumerate(ps)
                   if p[0] is not None and p[1] is not None and abs(p[0] - p[1]) > tol / 2 + 1e-6]
            if off:
                i = off[0]
                out.append('%s: %s stream %d: %d audio packets presented apart from their decode time '
                           '(composition offsets); first at packet %d: pts %s, dts %s' % (
                               reader, name, s['index'], len(off), i, fmt(ps[i][0]), fmt(ps[i][1])))
    return out


def cut_fragment(path):
    """A fragmented MP4 whose last top-level box runs past the end of the file."""
    if is_matroska(path):
        return False
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        off = 0
        while off + 8 <= size:
            f.seek(off)
            n, typ = struct.unpack('>I4s', f.read(8))
            if n == 1:
                n = struct.unpack('>Q', f.read(8))[0]
            elif n == 0:
                return False
            if n < 8:
                return False
            if off + n > size:
                return True
            off += n
    return False


def default_tolerance(src):
    return 0.0015 if is_matroska(src) else 0.0005


def parse_opts(args):
    opts = {'tolerance': None, 'readers': list(READERS), 'apart': False, 'common': False}
    rest = []
    i = 0
    while i < len(args):
        if args[i] == '--tolerance':
            opts['tolerance'] = float(args[i + 1])
            i += 2
        elif args[i] == '--streams-apart':
            opts['apart'] = True
            i += 1
        elif args[i] == '--common':
            opts['common'] = True
            i += 1
        elif args[i] == '--readers':
            opts['readers'] = args[i + 1].split(',')
            i += 2
        else:
            rest.append(args[i])
            i += 1
    return opts, rest


def cmd_compare(args, prefix=False):
    opts, (a, b) = parse_opts(args)
    tol = opts['tolerance']
    if tol is None:
        tol = max(default_tolerance(a), default_tolerance(b))
    names = ('A', 'B') if prefix else ('src', 'virt')
    all_diffs, all_summary, status = [], [], 0
    for reader in opts['readers']:
        try:
            ra, rb = read(reader, a), read(reader, b)
        except ReadError as e:
            all_diffs.append('%s: %s' % (reader, e))
            status = 2
            continue
        if reader == 'gst' and not prefix and cut_fragment(a):
            # qtdemux leaves out every sample of a fragment whose mdat the end of the file cuts
            # short, complete ones too; FFmpeg reads those.  So GStreamer's reading of such a
            # source is only a prefix of its complete samples: compare it as one, and count
            # the virtual file's samples against FFmpeg's reading of the source.
            d, s = compare_readings(reader, ra, rb, tol, True, names)
            try:
                fa = read('ffprobe', a)
            except ReadError as e:
                fa = {'streams': []}
            for label, sa, sb in match_streams(fa, rb):
                if sa is None or sb is None or not sa['packets'] or not sb['packets']:
                    continue
                if len(sa['packets']) != len(sb['packets']):
                    d.append('%s: %s: %d packets in %s, the source has %d complete ones (as ffprobe reads '
                             'it; qtdemux reads only a prefix of a source cut inside a fragment)' % (
                                 reader, label, len(sb['packets']), names[1], len(sa['packets'])))
                ea, eb = end_of(sa) - start_of(fa), end_of(sb) - start_of(rb)
                frame = max(typical_duration(sa), tol)
                if abs(ea - eb) > frame + tol + 1e-6:
                    d.append('%s: %s: presentation ends at %s in %s, at %s in the source as ffprobe reads it '
                             '(%+.6f; one packet: %.6f)' % (reader, label, fmt(eb), names[1], fmt(ea), eb - ea, frame))
            s = [x + ' [source cut inside a fragment: compared as a prefix]' for x in s]
        else:
            d, s = compare_readings(reader, ra, rb, tol, prefix, names, opts['apart'], opts['common'])
        virt, ref, vname = (ra, rb, names[0]) if prefix else (rb, ra, names[1])
        d += mp4_rules(reader, virt, vname, tol)
        for w in virt.get('warnings', []):
            if w not in ref.get('warnings', []):
                d.append('%s: warning reading %s only: %s' % (reader, vname, w))
        all_diffs += d
        all_summary += s
    what = 'a prefix of' if prefix else 'the same as'
    if all_diffs:
        print('%s is not %s %s (readers: %s; tolerance %gs):' % (b if not prefix else a, what,
                                                                  a if not prefix else b,
                                                                  ','.join(opts['readers']), tol))
        for line in all_diffs:
            print(line)
        print('--- summary')
    for line in all_summary:
        print(line)
    return status or (1 if all_diffs else 0)



def cmd_counts(args):
    a, b = args
    ra, rb = read('ffprobe', a), read('ffprobe', b)
    ca = ' '.join('%s:%d' % (s['type'], len(s['packets'])) for s in ra['streams'])
    cb = ' '.join('%s:%d' % (s['type'], len(s['packets'])) for s in rb['streams'])
    print('packets per stream: source %s, virtual %s' % (ca, cb))
    return 0 if ca == cb else 1


def cmd_dump(args):
    opts, (path,) = parse_opts(args)
    for reader in opts['readers']:
        r = read(reader, path)
        for w in r.get('warnings', []):
            print('%s warning: %s' % (reader, w))
        for s in r['streams']:
            print('%s stream %d %s %s (%d packets)' % (reader, s['index'], s['type'], s['info'], len(s['packets'])))
            for i, p in enumerate(s['packets']):
                print('  %4d pts %s dts %s dur %s %s %6d %s%s' % (i, fmt(p[0]), fmt(p[1]), fmt(p[2]),
                                                              'K' if p[3] else '_', p[4], p[5][:12],
                                                              ' D' if p[6] else ''))
    return 0


def cmd_gaps(args):
    path, least = args[0], float(args[1])
    r = read('ffprobe', path)
    best = 0.0
    for s in r['streams']:
        if s['type'] != 'audio':
            continue
        ps = sorted((p for p in s['packets'] if p[0] is not None), key=lambda p: p[0])
        step = typical_duration(s)
        for x, y in zip(ps, ps[1:]):
            # An MP4 source carries a hole as a longer duration of the packet before it.
            hole = y[0] - x[0] - step
            if hole > best:
                best = hole
                where = '%s: audio hole of %.3f s after the packet at %.3f (next at %.3f; packets of %.3f s)' % (
                    path, hole, x[0], y[0], step)
    if best >= least:
        print(where)
        return 0
    print('%s: largest audio hole %.3f s, less than %.3f s' % (path, best, least))
    return 1


# ------------------------------------------------------------------------- fMP4 boxes ----

def boxes(data, off, end):
    while off + 8 <= end:
        size, typ = struct.unpack('>I4s', data[off:off + 8])
        hl = 8
        if size == 1:
            size = struct.unpack('>Q', data[off + 8:off + 16])[0]
            hl = 16
        elif size == 0:
            size = end - off
        if size < hl or off + size > end:
            return
        yield typ.decode('latin-1'), off + hl, off + size
        off += size


def cmd_trun(args):
    tracks = trun_stats(args[0])
    for tid in sorted(tracks, key=lambda x: x or 0):
        t = tracks[tid]
        print('track %s: %d trun (%d version 1), %d samples, %d zero durations, %d negative '
              'composition offsets (smallest %s)' % (tid, t['runs'], t['v1'], t['samples'], t['zero_dur'],
                                                     t['neg_cts'], t['min_cts']))
    return 0


def trun_stats(path):
    """Per track id of a fragmented MP4: its trun boxes, samples, zero durations and
    composition offsets."""
    with open(path, 'rb') as f:
        data = f.read()
    tracks = {}
    for typ, b, e in boxes(data, 0, len(data)):
        if typ != 'moof':
            continue
        for t2, b2, e2 in boxes(data, b, e):
            if t2 != 'traf':
                continue
            tid = None
            default_dur = None
            for t3, b3, e3 in boxes(data, b2, e2):
                if t3 == 'tfhd':
                    vf = struct.unpack('>I', data[b3:b3 + 4])[0]
                    flags = vf & 0xffffff
                    tid = struct.unpack('>I', data[b3 + 4:b3 + 8])[0]
                    p = b3 + 8
                    if flags & 1:
                        p += 8
                    if flags & 2:
                        p += 4
                    if flags & 8:
                        default_dur = struct.unpack('>I', data[p:p + 4])[0]
                elif t3 == 'trun':
                    vf = struct.unpack('>I', data[b3:b3 + 4])[0]
                    version, flags = vf >> 24, vf & 0xffffff
                    count = struct.unpack('>I', data[b3 + 4:b3 + 8])[0]
                    p = b3 + 8
                    if flags & 1:
                        p += 4
                    if flags & 4:
                        p += 4
                    t = tracks.setdefault(tid, {'runs': 0, 'v1': 0, 'samples': 0, 'zero_dur': 0,
                                                'min_cts': None, 'neg_cts': 0})
                    t['runs'] += 1
                    t['v1'] += version == 1
                    for _ in range(count):
                        dur = default_dur
                        if flags & 0x100:
                            dur = struct.unpack('>I', data[p:p + 4])[0]
                            p += 4
                        if flags & 0x200:
                            p += 4
                        if flags & 0x400:
                            p += 4
                        if flags & 0x800:
                            c = struct.unpack('>i' if version == 1 else '>I', data[p:p + 4])[0]
                            p += 4
                            t['min_cts'] = c if t['min_cts'] is None else min(t['min_cts'], c)
                            t['neg_cts'] += c < 0
                        t['samples'] += 1
                        t['zero_dur'] += dur == 0
    return tracks


def cmd_caps(args):
    """Sizes of the decoded video frames, in presentation order, run-length encoded."""
    path = args[0]
    p = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v', '-show_entries',
                        'frame=width,height', '-of', 'csv=p=0', path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    runs = []
    for line in p.stdout.decode().split():
        wh = 'x'.join(line.split(',')[:2])
        if runs and runs[-1][0] == wh:
            runs[-1][1] += 1
        else:
            runs.append([wh, 1])
    print(' '.join('%s*%d' % (s, n) for s, n in runs))
    err = p.stderr.decode(errors='replace').strip()
    if err:
        print(err[:2000])
    return 0 if p.returncode == 0 and not err else 1


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == 'compare':
            return cmd_compare(args)
        if cmd == 'prefix':
            return cmd_compare(args, prefix=True)
        if cmd == 'counts':
            return cmd_counts(args)
        if cmd == 'dump':
            return cmd_dump(args)
        if cmd == 'gaps':
            return cmd_gaps(args)
        if cmd == 'trun':
            return cmd_trun(args)
        if cmd == 'caps':
            return cmd_caps(args)
    except ReadError as e:
        print(e)
        return 2
    print(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
