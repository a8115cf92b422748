/* fmp4-builder.h — crafts fragmented MP4 files in memory for the unit tests.
 *
 * Header-only (static inline): the Makefile links each tests/unit/test-*.c on
 * its own.  The builder writes ftyp, an empty moov with mvex/trex, and
 * moof+mdat fragments described by FbTraf/FbTrun, filling each sample's bytes
 * with its own value; it records where every sample landed (FbSample with
 * the effective duration, size, flags after the ISO/IEC 14496-12 8.8 default
 * rules) so tests can compare what the indexer found.  fb_visible() expands
 * what a Recording holds for one track into the same form.
 */
#pragma once

#include <string.h>

#include "muxer/bytes.h"
#include "muxer/fmp4.h"
#include "muxer/recording.h"

/* tfhd flags (8.8.7.1) */
#define FB_TFHD_BASE_DATA_OFFSET 0x000001u
#define FB_TFHD_DESCRIPTION_INDEX 0x000002u
#define FB_TFHD_DEFAULT_DURATION 0x000008u
#define FB_TFHD_DEFAULT_SIZE 0x000010u
#define FB_TFHD_DEFAULT_FLAGS 0x000020u
#define FB_TFHD_DURATION_IS_EMPTY 0x010000u
#define FB_TFHD_DEFAULT_BASE_IS_MOOF 0x020000u
/* trun flags (8.8.8.1) */
#define FB_TRUN_DATA_OFFSET 0x000001u
#define FB_TRUN_FIRST_FLAGS 0x000004u
#define FB_TRUN_DURATION 0x000100u
#define FB_TRUN_SIZE 0x000200u
#define FB_TRUN_FLAGS 0x000400u
#define FB_TRUN_COMPOSITION 0x000800u
/* sample flags (8.8.3.1) */
#define FB_NON_SYNC 0x00010000u
#define FB_DEPENDS_YES 0x01000000u
#define FB_DEPENDS_NO 0x02000000u

/* Special tfhd base_data_offset values, resolved by the builder. */
#define FB_MOOF_START G_MAXUINT64           /* the moof's own position */
#define FB_DATA_START (G_MAXUINT64 - 1)     /* where this traf's sample bytes start */

typedef struct {
  guint32 id;
  guint32 handler;             /* 'vide', 'soun' */
  guint32 timescale;
  guint32 trex_description_index;
  guint32 trex_duration;
  guint32 trex_size;
  guint32 trex_flags;
  /* Decode times as a reader takes them (design: "Timing"), kept by
   * fb_fragment: tfdt rules, durations fill in between. */
  gboolean started;
  guint64 next_decode;         /* of the next sample */
  guint64 last_start;          /* of the last sample */
  guint last_index;            /* the last sample in Fmp4Builder.samples, or of the fragment being built */
  gboolean last_in_fragment;
  guint32 last_duration;
} FbTrack;

/* In: the per-sample trun fields.  Out (fb->samples): the effective values. */
typedef struct {
  guint32 duration;
  guint32 size;
  guint32 flags;
  gint32 composition_offset;
  /* filled in by the builder */
  guint32 track_id;
  guint64 offset;              /* in the file */
  guint32 description_index;
  gboolean sync;
  guint8 fill;
} FbSample;

typedef struct {
  guint8 version;
  guint32 flags;
  gboolean explicit_data_offset;   /* else computed to point at the sample bytes */
  gint32 data_offset;
  guint32 first_flags;
  guint n_samples;
  const FbSample *samples;
} FbTrun;

typedef struct {
  guint32 track_id;
  guint32 flags;
  guint64 base_data_offset;
  guint32 description_index;
  guint32 default_duration;
  guint32 default_size;
  guint32 default_flags;
  gboolean tfdt;
  guint8 tfdt_version;
  guint64 decode_time;
  guint n_truns;
  const FbTrun *truns;
} FbTraf;

typedef struct {
  ByteWriter w;
  GArray *tracks;              /* FbTrack */
  GArray *samples;             /* FbSample, in file order */
  guint32 sequence;
  guint8 fill;
  /* Sparse: fb_fragment writes the mdat header (64-bit) but not the sample
   * bytes, which are left to a hole in a sparse file; sparse_payload counts
   * them.  Only the last fragment may be sparse. */
  gboolean sparse;
  guint64 sparse_payload;
} Fmp4Builder;

