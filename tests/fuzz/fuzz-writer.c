/* fuzz-writer.c — the MP4 writer and the layout on whatever an indexer accepts.
 *
 * The input is indexed (by the indexer that detects it, else one chosen by its
 * first byte), first up to a prefix and then whole, and the virtual file of
 * both snapshots is materialised in memory through layout_read() in chunks of
 * random size, with the input as the source.  The result is parsed back by a
 * small MP4 reader written here, independent of muxer/ (moov, trak, mdia,
 * minf, stbl: stsd, stts, ctts, stss, stsz, stsc, stco/co64), and checked
 * against the sample tables: sample count, sizes, durations, composition
 * offsets, sync flags, description indexes, and every chunk offset inside the
 * mdat at the sample's payload position.  The HLS segments of both
 * snapshots are made too (check_segments).
 */
#include "fuzz-common.h"
#include "muxer/segment.h"

/* ---- a minimal, independent MP4 reader ---------------------------------- */

typedef struct {
  const guint8 *p;
  guint64 len;
} Span;

static guint32
be32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static guint64
be64 (const guint8 *p)
{
  return (guint64) be32 (p) << 32 | be32 (p + 4);
}

/* The box at *off inside s: type, body; advances *off.  FALSE at the end or
 * on a malformed header (which the writer must never produce). */
static gboolean
next_box (Span s, guint64 *off, guint32 *type, Span *body, guint64 *box_start)
{
  if (*off >= s.len)
    return FALSE;
  FUZZ_CHECK (s.len - *off >= 8, "truncated box header at %" G_GUINT64_FORMAT, *off);
  guint64 size = be32 (s.p + *off), hdr = 8;
  *type = be32 (s.p + *off + 4);
  if (size == 1) {
    FUZZ_CHECK (s.len - *off >= 16, "truncated large box header");
    size = be64 (s.p + *off + 8);
    hdr = 16;
  }
  FUZZ_CHECK (size >= hdr && size <= s.len - *off, "box size %" G_GUINT64_FORMAT " at %" G_GUINT64_FORMAT
              " does not fit (%" G_GUINT64_FORMAT " left)", size, *off, s.len - *off);
  if (box_start)
    *box_start = *off;
  *body = (Span) { s.p + *off + hdr, size - hdr };
  *off += size;
  return TRUE;
}

/* The only child of type in s (asserting it is there when required). */
static gboolean
child (Span s, guint32 type, Span *out, gboolean required)
{
  guint64 off = 0;
  guint32 t;
  Span b;
  int found = 0;
  while (next_box (s, &off, &t, &b, NULL))
    if (t == type) {
      *out = b;
      found++;
    }
  char name[8];
  FUZZ_CHECK (found <= 1, "%d %s boxes", found, fourcc_str (type, name));
  FUZZ_CHECK (found || !required, "no %s box", fourcc_str (type, name));
  return found == 1;
}

/* Full box body: version, flags, then count entries of entry_len bytes. */
static const guint8 *
table (Span s, guint skip, guint entry_len, guint32 *count, guint8 *version)
{
  FUZZ_CHECK (s.len >= 8 + skip, "short table box");
  *version = s.p[0];
  *count = be32 (s.p + 4 + skip);
  FUZZ_CHECK ((guint64) *count * entry_len == s.len - 8 - skip, "table of %u entries of %u bytes in %" G_GUINT64_FORMAT
              " bytes", *count, entry_len, s.len);
  return s.p + 8 + skip;
}

/* ---- expectations from the sample tables -------------------------------- */

typedef struct {
  guint32 *duration;
  gint32 *offset;
  gboolean *sync;
  guint64 *payload;
  guint32 *sdi;
} Expected;

/* The first n samples of t, expanded one entry per sample; their durations
 * as the snapshot pinned them: the table may have given its last sample a new
 * duration since (sample_table_set_last_duration), which changes its last two
 * stts runs only. */
