/* ts_private.h — what the MPEG-TS indexer's files share.  ts.h describes
 * the design.
 *
 *   ts_packet.c  packets, resynchronisation, PES headers, the ES walk
 *   ts_nal.c     H.264/HEVC access units, parameter sets, avcC/hvcC
 *   ts_audio.c   ADTS, AC-3/E-AC-3 and MPEG audio frame headers
 *   ts.c         the IndexerClass: packets to streams, PAT/PMT
 *   ts_gather.c  the produced payload (read_payload): samples found
 *                through the chunks, gathered from their packets
 *   ts_locator.c where each sample begins in the source, compact
 *   ts_es.c      elementary streams to samples: access units and frames,
 *                timing, sample entries, the queue of samples to append
 */
#pragma once

#include "bytes.h"
#include "codecs.h"
#include "ts.h"
#include "ts_audio.h"
#include "ts_locator.h"
#include "ts_nal.h"
#include "ts_packet.h"

G_BEGIN_DECLS

/* Largest access unit or frame accepted; a larger one is dropped. */
#define TS_MAX_SAMPLE (32u << 20)
/* Locators (ts_locator.h) hold source offsets below this. */
#define TS_MAX_SOURCE (1ull << 40)
/* Completed samples queued before they are appended (in the order they
 * completed, so the payload does not depend on how the source was fed). */
#define TS_FLUSH_SAMPLES 64
/* A step back in a stream's timestamps, or a jump forward larger than an
 * stts delta can carry (90 kHz), is a discontinuity: the stream continues
 * where it was.  A smaller jump forward is a gap, carried as it is (issue
 * 13; FFmpeg's command line closes up jumps of more than 10 s in a TS, its
 * -dts_delta_threshold, where the issue wants the gap); one of more than
 * TS_NOTE_GAP is noted. */
#define TS_MAX_GAP (12ll * 3600 * 90000)
#define TS_NOTE_GAP (10ll * 90000)

typedef enum { TS_KIND_VIDEO, TS_KIND_AUDIO } TsKind;

typedef struct {
  guint64 es_pos;         /* ES position of the packet's first ES byte */
  guint64 packet;
  guint8 in_packet;
} TsSpan;

typedef struct {
  guint64 es_pos;         /* where the PES's data begins in the ES */
  gboolean has_pts, has_dts, used;
  guint64 pts, dts;       /* 33-bit */
} TsPesStart;

typedef struct {
  guint16 pid;
  guint8 stream_type;
  TsKind kind;
  TsVideoCodec video;
  TsAudioCodec audio;
  guint index;            /* in TsState.streams */
  char language[4];
  Track *track;           /* NULL if left out */
  gboolean left_out;
  gboolean configured;

  /* Packets and PES. */
  gboolean have_cc;
  guint8 cc;
  gboolean in_pes;        /* FALSE: waiting for a payload start */
  gboolean in_header;
  TsPesHeader header;
  guint64 pes_left;       /* ES bytes a bounded PES still has; 0 if unbounded */
  gboolean bounded;
  gboolean last_stuffed;  /* the last packet's adaptation field was stuffed (the PES may end there) */

  /* The elementary stream not yet made into samples. */
  GByteArray *es;
  guint64 es_base;        /* ES position of es->data[0] */
  GArray *spans;          /* TsSpan */
  GArray *pes;            /* TsPesStart */

  /* Video access units. */
  gboolean au_open, au_has_slice;
  guint64 au_start, scan_pos, nal_start;
  TsVideoConfig vconfig;
  GArray *nals;

  /* Audio frames. */
  guint64 frame_pos;
  guint32 sample_rate;
  guint8 opus_channels;
  guint pce_trim;         /* AAC with a PCE: bytes FFmpeg's remux removes from the first frame */

  /* Timing, in the track's timescale (absolute, unwrapped). */
  guint32 timescale;
  gboolean timed;
  gint64 next_dts, last_dts, last_duration, first_dts;
  gint64 max_end;         /* the latest presentation time + duration so far */
  gint64 offset90;        /* added to the source's timestamps after a discontinuity */
  gboolean has_first_ts;
  gint64 first_ts;        /* 90 kHz, unwrapped: the stream's earliest first timestamp */
  gint64 last_pending;    /* index in TsState.pending of the newest sample, or -1 */

  /* Per appended sample (read under the recording's lock). */
  TsLocators locators;
  gboolean damage_noted;
} TsStream;