static inline void
fb_init (Fmp4Builder *b)
{
  *b = (Fmp4Builder) { 0 };
  byte_writer_init (&b->w);
  b->tracks = g_array_new (FALSE, TRUE, sizeof (FbTrack));
  b->samples = g_array_new (FALSE, TRUE, sizeof (FbSample));
  b->sequence = 1;
  b->fill = 0x10;
}

static inline void
fb_clear (Fmp4Builder *b)
{
  byte_writer_clear (&b->w);
  g_array_unref (b->tracks);
  g_array_unref (b->samples);
}

static inline const guint8 *fb_data (const Fmp4Builder *b) { return b->w.buf->data; }
static inline gsize fb_len (const Fmp4Builder *b) { return b->w.buf->len; }

static inline void
fb_ftyp (Fmp4Builder *b)
{
  gsize box = box_begin (&b->w, FOURCC ('f', 't', 'y', 'p'));
  byte_writer_bytes (&b->w, "iso6", 4);
  byte_writer_u32 (&b->w, 0);
  byte_writer_bytes (&b->w, "iso6cmfc", 8);
  box_end (&b->w, box);
}

/* A box of any type with a zeroed body (styp, sidx, free, mfra, ...). */
static inline void
fb_box (Fmp4Builder *b, guint32 type, gsize body_len)
{
  gsize box = box_begin (&b->w, type);
  byte_writer_zeros (&b->w, body_len);
  box_end (&b->w, box);
}

static inline void
fb_matrix (ByteWriter *w)
{
  const guint32 m[9] = { 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000 };
  for (int i = 0; i < 9; i++)
    byte_writer_u32 (w, m[i]);
}

static inline void
fb_empty_table (ByteWriter *w, guint32 type, guint zero_words)
{
  gsize box = box_begin_full (w, type, 0, 0);
  byte_writer_zeros (w, 4 * zero_words);
  box_end (w, box);
}

static inline void
fb_trak (ByteWriter *w, const FbTrack *t)
{
  gboolean video = t->handler == FOURCC ('v', 'i', 'd', 'e');
  gsize trak = box_begin (w, FOURCC ('t', 'r', 'a', 'k'));
  gsize tkhd = box_begin_full (w, FOURCC ('t', 'k', 'h', 'd'), 0, 3);
  byte_writer_zeros (w, 8);
  byte_writer_u32 (w, t->id);
  byte_writer_zeros (w, 4 + 4 + 8);
  byte_writer_u16 (w, 0);
  byte_writer_u16 (w, 0);
  byte_writer_u16 (w, video ? 0 : 0x100);
  byte_writer_u16 (w, 0);
  fb_matrix (w);
  byte_writer_u32 (w, video ? 320u << 16 : 0);
  byte_writer_u32 (w, video ? 240u << 16 : 0);
  box_end (w, tkhd);
  gsize mdia = box_begin (w, FOURCC ('m', 'd', 'i', 'a'));
  gsize mdhd = box_begin_full (w, FOURCC ('m', 'd', 'h', 'd'), 0, 0);
  byte_writer_zeros (w, 8);
  byte_writer_u32 (w, t->timescale);
  byte_writer_u32 (w, 0);
  byte_writer_u16 (w, 0x15c7);   /* "eng" */
  byte_writer_u16 (w, 0);
  box_end (w, mdhd);
  gsize hdlr = box_begin_full (w, FOURCC ('h', 'd', 'l', 'r'), 0, 0);
  byte_writer_u32 (w, 0);
  byte_writer_u32 (w, t->handler);
  byte_writer_zeros (w, 12);
  byte_writer_bytes (w, "fb", 3);
  box_end (w, hdlr);
  gsize minf = box_begin (w, FOURCC ('m', 'i', 'n', 'f'));
  if (video)
    fb_empty_table (w, FOURCC ('v', 'm', 'h', 'd'), 2);
  else
    fb_empty_table (w, FOURCC ('s', 'm', 'h', 'd'), 1);
  gsize dinf = box_begin (w, FOURCC ('d', 'i', 'n', 'f'));
  gsize dref = box_begin_full (w, FOURCC ('d', 'r', 'e', 'f'), 0, 0);
  byte_writer_u32 (w, 1);
  box_end (w, box_begin_full (w, FOURCC ('u', 'r', 'l', ' '), 0, 1));
  box_end (w, dref);
  box_end (w, dinf);
  gsize stbl = box_begin (w, FOURCC ('s', 't', 'b', 'l'));
  /* Three sample entries, so that tests can use description indexes 1..3
   * (samples naming a missing entry make the recording fail). */
  gsize stsd = box_begin_full (w, FOURCC ('s', 't', 's', 'd'), 0, 0);
  byte_writer_u32 (w, 3);
  for (int i = 0; i < 3; i++) {
    gsize entry = box_begin (w, video ? FOURCC ('a', 'v', 'c', '1') : FOURCC ('m', 'p', '4', 'a'));
    byte_writer_zeros (w, 6);
    byte_writer_u16 (w, 1);        /* data_reference_index */
    byte_writer_zeros (w, 8);
    box_end (w, entry);
  }
  box_end (w, stsd);
  fb_empty_table (w, FOURCC ('s', 't', 't', 's'), 1);
  fb_empty_table (w, FOURCC ('s', 't', 's', 'c'), 1);
  fb_empty_table (w, FOURCC ('s', 't', 's', 'z'), 2);
  fb_empty_table (w, FOURCC ('s', 't', 'c', 'o'), 1);
  box_end (w, stbl);
  box_end (w, minf);
  box_end (w, mdia);
  box_end (w, trak);
}

