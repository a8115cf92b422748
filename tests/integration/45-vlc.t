#!/usr/bin/env bash
# VLC (Debian's vlc-bin with vlc-plugin-base, VLC 3) plays every virtual file of the player
# corpus (players.sh: every source format) to the end, with no demuxer or decoder error, and
# decodes every video frame and all the audio of the source.
#
# How the frames are counted.  VLC refuses to run as root, so as root it runs as `nobody`
# (runuser; the mount is made with -o allow_other, which root may always use, and the test's
# directories are opened to others); as another user it runs as that user.  cvlc plays each
# file once, in real time (3 s a file), with the `yuv` video output writing every picture it
# displays to a YUV4MPEG2 file and the `afile` audio output writing the decoded audio to a WAV
# file.  --no-drop-late-frames, --no-skip-frames and --no-avcodec-hurry-up keep VLC from
# dropping, skipping or cutting corners on pictures that are late (the machine may be busy),
# and --no-video-title-show keeps the file name off the pictures, so each picture is exactly
# the decoder's: the test compares them, MD5 by MD5, with the frames FFmpeg decodes from the
# source (framemd5).  The yuv output writes the picture due at each display time, so it is a
# faithful record only in the middle: under load it may write a picture twice (the next one
# was not ready), and it may miss the very first (the video output is rebuilt while VLC
# gives up on hardware decoding) and the very last (VLC 3 ends the input once the decoders
# are drained and --play-and-exit closes the video output with it, before the last picture's
# display time; every time when the video track starts with an empty edit, its first frame
# shown at 80 ms, and ends last, as in the video-only and Matroska recordings here, and
# exactly so for an MP4 that FFmpeg writes with the same edit list, `ffmpeg -i V.mp4 -c copy
# -output_ts_offset 0.08 -movflags +faststart`: 74 of 75 pictures, against 75 without the
# edit).  So: with a picture written twice in a row counted once, VLC's pictures must be the
# source's frames, in order, every one of them, but that the first and the last may be
# missing.  (VLC's statistics, libvlc_media_get_stats, count 151 decoded pictures for 75
# frames in VLC 3.0.24, and `--sout '#transcode{vcodec=I420}:std{...}'` does not drain the
# decoder at the end and lost 3 of 75 frames even of an MP4 written by FFmpeg: neither is a
# usable count.)
#
# The log is VLC's own (--verbose 2).  A line "... demux error", "main input error", "main
# stream error", "access error" or "<codec module> decoder error" fails the file.  "main
# decoder error: failed to create video output" and the filter and vout-display errors around
# it are not errors of the file: VLC 3 first asks the decoder for VA-API and VDPAU pictures
# (even with --avcodec-hw=none), fails to build a video output for them (no GPU here) and
# logs some 200 errors before it settles on software decoding.
#
# Audio: the WAV must last as long as FFmpeg's decode of the source's first audio stream,
# within two audio frames (2 x 1024 samples of AAC, 2 x 960 of Opus): decoders differ in
# whether they drop the encoder's priming samples (an edit list's media time, Opus's
# pre-skip), which is one frame at most.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/players.sh"
require_fuse
require_tool cvlc
AS_USER=()
if [[ $(id -u) == 0 ]]; then
  require_tool runuser:util-linux
  AS_USER=(runuser -u nobody --)
fi