static void
expected_init (Expected *x, const SampleTable *t, guint32 n, const TablePin *pin)
{
  x->duration = g_new0 (guint32, MAX (n, 1));
  x->offset = g_new0 (gint32, MAX (n, 1));
  x->sync = g_new0 (gboolean, MAX (n, 1));
  x->payload = g_new0 (guint64, MAX (n, 1));
  x->sdi = g_new0 (guint32, MAX (n, 1));
  guint32 i = 0, tail = MIN (pin->stts_entries, 2u);
  for (guint r = 0; r < pin->stts_entries - tail && i < n; r++) {
    const DurationRun *d = (DurationRun[]) { sample_table_duration_run (t, r) };
    for (guint32 k = 0; k < d->count && i < n; k++)
      x->duration[i++] = d->delta;
  }
  for (guint r = 2 - tail; r < 2; r++)
    for (guint32 k = 0; k < pin->stts_tail[r].count && i < n; k++)
      x->duration[i++] = pin->stts_tail[r].delta;
  FUZZ_CHECK (i == n, "duration runs cover %u of %u samples", i, n);
  i = 0;
  for (guint r = 0; r < t->offsets->len && i < n; r++) {
    const OffsetRun *o = (OffsetRun[]) { sample_table_offset_run (t, r) };
    for (guint32 k = 0; k < o->count && i < n; k++)
      x->offset[i++] = o->offset;
  }
  FUZZ_CHECK (i == n, "offset runs cover %u of %u samples", i, n);
  for (i = 0; i < n; i++)
    x->sync[i] = t->all_sync;
  guint32 prev = 0;
  for (guint k = 0; k < t->syncs->len; k++) {
    guint32 s = g_array_index (t->syncs, guint32, k);
    FUZZ_CHECK (k == 0 || s > prev, "sync list out of order");
    prev = s;
    if (s < n)
      x->sync[s] = TRUE;
  }
  i = 0;
  for (guint c = 0; c < t->chunks->len && i < n; c++) {
    const Chunk *ch = (Chunk[]) { sample_table_chunk (t, c) };
    FUZZ_CHECK (ch->first_sample == i, "chunk %u starts at sample %u, want %u", c, ch->first_sample, i);
    guint64 off = ch->payload_offset;
    for (guint32 k = 0; k < ch->count && i < n; k++, i++) {
      x->payload[i] = off;
      x->sdi[i] = ch->description_index;
      off += g_array_index (t->sizes, guint32, i);
    }
  }
  FUZZ_CHECK (i == n, "chunks cover %u of %u samples", i, n);
}

static void
expected_clear (Expected *x)
{
  g_free (x->duration);
  g_free (x->offset);
  g_free (x->sync);
  g_free (x->payload);
  g_free (x->sdi);
}

/* ---- checking one virtual file ------------------------------------------ */