/* An init segment's moov: empty sample tables, and mvex with a trex per track
 * when with_mvex is set. */
static inline void
fb_moov (Fmp4Builder *b, const FbTrack *tracks, guint n, gboolean with_mvex)
{
  ByteWriter *w = &b->w;
  g_array_append_vals (b->tracks, tracks, n);
  gsize moov = box_begin (w, FOURCC ('m', 'o', 'o', 'v'));
  gsize mvhd = box_begin_full (w, FOURCC ('m', 'v', 'h', 'd'), 0, 0);
  byte_writer_zeros (w, 8);
  byte_writer_u32 (w, 1000);
  byte_writer_u32 (w, 0);
  byte_writer_u32 (w, 0x10000);
  byte_writer_u16 (w, 0x100);
  byte_writer_zeros (w, 10);
  fb_matrix (w);
  byte_writer_zeros (w, 24);
  byte_writer_u32 (w, 100);
  box_end (w, mvhd);
  for (guint i = 0; i < n; i++)
    fb_trak (w, &tracks[i]);
  if (with_mvex) {
    gsize mvex = box_begin (w, FOURCC ('m', 'v', 'e', 'x'));
    for (guint i = 0; i < n; i++) {
      gsize trex = box_begin_full (w, FOURCC ('t', 'r', 'e', 'x'), 0, 0);
      byte_writer_u32 (w, tracks[i].id);
      byte_writer_u32 (w, tracks[i].trex_description_index ? tracks[i].trex_description_index : 1);
      byte_writer_u32 (w, tracks[i].trex_duration);
      byte_writer_u32 (w, tracks[i].trex_size);
      byte_writer_u32 (w, tracks[i].trex_flags);
      box_end (w, trex);
    }
    box_end (w, mvex);
  }
  box_end (w, moov);
}

/* ftyp + moov of one video track (id 1, timescale 90000) and, if n_tracks is
 * 2, one audio track (id 2, timescale 48000). */
static inline void
fb_init_segment (Fmp4Builder *b, guint n_tracks)
{
  const FbTrack tracks[2] = {
    { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000, .trex_duration = 3000,
      .trex_size = 0, .trex_flags = FB_NON_SYNC },
    { .id = 2, .handler = FOURCC ('s', 'o', 'u', 'n'), .timescale = 48000, .trex_duration = 1024 },
  };
  fb_ftyp (b);
  fb_moov (b, tracks, n_tracks, TRUE);
}