typedef struct {
  guint stream;
  SampleInfo info;
  guint64 es_offset;      /* source offset of the sample's first ES byte */
} TsPending;

typedef struct {
  guint8 buf[4096];
  guint len;
  gboolean active;
  guint8 last[4096];      /* the last section parsed */
  guint last_len;
} TsSection;

/* A source window kept between reads of the payload, so that a sequential
 * read of the virtual file reads the source about once.  Several, so that
 * concurrent reads (the kernel's readahead, other handles) each find one; a
 * read takes one whose lock is free (it never waits) and holds it to its
 * end.  Bytes of a recording's source never change under a window. */
#define TS_GATHER_WINDOWS 4
typedef struct {
  GMutex lock;
  gboolean set;
  TsReader reader;
  int fd;                       /* the source it holds bytes of */
  const guint8 *data;
  guint64 next;                 /* payload offset where its last read ended */
} TsGatherWindow;

typedef struct {
  TsFormat format;
  gboolean format_known;
  guint64 pos;                  /* where the next packet is expected */
  guint16 pmt_pid;
  gboolean have_pat, have_pmt;
  guint8 pmt_version;
  TsSection pat, pmt;
  GPtrArray *streams;           /* TsStream* */
  guint8 pid_stream[8192];      /* stream index + 1, 0 if none */
  GArray *pending;              /* TsPending */
  /* Packets found by resynchronising, in source order: packets lie at
   * format.first + k * stride until the first, then at each + k * stride
   * until the next (read under the recording's lock). */
  GArray *resyncs;              /* guint64 */
  gboolean have_ref;
  gint64 ts_ref;                /* unwrapping reference, 90 kHz */
  gboolean origin_known;
  gint64 origin;                /* 90 kHz: presentation time 0 of the MP4 */
  gboolean resync_noted, tei_noted, gap_noted;
  /* The first PMT was just read: the packets before it are read again, now
   * that their streams are known (GStreamer writes audio before the PMT). */
  gboolean rewind;
  /* Source windows kept between reads (ts_gather.c). */
  TsGatherWindow windows[TS_GATHER_WINDOWS];
} TsState;

/* ---- ts_es.c ------------------------------------------------------------- */

TsStream *ts_stream_new (void);
void ts_stream_free (TsStream *s);
/* A packet's payload for s: handles PES starts and the ES bytes. */
void ts_stream_payload (TsState *st, Recording *rec, TsStream *s, const TsHeader *h, guint64 packet,
                        const guint8 *payload);
/* A continuity break at a PES start: what was received ends there. */
void ts_stream_joined (TsState *st, Recording *rec, TsStream *s);
/* The source ends here for good: the access unit of an unbounded PES is
 * complete (queued); TRUE if one was. */
gboolean ts_stream_finish (TsState *st, Recording *rec, TsStream *s);
/* A missing or damaged packet: the sample being assembled is dropped. */
void ts_stream_damaged (TsState *st, Recording *rec, TsStream *s, const char *why);
/* Appends the queued samples if the origin is known (or force). */
void ts_flush (TsState *st, Recording *rec, gboolean force);
gint64 ts_unwrap (TsState *st, guint64 ts33);
/* Notes, once, a jump forward of gap90 (90 kHz) carried as a gap. */
void ts_note_gap (TsState *st, Recording *rec, TsStream *s, gint64 gap90);

/* ---- ts_gather.c --------------------------------------------------------- */

void ts_gather_init (TsState *st);
void ts_gather_clear (TsState *st);
/* IndexerClass.read_payload: produces payload bytes [offset, offset + len). */
gboolean ts_gather_read (gpointer data, Recording *rec, const Source *src, guint64 offset, guint8 *dest, gsize len);

G_END_DECLS