static void
check_trak (Span trak, const Track *track, guint32 n, const TablePin *pin, guint64 mdat_body, guint64 mdat_end)
{
  const SampleTable *t = &track->table;
  Expected x;
  expected_init (&x, t, n, pin);
  Span tkhd, mdia, mdhd, minf, stbl, b;
  child (trak, FOURCC ('t', 'k', 'h', 'd'), &tkhd, TRUE);
  FUZZ_CHECK (tkhd.len >= 4 + (tkhd.p[0] == 1 ? 20 : 12), "short tkhd");
  FUZZ_CHECK (be32 (tkhd.p + 4 + (tkhd.p[0] == 1 ? 16 : 8)) == track->id, "tkhd track ID");
  child (trak, FOURCC ('m', 'd', 'i', 'a'), &mdia, TRUE);
  child (mdia, FOURCC ('m', 'd', 'h', 'd'), &mdhd, TRUE);
  gboolean v1 = mdhd.p[0] == 1;
  FUZZ_CHECK (mdhd.len == (v1 ? 36u : 24u), "mdhd size %" G_GUINT64_FORMAT, mdhd.len);
  FUZZ_CHECK (be32 (mdhd.p + (v1 ? 20 : 12)) == track->timescale, "mdhd timescale");
  guint64 mdhd_duration = v1 ? be64 (mdhd.p + 24) : be32 (mdhd.p + 16);
  child (mdia, FOURCC ('h', 'd', 'l', 'r'), &b, TRUE);
  FUZZ_CHECK (b.len >= 12 && be32 (b.p + 8) == track->handler, "hdlr handler");
  child (mdia, FOURCC ('m', 'i', 'n', 'f'), &minf, TRUE);
  child (minf, FOURCC ('d', 'i', 'n', 'f'), &b, TRUE);
  child (minf, FOURCC ('s', 't', 'b', 'l'), &stbl, TRUE);

  Span stsd, stts, ctts, stss, stsz, stsc, stco;
  guint8 version;
  guint32 count;
  child (stbl, FOURCC ('s', 't', 's', 'd'), &stsd, TRUE);
  gsize desc_len;
  const guint8 *desc = g_bytes_get_data (track->sample_descriptions, &desc_len);
  FUZZ_CHECK (stsd.len == 4 + desc_len && memcmp (stsd.p + 4, desc, desc_len) == 0, "stsd body");
  guint32 n_desc = desc_len >= 4 ? be32 (desc) : 0;

  /* stts: durations, summing to the mdhd duration. */
  child (stbl, FOURCC ('s', 't', 't', 's'), &stts, TRUE);
  const guint8 *e = table (stts, 0, 8, &count, &version);
  guint32 i = 0;
  guint64 total = 0;
  for (guint32 k = 0; k < count; k++) {
    guint32 c = be32 (e + 8 * k), delta = be32 (e + 8 * k + 4);
    FUZZ_CHECK (c > 0, "empty stts entry");
    FUZZ_CHECK (c <= n - i, "stts covers more than %u samples", n);
    for (guint32 j = 0; j < c; j++, i++)
      FUZZ_CHECK (delta == x.duration[i], "sample %u duration %u, want %u", i, delta, x.duration[i]);
    total += (guint64) c * delta;
  }
  FUZZ_CHECK (i == n, "stts covers %u of %u samples", i, n);
  FUZZ_CHECK (total == mdhd_duration, "mdhd duration %" G_GUINT64_FORMAT " vs stts %" G_GUINT64_FORMAT,
              mdhd_duration, total);

  /* ctts: composition offsets, or none when they are all zero; negative
   * ones shifted up to zero (version 0), as FFmpeg's remux writes them. */
  gint64 shift = 0;
  for (i = 0; i < n; i++)
    shift = MAX (shift, -(gint64) x.offset[i]);
  if (child (stbl, FOURCC ('c', 't', 't', 's'), &ctts, FALSE)) {
    e = table (ctts, 0, 8, &count, &version);
    FUZZ_CHECK (version == 0, "ctts version %u", version);
    i = 0;
    for (guint32 k = 0; k < count; k++) {
      guint32 c = be32 (e + 8 * k);
      gint64 off = (gint64) be32 (e + 8 * k + 4);
      FUZZ_CHECK (c > 0 && c <= n - i, "ctts entry count");
      for (guint32 j = 0; j < c; j++, i++)
        FUZZ_CHECK (off == (gint64) x.offset[i] + shift, "sample %u composition offset", i);
    }
    FUZZ_CHECK (i == n, "ctts covers %u of %u samples", i, n);
  } else {
    for (i = 0; i < n; i++)
      FUZZ_CHECK (x.offset[i] == 0, "sample %u has an offset but there is no ctts", i);
  }

  /* stss: the sync samples, or none when every sample is one. */
  if (child (stbl, FOURCC ('s', 't', 's', 's'), &stss, FALSE)) {
    e = table (stss, 0, 4, &count, &version);
    FUZZ_CHECK (count < n, "stss lists every sample");
    guint32 prev = 0;
    i = 0;
    for (guint32 k = 0; k < count; k++) {
      guint32 s = be32 (e + 4 * k);
      FUZZ_CHECK (s > prev && s <= n, "stss entry %u out of order or range", s);
      for (; i + 1 < s; i++)
        FUZZ_CHECK (!x.sync[i], "sample %u should be sync", i);
      FUZZ_CHECK (x.sync[i], "sample %u should not be sync", i);
      i++;
      prev = s;
    }
    for (; i < n; i++)
      FUZZ_CHECK (!x.sync[i], "sample %u should be sync", i);
  } else {
    for (i = 0; i < n; i++)
      FUZZ_CHECK (x.sync[i], "sample %u is not sync but there is no stss", i);
  }

  /* stsz */
  child (stbl, FOURCC ('s', 't', 's', 'z'), &stsz, TRUE);
  FUZZ_CHECK (stsz.len >= 12, "short stsz");
  guint32 constant = be32 (stsz.p + 4);
  guint32 stsz_count = be32 (stsz.p + 8);
  FUZZ_CHECK (stsz_count == n, "stsz counts %u of %u samples", stsz_count, n);
  FUZZ_CHECK (stsz.len == 12 + (constant ? 0 : 4 * (guint64) n), "stsz size");
  g_autofree guint32 *sizes = g_new (guint32, MAX (n, 1));
  for (i = 0; i < n; i++) {
    sizes[i] = constant ? constant : be32 (stsz.p + 12 + 4 * i);
    FUZZ_CHECK (sizes[i] == g_array_index (t->sizes, guint32, i), "sample %u size", i);
  }

  /* stsc + stco/co64: every sample where the tables put it. */
  child (stbl, FOURCC ('s', 't', 's', 'c'), &stsc, TRUE);
  guint32 n_stsc;
  const guint8 *sc = table (stsc, 0, 12, &n_stsc, &version);
  gboolean co64 = child (stbl, FOURCC ('c', 'o', '6', '4'), &stco, FALSE);
  Span stco32;
  gboolean co32 = child (stbl, FOURCC ('s', 't', 'c', 'o'), &stco32, FALSE);
  FUZZ_CHECK (co64 != co32, "want exactly one of stco and co64");
  if (co32)
    stco = stco32;
  guint32 n_chunks;
  const guint8 *co = table (stco, 0, co64 ? 8 : 4, &n_chunks, &version);
  FUZZ_CHECK (n_stsc > 0 || n == 0, "no stsc entries");
  FUZZ_CHECK (n_stsc == 0 || be32 (sc) == 1, "first stsc entry is not chunk 1");
  i = 0;
  for (guint32 k = 0; k < n_stsc; k++) {
    guint32 first = be32 (sc + 12 * k), per = be32 (sc + 12 * k + 4), sdi = be32 (sc + 12 * k + 8);
    guint32 last = k + 1 < n_stsc ? be32 (sc + 12 * (k + 1)) - 1 : n_chunks;
    FUZZ_CHECK (first >= 1 && first <= last + 1 && last <= n_chunks, "stsc entry %u chunk range", k);
    FUZZ_CHECK (per > 0, "stsc entry %u has no samples", k);
    FUZZ_CHECK (sdi >= 1 && sdi <= n_desc, "stsc entry %u: description %u of %u", k, sdi, n_desc);
    for (guint32 c = first; c <= last; c++) {
      guint64 off = co64 ? be64 (co + 8 * (c - 1)) : be32 (co + 4 * (c - 1));
      guint64 bytes = 0;
      for (guint32 j = 0; j < per; j++) {
        FUZZ_CHECK (i + j < n, "chunks hold more than %u samples", n);
        bytes += sizes[i + j];
      }
      FUZZ_CHECK (off >= mdat_body && off <= mdat_end && bytes <= mdat_end - off &&
                      (off < mdat_end || bytes == 0),
                  "chunk %u [%" G_GUINT64_FORMAT ", +%" G_GUINT64_FORMAT ") outside the mdat [%" G_GUINT64_FORMAT
                  ", %" G_GUINT64_FORMAT ")",
                  c, off, bytes, mdat_body, mdat_end);
      for (guint32 j = 0; j < per; j++, i++) {
        guint64 payload = x.payload[i];
        guint32 want_sdi = x.sdi[i];
        FUZZ_CHECK (off == mdat_body + payload, "sample %u at %" G_GUINT64_FORMAT ", want payload %" G_GUINT64_FORMAT,
                    i, off, payload);
        FUZZ_CHECK (sdi == want_sdi, "sample %u description %u, want %u", i, sdi, want_sdi);
        off += sizes[i];
      }
    }
  }
  FUZZ_CHECK (i == n, "chunks hold %u of %u samples", i, n);
  expected_clear (&x);
}