static inline const FbTrack *
fb_track (const Fmp4Builder *b, guint32 id)
{
  for (guint i = 0; i < b->tracks->len; i++)
    if (g_array_index (b->tracks, FbTrack, i).id == id)
      return &g_array_index (b->tracks, FbTrack, i);
  return NULL;
}

static inline gboolean
fb_flags_sync (guint32 flags)
{
  return !(flags & FB_NON_SYNC) && ((flags >> 24) & 3) != 1;
}

/* Writes moof + mdat; the sample bytes follow in traf and trun order.
 * Returns the moof's position. */
static inline guint64
fb_fragment (Fmp4Builder *b, const FbTraf *trafs, guint n_trafs)
{
  ByteWriter *w = &b->w;
  guint64 moof_start = w->buf->len;
  g_autoptr (GArray) samples = g_array_new (FALSE, TRUE, sizeof (FbSample));
  g_autofree gsize *base_field = g_new0 (gsize, n_trafs + 1);
  g_autofree guint *traf_first = g_new0 (guint, n_trafs + 1);
  g_autoptr (GArray) trun_fields = g_array_new (FALSE, TRUE, sizeof (gsize) * 3);   /* pos, traf, first sample */

  gsize moof = box_begin (w, FOURCC ('m', 'o', 'o', 'f'));
  gsize mfhd = box_begin_full (w, FOURCC ('m', 'f', 'h', 'd'), 0, 0);
  byte_writer_u32 (w, b->sequence++);
  box_end (w, mfhd);
  for (guint t = 0; t < n_trafs; t++) {
    const FbTraf *tf = &trafs[t];
    FbTrack *track = (FbTrack *) fb_track (b, tf->track_id);
    FbTrack none = { 0 };
    if (!track)
      track = &none;
    traf_first[t] = samples->len;
    /* A tfdt of 0 after the first fragment continues the track, as muxers
     * write it; any other value is the test's own, and the sample before
     * it lasts until it. */
    guint64 decode_time = tf->decode_time || !track->started ? tf->decode_time : track->next_decode;
    if (tf->tfdt && track->started && decode_time != track->next_decode) {
      FbSample *last = &g_array_index (track->last_in_fragment ? samples : b->samples, FbSample, track->last_index);
      last->duration = decode_time > track->last_start ? (guint32) MIN (decode_time - track->last_start, G_MAXUINT32) : 1;
      track->next_decode = track->last_start + last->duration;
    } else if (tf->tfdt && !track->started) {
      track->next_decode = decode_time;
    }
    gsize traf = box_begin (w, FOURCC ('t', 'r', 'a', 'f'));
    gsize tfhd = box_begin_full (w, FOURCC ('t', 'f', 'h', 'd'), 0, tf->flags);
    byte_writer_u32 (w, tf->track_id);
    if (tf->flags & FB_TFHD_BASE_DATA_OFFSET) {
      base_field[t] = w->buf->len;
      byte_writer_u64 (w, tf->base_data_offset == FB_MOOF_START ? moof_start : tf->base_data_offset);
    }
    if (tf->flags & FB_TFHD_DESCRIPTION_INDEX)
      byte_writer_u32 (w, tf->description_index);
    if (tf->flags & FB_TFHD_DEFAULT_DURATION)
      byte_writer_u32 (w, tf->default_duration);
    if (tf->flags & FB_TFHD_DEFAULT_SIZE)
      byte_writer_u32 (w, tf->default_size);
    if (tf->flags & FB_TFHD_DEFAULT_FLAGS)
      byte_writer_u32 (w, tf->default_flags);
    box_end (w, tfhd);
    if (tf->tfdt) {
      gsize tfdt = box_begin_full (w, FOURCC ('t', 'f', 'd', 't'), tf->tfdt_version, 0);
      tf->tfdt_version == 1 ? byte_writer_u64 (w, decode_time) : byte_writer_u32 (w, (guint32) decode_time);
      box_end (w, tfdt);
    }
    for (guint r = 0; r < tf->n_truns; r++) {
      const FbTrun *tr = &tf->truns[r];
      gsize trun = box_begin_full (w, FOURCC ('t', 'r', 'u', 'n'), tr->version, tr->flags);
      byte_writer_u32 (w, tr->n_samples);
      if (tr->flags & FB_TRUN_DATA_OFFSET) {
        gsize f[3] = { w->buf->len, t, samples->len };
        if (!tr->explicit_data_offset)
          g_array_append_vals (trun_fields, f, 1);
        byte_writer_u32 (w, (guint32) tr->data_offset);
      }
      if (tr->flags & FB_TRUN_FIRST_FLAGS)
        byte_writer_u32 (w, tr->first_flags);
      for (guint i = 0; i < tr->n_samples; i++) {
        const FbSample *in = &tr->samples[i];
        FbSample s = { 0 };
        s.track_id = tf->track_id;
        s.duration = (tr->flags & FB_TRUN_DURATION) ? in->duration
                     : (tf->flags & FB_TFHD_DEFAULT_DURATION) ? tf->default_duration : track->trex_duration;
        s.size = (tr->flags & FB_TRUN_SIZE) ? in->size
                 : (tf->flags & FB_TFHD_DEFAULT_SIZE) ? tf->default_size : track->trex_size;
        s.flags = (tr->flags & FB_TRUN_FLAGS) ? in->flags
                  : (i == 0 && (tr->flags & FB_TRUN_FIRST_FLAGS)) ? tr->first_flags
                  : (tf->flags & FB_TFHD_DEFAULT_FLAGS) ? tf->default_flags : track->trex_flags;
        s.composition_offset = (tr->flags & FB_TRUN_COMPOSITION) ? in->composition_offset : 0;
        s.description_index = (tf->flags & FB_TFHD_DESCRIPTION_INDEX) ? tf->description_index
                              : track->trex_description_index ? track->trex_description_index : 1;
        s.sync = fb_flags_sync (s.flags);
        if (s.duration == 0)
          s.duration = MAX (track->last_duration, 1);   /* until the next tfdt says otherwise */
        track->started = TRUE;
        track->last_start = track->next_decode;
        track->next_decode += s.duration;
        track->last_duration = s.duration;
        track->last_index = samples->len;
        track->last_in_fragment = TRUE;
        if (tr->flags & FB_TRUN_DURATION)
          byte_writer_u32 (w, in->duration);
        if (tr->flags & FB_TRUN_SIZE)
          byte_writer_u32 (w, in->size);
        if (tr->flags & FB_TRUN_FLAGS)
          byte_writer_u32 (w, in->flags);
        if (tr->flags & FB_TRUN_COMPOSITION)
          byte_writer_u32 (w, (guint32) in->composition_offset);
        g_array_append_val (samples, s);
      }
      box_end (w, trun);
    }
    box_end (w, traf);
  }
  traf_first[n_trafs] = samples->len;
  box_end (w, moof);

  gsize mdat = w->buf->len;
  guint64 mdat_end;
  if (b->sparse) {
    byte_writer_u32 (w, 1);
    byte_writer_u32 (w, FOURCC ('m', 'd', 'a', 't'));
    byte_writer_u64 (w, 0);
    guint64 pos = w->buf->len;
    for (guint i = 0; i < samples->len; i++) {
      FbSample *s = &g_array_index (samples, FbSample, i);
      s->offset = pos;
      s->fill = 0;   /* a hole reads as zeros */
      pos += s->size;
    }
    mdat_end = pos;
    b->sparse_payload = pos - w->buf->len;
    byte_writer_put_u64_at (w, mdat + 8, mdat_end - mdat);
  } else {
    box_begin (w, FOURCC ('m', 'd', 'a', 't'));
    for (guint i = 0; i < samples->len; i++) {
      FbSample *s = &g_array_index (samples, FbSample, i);
      s->offset = w->buf->len;
      s->fill = b->fill++;
      gsize at = w->buf->len;
      g_byte_array_set_size (w->buf, at + s->size);
      memset (w->buf->data + at, s->fill, s->size);
    }
    mdat_end = w->buf->len;
    box_end (w, mdat);
  }

  /* Where each traf's bytes start, and the base its offsets are relative to. */
  for (guint t = 0; t < n_trafs; t++) {
    const FbTraf *tf = &trafs[t];
    guint64 start = traf_first[t] < samples->len ? g_array_index (samples, FbSample, traf_first[t]).offset : mdat_end;
    if ((tf->flags & FB_TFHD_BASE_DATA_OFFSET) && tf->base_data_offset == FB_DATA_START)
      byte_writer_put_u64_at (w, base_field[t], start);
  }
  for (guint i = 0; i < trun_fields->len; i++) {
    const gsize *f = &g_array_index (trun_fields, gsize, 3 * i);
    const FbTraf *tf = &trafs[f[1]];
    guint64 target = f[2] < samples->len ? g_array_index (samples, FbSample, f[2]).offset : mdat_end;
    guint64 base;
    if (tf->flags & FB_TFHD_BASE_DATA_OFFSET) {
      ByteReader r;
      byte_reader_init (&r, w->buf->data + base_field[f[1]], 8);
      byte_reader_u64 (&r, &base);
    } else if ((tf->flags & FB_TFHD_DEFAULT_BASE_IS_MOOF) || f[1] == 0) {
      base = moof_start;
    } else {
      /* The end of the previous traf's data. */
      guint prev = traf_first[f[1]];
      base = prev > 0 ? g_array_index (samples, FbSample, prev - 1).offset +
                            g_array_index (samples, FbSample, prev - 1).size
                      : moof_start;
    }
    byte_writer_put_u32_at (w, f[0], (guint32) (gint32) (target - base));
  }
  for (guint i = 0; i < b->tracks->len; i++) {
    FbTrack *track = &g_array_index (b->tracks, FbTrack, i);
    if (track->last_in_fragment)
      track->last_index += b->samples->len;
    track->last_in_fragment = FALSE;
  }
  g_array_append_vals (b->samples, samples->data, samples->len);
  return moof_start;
}

