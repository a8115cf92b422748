/* ts_packet.h — the MPEG-TS packet layer (ISO/IEC 13818-1 2.4.3) shared by
 * the indexer and the gathering read.
 *
 * A packet is named by the source offset of its sync byte.  Packets follow
 * one another at the stride (188, 192 for M2TS with its 4-byte timecode in
 * front, 204 with 16 Reed-Solomon bytes behind); where the next sync byte is
 * missing (garbage, a cut) the walk resynchronises on a 0x47 confirmed by
 * two more at the stride.  The rules depend on nothing but the bytes, so the
 * read that gathers a sample walks exactly the packets the indexer walked.
 *
 * TsEsWalk turns the packets of one PID into its elementary stream bytes
 * (PES headers skipped, duplicates and damaged packets dropped), starting at
 * an elementary stream byte the indexer recorded: that is the gather.
 */
#pragma once

#include "source.h"

G_BEGIN_DECLS

#define TS_PACKET 188
#define TS_SYNC 0x47
#define TS_PID_NULL 0x1fff

/* A window over the source: reads it in large sequential pieces. */
typedef struct {
  const Source *src;
  guint8 *buf;
  gsize cap;
  guint64 start;        /* source offset of buf[0] */
  gsize len;
  gsize back;           /* bytes before a missed offset a refill starts at */
} TsReader;

void ts_reader_init (TsReader *r, const Source *src, gsize window);
void ts_reader_clear (TsReader *r);
/* Points at n bytes at offset, or NULL when they are not (yet) in the source
 * (ts_reader_fill: the same, through the window's refill).  A miss refills the window from r->back bytes before offset (a quarter of
 * the window unless changed), so a walk that steps back a little (samples
 * laid out in the order they complete) does not read again. */
const guint8 *ts_reader_fill (TsReader *r, guint64 offset, gsize n);
static inline const guint8 *
ts_reader_get (TsReader *r, guint64 offset, gsize n)
{
  /* Inline: the gather asks for every packet it walks, nearly always held. */
  if (offset >= r->start && n <= r->len && offset - r->start <= r->len - n && offset <= r->src->size &&
      n <= r->src->size - offset)
    return r->buf + (offset - r->start);
  return ts_reader_fill (r, offset, n);
}

typedef struct {
  guint stride;         /* 188, 192 or 204 */
  guint64 first;        /* the first packet's sync byte */
} TsFormat;

/* Finds the packet size and first packet: five sync bytes at the stride. */
typedef enum { TS_FORMAT_NO, TS_FORMAT_NEED_MORE, TS_FORMAT_YES } TsFormatResult;
TsFormatResult ts_format_detect (const guint8 *data, gsize len, TsFormat *out);

typedef struct {
  guint16 pid;
  gboolean tei;             /* transport_error_indicator */
  gboolean pusi;            /* payload_unit_start_indicator */
  guint8 scrambling;
  guint8 cc;
  gboolean has_payload;
  gboolean discontinuity;   /* adaptation field discontinuity_indicator */
  gboolean random_access;
  gboolean stuffed;         /* the adaptation field has stuffing bytes: muxers stuff a PES's last packet */
  guint8 payload_start;     /* offset of the payload in the 188 bytes */
  guint8 payload_len;
} TsHeader;

/* Parses the 188 bytes at p (sync byte first); FALSE if they are no valid packet. */
gboolean ts_header_parse (const guint8 *p, TsHeader *h);

typedef enum { TS_NEXT_OK, TS_NEXT_NEED_MORE } TsNextResult;
/* The packet at or after expected: expected itself if it starts with a sync
 * byte (the stream is in step), else the first 0x47 after it with two more
 * at the stride.  *skipped is set when bytes were passed over. */
TsNextResult ts_next_packet (TsReader *r, guint stride, guint64 expected, guint64 *packet, gboolean *skipped);

/* The PES header (2.4.3.6) read from the first payload bytes of a PES, which
 * may span packets.  ts_pes_header_reset() clears each field but buf (once
 * per sample in the gather): a field added here is cleared there. */
typedef struct {
  guint8 buf[9 + 255];
  guint len;            /* bytes collected */
  guint need;           /* bytes the header takes; 0 until known */
  gboolean done;
  gboolean bad;
  guint8 stream_id;
  guint32 packet_length;     /* 0: unbounded */
  gboolean has_pts, has_dts;
  guint64 pts, dts;          /* 33 bits */
} TsPesHeader;

void ts_pes_header_reset (TsPesHeader *h);
/* Consumes header bytes from p; returns how many were taken (the rest is
 * elementary stream data once h->done). */
gsize ts_pes_header_feed (TsPesHeader *h, const guint8 *p, gsize n);

/* Walks one PID's elementary stream from a recorded position, through a
 * reader it borrows (one window serves the many samples of a read). */
typedef struct {
  TsReader *reader;
  guint stride;
  guint16 pid;
  guint64 packet;            /* current packet */
  guint pos;                 /* next ES byte within it */
  guint end;                 /* payload end within it */
  gboolean in_header;
  TsPesHeader header;
  guint8 cc;
  gboolean started;
} TsEsWalk;

void ts_es_walk_init (TsEsWalk *w, TsReader *reader, guint stride, guint16 pid, guint64 packet, guint in_packet);
/* Points *out at the next run of elementary stream bytes (at most max);
 * returns its length, 0 when the source ends or is unreadable. */
gsize ts_es_walk_next (TsEsWalk *w, gsize max, const guint8 **out);
/* Copies exactly n bytes; FALSE if the stream ends first. */
gboolean ts_es_walk_read (TsEsWalk *w, guint8 *dest, gsize n);

/* CRC-32/MPEG-2 of a PSI section. */
guint32 ts_crc32 (const guint8 *p, gsize n);

G_END_DECLS