/* Materialises the virtual file through layout_read() and checks it. */
static void
check_layout (Recording *rec, Snapshot *snap, const guint8 *data, gsize size, FuzzRng *rng)
{
  Layout *l = layout_new (rec, snap);
  FUZZ_CHECK (l->size == l->header_len + snap->payload_len, "layout size");
  FUZZ_CHECK (l->size <= (guint64) 1 << 31, "virtual file of %" G_GUINT64_FORMAT " bytes", l->size);
  guint8 *file = g_malloc (l->size + 1);
  GArray *pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  GByteArray *header = g_byte_array_new ();
  guint64 pos = 0;
  while (pos < l->size) {
    gsize want = fuzz_rng_next (rng) % 2 ? (gsize) fuzz_rng_range (rng, 1, 64) : (gsize) fuzz_rng_range (rng, 1, 1 << 17);
    g_array_set_size (pieces, 0);
    gsize got = layout_read (l, NULL, pos, want, pieces, header);
    FUZZ_CHECK (got == MIN (want, l->size - pos), "layout_read at %" G_GUINT64_FORMAT " gave %zu of %zu", pos, got,
                want);
    gsize sum = 0;
    for (guint k = 0; k < pieces->len; k++) {
      const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, k);
      FUZZ_CHECK (p->len > 0, "empty piece");
      if (p->data) {
        memcpy (file + pos + sum, p->data, p->len);
      } else {
        FUZZ_CHECK (p->source_offset <= snap->source_size && p->len <= snap->source_size - p->source_offset,
                    "piece [%" G_GUINT64_FORMAT ", +%zu) beyond the %" G_GUINT64_FORMAT " source bytes of the snapshot",
                    p->source_offset, p->len, snap->source_size);
        FUZZ_CHECK (p->source_offset + p->len <= size, "piece beyond the source");
        memcpy (file + pos + sum, data + p->source_offset, p->len);
      }
      sum += p->len;
    }
    FUZZ_CHECK (sum == got, "pieces cover %zu of %zu bytes", sum, got);
    pos += got;
  }
  g_array_set_size (pieces, 0);
  FUZZ_CHECK (layout_read (l, NULL, l->size, 100, pieces, header) == 0 && pieces->len == 0, "read past the end");
  g_array_unref (pieces);
  g_byte_array_unref (header);

  /* Top level: ftyp, moov, a free box where the payload needs it to be
   * aligned, mdat, tiling the file. */
  Span whole = { file, l->size }, body, moov = { 0 };
  guint64 off = 0, start, mdat_body = 0, mdat_end = 0;
  guint32 type;
  guint n_box = 0;
  while (next_box (whole, &off, &type, &body, &start)) {
    static const guint32 order[] = { FOURCC ('f', 't', 'y', 'p'), FOURCC ('m', 'o', 'o', 'v'), FOURCC ('f', 'r', 'e', 'e'),
                                     FOURCC ('m', 'd', 'a', 't') };
    if (n_box == 2 && type != order[2])
      n_box++;
    FUZZ_CHECK (n_box < G_N_ELEMENTS (order) && type == order[n_box], "unexpected top-level box %u", n_box);
    if (type == FOURCC ('m', 'o', 'o', 'v'))
      moov = body;
    if (type == FOURCC ('m', 'd', 'a', 't')) {
      mdat_body = body.p - file;
      mdat_end = mdat_body + body.len;
      FUZZ_CHECK (mdat_body == l->header_len && body.len == snap->payload_len, "mdat holds the payload");
    }
    n_box++;
  }
  FUZZ_CHECK (n_box == 4 && off == l->size, "top-level boxes end at %u", n_box);

  /* moov: mvhd, then, once any track has samples, one trak per track whose
   * sample entry is known, in track order (empty ones too, so streams keep
   * their numbers). */
  Span mvhd;
  child (moov, FOURCC ('m', 'v', 'h', 'd'), &mvhd, TRUE);
  gboolean v1 = mvhd.p[0] == 1;
  FUZZ_CHECK (be32 (mvhd.p + (v1 ? 20 : 12)) == l->movie_timescale, "mvhd timescale");
  FUZZ_CHECK ((v1 ? be64 (mvhd.p + 24) : be32 (mvhd.p + 16)) == l->duration, "mvhd duration");
  guint shown = 0, traks = 0;
  off = 0;
  while (next_box (moov, &off, &type, &body, NULL)) {
    if (type != FOURCC ('t', 'r', 'a', 'k'))
      continue;
    while (shown < snap->n_tracks && !snap->configured[shown]) {
      FUZZ_CHECK (snap->counts[shown] == 0, "track %u has samples but no sample entry", shown);
      shown++;
    }
    FUZZ_CHECK (shown < snap->n_tracks, "more trak boxes than tracks");
    check_trak (body, g_ptr_array_index (rec->tracks, shown), snap->counts[shown], &snap->pins[shown], mdat_body,
                mdat_end);
    shown++;
    traks++;
  }
  guint declared = 0;
  for (guint i = 0; i < snap->n_tracks; i++)
    declared += snap->configured[i];
  FUZZ_CHECK (traks == (snapshot_samples (snap) ? declared : 0), "%u trak boxes for %u tracks", traks, declared);

  /* Samples that are contiguous in the payload are the source's bytes: the
   * whole payload is the extents' bytes in order. */
  guint64 p = 0;
  for (guint k = 0; k < rec->extents->len && p < snap->payload_len; k++) {
    const Extent *e = &g_array_index (rec->extents, Extent, k);
    guint64 n = MIN (e->length, snap->payload_len - p);
    FUZZ_CHECK ((mdat_body + e->payload_offset) % RECORDING_PAGE == e->source_offset % RECORDING_PAGE,
                "extent %u is off the source's page boundaries", k);
    FUZZ_CHECK (memcmp (file + mdat_body + p, data + e->source_offset, n) == 0, "payload bytes of extent %u", k);
    p += n;
  }
  g_free (file);
  layout_unref (l);
}