/* One traf with one trun, default-base-is-moof and a data offset: what
 * FFmpeg and GStreamer write for CMAF. */
static inline guint64
fb_simple_fragment (Fmp4Builder *b, guint32 track_id, guint64 decode_time, const FbSample *samples, guint n)
{
  FbTrun trun = { .version = 1,
                  .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE | FB_TRUN_FLAGS |
                           FB_TRUN_COMPOSITION,
                  .n_samples = n, .samples = samples };
  FbTraf traf = { .track_id = track_id, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE,
                  .tfdt_version = 1, .decode_time = decode_time, .n_truns = 1, .truns = &trun };
  return fb_fragment (b, &traf, 1);
}

/* The expected samples of one track, in decode order. */
static inline GArray *
fb_expected (const Fmp4Builder *b, guint32 track_id)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (FbSample));
  for (guint i = 0; i < b->samples->len; i++)
    if (g_array_index (b->samples, FbSample, i).track_id == track_id)
      g_array_append_val (out, g_array_index (b->samples, FbSample, i));
  return out;
}

/* ---- reading back what the indexer built --------------------------------- */

static inline Track *
fb_rec_track (Recording *rec, guint32 track_id)
{
  for (guint i = 0; i < rec->tracks->len; i++)
    if (((Track *) g_ptr_array_index (rec->tracks, i))->id == track_id)
      return g_ptr_array_index (rec->tracks, i);
  return NULL;
}