PER_FILE=3
plan $((${#CORPUS[@]} * PER_FILE + 3))

T=$(make_tmp)
SRC=$T/src MNT=$T/mnt W=$T/work
mkdir -p "$SRC" "$W"
make_corpus "$SRC" >"$W/corpus.log" 2>&1 || { cat "$W/corpus.log"; bail_out "cannot record the corpus"; }

# VLC's user must reach the mount (search permission on the test's directories) and write
# its output and its home (VLC creates ~/.config/vlc and ~/.local/share/vlc).
VOUT=$T/vlc-out
mkdir -p "$VOUT/home"
chmod 711 "$(dirname "$T")" "$T"
chmod 1777 "$VOUT" "$VOUT/home"
MOUNT_OPTS=()
[[ $(id -u) == 0 ]] && MOUNT_OPTS=(-o allow_other)
check "mount the corpus${MOUNT_OPTS[*]:+ (${MOUNT_OPTS[*]})}" mount_fs "$SRC" "$MNT" "${MOUNT_OPTS[@]}" ||
  bail_out "cannot mount"
as_vlc_user() { "${AS_USER[@]}" "$@"; }
check "VLC's user (${AS_USER[2]:-$(id -un)}) reads the mount" as_vlc_user dd if="$MNT/av.mp4" of=/dev/null bs=4096 count=1 status=none ||
  bail_out "VLC's user cannot read the mount"

# vlc_play FILE OUT: plays FILE with cvlc; OUT.y4m (pictures), OUT.wav (audio), OUT.log.
vlc_play() {
  local f=$1 out=$2
  to 60 "${AS_USER[@]}" env HOME="$VOUT/home" XDG_RUNTIME_DIR= DISPLAY= \
    cvlc -I dummy --no-dbus --verbose 2 --play-and-exit --no-loop --no-repeat \
    --no-media-library --no-metadata-network-access --no-sub-autodetect-file \
    --no-video-title-show --no-osd --no-spu \
    --no-drop-late-frames --no-skip-frames --no-avcodec-hurry-up --avcodec-skip-frame=0 --avcodec-skiploopfilter=0 \
    --avcodec-hw=none \
    --vout=yuv --yuv-file="$out.y4m" --yuv-yuv4mpeg2 --yuv-chroma=I420 \
    --aout=afile --audiofile-file="$out.wav" --audiofile-wav \
    "$f" </dev/null >"$out.log" 2>&1
}

# y4m_compare Y4M SOURCE: the pictures of a YUV4MPEG2 file (4:2:0) against the frames
# FFmpeg decodes from SOURCE's first video stream, by MD5; prints the verdict; fails unless,
# with repeats merged, they are the source's frames in order, all of them but that the first
# and the last may be missing (see above).
y4m_compare() {
  local ref
  ref=$(make_tmp)/ref.md5
  to 60 ffmpeg -nostdin -v error -i "$2" -map 0:v:0 -pix_fmt yuv420p -f framemd5 "$ref" || return 1
  to 60 python3 - "$1" "$ref" <<'EOF'
import hashlib, sys
ref = [l.split(',')[-1].strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith('#')]
try:
    data = open(sys.argv[1], 'rb').read()
except OSError as e:
    data = b''
got = []
if data:
    nl = data.index(b'\n')
    hdr = data[:nl].split()
    if hdr[0] != b'YUV4MPEG2':
        sys.exit('not YUV4MPEG2: %r' % data[:40])
    p = dict((t[:1], t[1:]) for t in hdr[1:])
    w, h = int(p[b'W']), int(p[b'H'])
    if not p.get(b'C', b'420jpeg').startswith(b'420'):
        sys.exit('not 4:2:0: %r' % data[:nl])
    size = w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)
    off = nl + 1
    while off < len(data):
        e = data.index(b'\n', off)
        if not data[off:e].startswith(b'FRAME'):
            sys.exit('no FRAME header at offset %d' % off)
        if e + 1 + size > len(data):
            sys.exit('a truncated frame at the end')
        got.append(hashlib.md5(data[e + 1:e + 1 + size]).hexdigest())
        off = e + 1 + size
def collapse(seq):
    return [x for i, x in enumerate(seq) if i == 0 or x != seq[i - 1]]
shown, frames = collapse(got), collapse(ref)
print('VLC showed %d pictures (%d of them a repeat of the one before), FFmpeg decodes %d frames from the source:'
      % (len(got), len(got) - len(shown), len(ref)))
n = len(frames)
for a, b, what in ((0, n, 'all of them, in order'), (1, n, 'all but the first, in order'),
                   (0, n - 1, 'all but the last, in order'), (1, n - 1, 'all but the first and the last, in order')):
    if n and shown == frames[a:b]:
        print(what)
        sys.exit(0)
where = [frames.index(x) if x in frames else None for x in shown]
bad = [i for i, w in enumerate(where) if w is None]
if bad:
    print('picture %d (after repeats are merged) is no frame of the source' % bad[0])
else:
    missing = sorted(set(range(n)) - set(where))
    order = all(where[i] < where[i + 1] for i in range(len(where) - 1))
    print('frames missing: %s%s' % (missing[:20], '' if order else '; not in order: %s' % where[:40]))
sys.exit(1)
EOF
}

# wav_seconds FILE: the duration of a WAV file.
wav_seconds() {
  to 30 python3 -c 'import sys, wave; w = wave.open(sys.argv[1]); print("%.6f" % (w.getnframes() / w.getframerate()))' "$1"
}

for name in "${CORPUS[@]}"; do
  desc="$name ($(corpus_desc "$name"))"
  if ! virt=$(corpus_virtual "$MNT" "$name"); then
    for ((i = 0; i < PER_FILE; i++)); do fail "$desc: shown as an MP4"; done
    continue
  fi
  src=$(ls "$SRC/$name".* | head -n 1)
  out=$VOUT/$name
  vlc_play "$virt" "$out"
  rc=$?
  cp "$out.log" "$W/$name.vlc.log" 2>/dev/null

  # 1. played to the end with no demuxer or decoder error
  errors=$(grep -E '^\[[0-9a-f]+\] ([a-z0-9_]+ )?(demux( meta)?|input( source)?|stream|access) error|^\[[0-9a-f]+\] [a-z0-9_]+ decoder error' "$out.log" |
    grep -v 'main decoder error: failed to create video output' | sed 's/^\[[0-9a-f]*\] /  /' | sort | uniq -c)
  if ((rc == 0)) && [[ -z $errors ]] && grep -q 'EOF reached' "$out.log"; then
    pass "$desc: VLC demuxes and decodes it to the end (EOF) with no demuxer or decoder error"
  else
    fail "$desc: VLC demuxes and decodes it to the end (EOF) with no demuxer or decoder error"
    diag "  cvlc exit $rc; EOF reached: $(grep -c 'EOF reached' "$out.log"); errors:" "${errors:-  (none)}"
    diag "  its demuxer's and decoders' warnings and errors:"
    diag "$(grep -E ' (demux|decoder|input|stream) (warning|error)' "$out.log" | sed 's/^\[[0-9a-f]*\] /    /' | sort | uniq -c | head -n 40)"
  fi
  note "$name: VLC's demuxer said: $(grep -E '^\[[0-9a-f]+\] mp4 demux (warning|error)' "$out.log" |
    sed 's/^\[[0-9a-f]*\] mp4 demux //' | sort | uniq -c | awk '{ $1 = $1 "x"; print }' | paste -sd';' -)"

  # 2. every video frame
  if [[ -z $(to 30 ffprobe -v error -select_streams v:0 -show_entries stream=index -of csv=p=0 "$src") ]]; then
    [[ ! -s $out.y4m ]]
    ok $? "$desc: no video stream, VLC shows no picture"
  else
    y4m_compare "$out.y4m" "$src" >"$W/$name.frames" 2>&1
    ok $? "$desc: VLC's pictures are the frames FFmpeg decodes from the source, in order (MD5)" ||
      diag_file "$W/$name.frames"
    note "$name: $(paste -sd' ' "$W/$name.frames")"
  fi

  # 3. the audio
  if ! to 60 ffmpeg -nostdin -v error -y -i "$src" -map 0:a:0 -c:a pcm_s16le -f wav "$W/$name.ref.wav" 2>"$W/$name.ref.log"; then
    [[ ! -s $out.wav ]]
    ok $? "$desc: no audio stream, VLC writes no audio"
  else
    ref=$(wav_seconds "$W/$name.ref.wav")
    got=$(wav_seconds "$out.wav" 2>/dev/null || echo 0)
    codec=$(to 30 ffprobe -v error -select_streams a:0 -show_entries stream=codec_name -of csv=p=0 "$src")
    rate=$(to 30 ffprobe -v error -select_streams a:0 -show_entries stream=sample_rate -of csv=p=0 "$src")
    frame=1024
    [[ $codec == opus ]] && frame=960
    tol=$(awk -v f="$frame" -v r="$rate" 'BEGIN { printf "%.6f", 2 * f / r }')
    awk -v a="$got" -v b="$ref" -v t="$tol" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
    ok $? "$desc: VLC decodes ${got} s of $codec audio, FFmpeg ${ref} s from the source (within $tol s)"
  fi
done

check "daemon exits cleanly after unmount" unmount_fs "$MNT"