/* HLS segments (muxer/segment.c): each one is made or refused with a reason,
 * its moof's sample sizes add up to its mdat, and a segment the early
 * snapshot lists (settled) is, byte for byte, the one the late snapshot of
 * the ended recording gives under its number. */
static GPtrArray *
build_segments (Recording *rec, Snapshot *snap, gboolean ended, const Source *src)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_rw_lock_reader_lock (&rec->lock);
  SegmentPlan *plan = segment_plan_new (rec, snap, ended);
  GBytes *init = segment_build_init (rec, plan);
  FUZZ_CHECK ((init != NULL) == (segment_plan_tracks (plan) > 0), "init segment");
  g_clear_pointer (&init, g_bytes_unref);
  for (guint k = 0; k < segment_plan_count (plan); k++) {
    char *error = NULL;
    GBytes *seg = segment_build_media (rec, plan, k, src, &error);
    FUZZ_CHECK ((seg == NULL) == (error != NULL), "segment %u: bytes or a reason", k);
    g_free (error);
    if (seg) {
      gsize len;
      const guint8 *p = g_bytes_get_data (seg, &len);
      FUZZ_CHECK (len >= 16 && be32 (p) + 8 <= len && be32 (p + be32 (p)) == len - be32 (p), "segment %u: moof + mdat", k);
    }
    g_ptr_array_add (out, seg ? seg : g_bytes_new (NULL, 0));
  }
  segment_plan_free (plan);
  g_rw_lock_reader_unlock (&rec->lock);
  return out;
}