/* Maps a payload offset to the source through the recording's extents. */
static inline guint64
fb_source_offset (Recording *rec, guint64 payload_offset)
{
  for (guint i = 0; i < rec->extents->len; i++) {
    const Extent *e = &g_array_index (rec->extents, Extent, i);
    if (payload_offset >= e->payload_offset && payload_offset < e->payload_offset + e->length)
      return e->source_offset + (payload_offset - e->payload_offset);
  }
  return G_MAXUINT64;
}

/* Every sample the recording shows for a track, expanded from its tables. */
static inline GArray *
fb_visible (Recording *rec, guint32 track_id)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (FbSample));
  Track *t = fb_rec_track (rec, track_id);
  if (!t)
    return out;
  const SampleTable *st = &t->table;
  g_array_set_size (out, st->count);
  for (guint32 i = 0; i < st->count; i++) {
    FbSample *s = &g_array_index (out, FbSample, i);
    s->track_id = track_id;
    s->size = g_array_index (st->sizes, guint32, i);
    s->sync = st->all_sync;
  }
  guint32 i = 0;
  for (guint r = 0; r < st->durations->len; r++) {
    DurationRun run = sample_table_duration_run (st, r);
    for (guint32 k = 0; k < run.count; k++)
      g_array_index (out, FbSample, i++).duration = run.delta;
  }
  g_assert_cmpuint (i, ==, st->count);
  i = 0;
  for (guint r = 0; r < st->offsets->len; r++) {
    OffsetRun run = sample_table_offset_run (st, r);
    for (guint32 k = 0; k < run.count; k++)
      g_array_index (out, FbSample, i++).composition_offset = run.offset;
  }
  g_assert_cmpuint (i, ==, st->count);
  for (guint k = 0; k < st->syncs->len; k++)
    g_array_index (out, FbSample, g_array_index (st->syncs, guint32, k)).sync = TRUE;
  i = 0;
  for (guint c = 0; c < st->chunks->len; c++) {
    const Chunk *ch = (Chunk[]) { sample_table_chunk (st, c) };
    g_assert_cmpuint (ch->first_sample, ==, i);
    guint64 pos = ch->payload_offset;
    for (guint32 k = 0; k < ch->count; k++, i++) {
      FbSample *s = &g_array_index (out, FbSample, i);
      s->description_index = ch->description_index;
      s->offset = s->size ? fb_source_offset (rec, pos) : 0;
      pos += s->size;
    }
  }
  g_assert_cmpuint (i, ==, st->count);
  return out;
}

/* Asserts that the first n samples of got and want agree in every field the
 * indexer keeps, and that got's bytes in src are the sample's own. */
static inline void
fb_assert_samples (const GArray *got, const GArray *want, guint n, const guint8 *src)
{
  g_assert_cmpuint (got->len, >=, n);
  g_assert_cmpuint (want->len, >=, n);
  for (guint i = 0; i < n; i++) {
    const FbSample *g = &g_array_index (got, FbSample, i), *e = &g_array_index (want, FbSample, i);
    g_assert_cmpuint (g->size, ==, e->size);
    g_assert_cmpuint (g->duration, ==, e->duration);
    g_assert_cmpint (g->composition_offset, ==, e->composition_offset);
    g_assert_cmpint (g->sync, ==, e->sync);
    g_assert_cmpuint (g->description_index, ==, e->description_index);
    if (e->size) {
      g_assert_cmpuint (g->offset, ==, e->offset);
      if (src)
        for (guint32 k = 0; k < g->size; k++)
          g_assert_cmphex (src[g->offset + k], ==, e->fill);
    }
  }
}

/* Indexes data[0, len) in one go with a new recording. */
static inline Recording *
fb_index (const guint8 *data, gsize len)
{
  Recording *rec = recording_new (&fmp4_indexer, "test");
  Source src = source_from_memory (data, len);
  recording_update (rec, &src);
  return rec;
}

/* Asserts that the recording shows exactly the builder's samples, all of them. */
static inline void
fb_assert_all_visible (Recording *rec, const Fmp4Builder *b)
{
  for (guint i = 0; i < b->tracks->len; i++) {
    guint32 id = g_array_index (b->tracks, FbTrack, i).id;
    g_autoptr (GArray) got = fb_visible (rec, id);
    g_autoptr (GArray) want = fb_expected (b, id);
    g_assert_cmpuint (got->len, ==, want->len);
    fb_assert_samples (got, want, want->len, fb_data (b));
  }
}

/* The muxer reports a failed recording with g_warning and notes with
 * g_message; tests provoke both on purpose, so neither may abort the test
 * nor clutter the TAP output (FB_VERBOSE=1 shows them).  Criticals stay
 * fatal.  GTest resets the fatal handler for every test case, so the
 * always-fatal mask is narrowed instead. */
static inline void
fb_log_quiet (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR) || g_getenv ("FB_VERBOSE"))
    g_log_default_handler (domain, level, message, data);
}

/* Call after g_test_init(). */
static inline void
fb_quiet_logs (void)
{
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_log_set_default_handler (fb_log_quiet, NULL);
}