static void
check_segments (Recording *rec, Snapshot *early, Snapshot *late, const Source *src)
{
  GPtrArray *settled = build_segments (rec, early, FALSE, src);
  GPtrArray *all = build_segments (rec, late, TRUE, src);
  FUZZ_CHECK (settled->len <= all->len, "%u settled segments, %u in all", settled->len, all->len);
  for (guint k = 0; k < settled->len; k++)
    FUZZ_CHECK (g_bytes_equal (g_ptr_array_index (settled, k), g_ptr_array_index (all, k)),
                "segment %u changed as the recording grew", k);
  g_ptr_array_unref (settled);
  g_ptr_array_unref (all);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  fuzz_init_logging ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  FuzzRng rng;
  fuzz_rng_init (&rng, data, size);
  Source whole = source_from_memory (data, size);
  gboolean need_more;
  const IndexerClass *indexer = recording_detect (&whole, &need_more);
  if (!indexer)
    indexer = fuzz_indexers[data[0] % G_N_ELEMENTS (fuzz_indexers)];

  Recording *rec = recording_new (indexer, "writer");
  Source part = source_from_memory (data, fuzz_rng_range (&rng, 0, size));
  recording_update (rec, &part);
  Snapshot *early = recording_snapshot (rec);
  recording_update (rec, &whole);
  Snapshot *late = recording_snapshot (rec);
  check_segments (rec, early, late, &whole);   /* before check_layout, which takes the snapshots */
  check_layout (rec, late, data, size, &rng);
  check_layout (rec, early, data, size, &rng);
  recording_unref (rec);
  return 0;
}
