/* livemp4 — the virtual files of livemp4fs, without FUSE.
 *
 *   livemp4 export SRC OUT.mp4   writes the bytes the mount shows for SRC
 *   livemp4 inspect SRC          tracks, codecs, sample counts, duration, state
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "muxer/bytes.h"
#include "muxer/layout.h"

static int
usage (void)
{
  fprintf (stderr,
           "usage: livemp4 export SRC OUT.mp4   write the fast-start MP4 the mount shows for SRC\n"
           "       livemp4 inspect SRC          describe the recording in SRC\n");
  return 2;
}

/* Whether a process has fd's file open for writing, as the daemon tells a
 * live recording from a settled one (fs/catalog.c, writer_state): a read
 * lease is granted only when none has.  Where it cannot be known (another
 * user's file), the file is read as finished. */
static gboolean
writer_has_it_open (int fd)
{
  if (fcntl (fd, F_SETLEASE, F_RDLCK) == 0) {
    fcntl (fd, F_SETLEASE, F_UNLCK);
    return FALSE;
  }
  return errno == EAGAIN;
}

/* Opens and indexes src as it stands now; a finished one as finished. */
static Layout *
open_layout (const char *path, int *fd_out)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0) {
    fprintf (stderr, "livemp4: %s: %s\n", path, g_strerror (errno));
    if (fd >= 0)
      close (fd);
    return NULL;
  }
  Source src = { .fd = fd, .size = (guint64) st.st_size };
  gboolean need_more;
  const IndexerClass *indexer = recording_detect (&src, &need_more);
  if (!indexer) {
    g_autofree char *why = recording_why_not (&src);
    if (why)
      fprintf (stderr, "livemp4: %s: not a recording livemp4fs can show: %s\n", path, why);
    else
      fprintf (stderr, "livemp4: %s: not a recording livemp4fs can show%s\n", path,
               need_more ? " (yet: too few bytes)" : "");
    close (fd);
    return NULL;
  }
  g_autoptr (Recording) rec = recording_new (indexer, path);
  recording_update (rec, &src);
  if (recording_io_failed (rec)) {
    /* What was indexed may stop short of what is there: no file, an error. */
    g_autofree char *problems = recording_describe_problems (rec);
    fprintf (stderr, "livemp4: %s: %s\n", path, problems);
    close (fd);
    return NULL;
  }
  if (!writer_has_it_open (fd))
    recording_finish (rec, &src);   /* as the mount shows a settled recording */
  *fd_out = fd;
  return layout_new (rec, recording_snapshot (rec));
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0) {
    ssize_t n = write (fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    data += n;
    len -= (gsize) n;
  }
  return TRUE;
}

static gboolean
copy_range (int in, guint64 offset, gsize len, int out)
{
  while (len > 0) {
    loff_t off = (loff_t) offset;
    ssize_t n = copy_file_range (in, &off, out, NULL, len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n < 0 && errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return FALSE;
      /* No in-kernel copy between these files: copy through a buffer. */
      static guint8 buf[1 << 20];
      gsize chunk = MIN (len, sizeof buf);
      ssize_t r = pread (in, buf, chunk, (off_t) offset);
      if (r <= 0 || !write_all (out, buf, (gsize) r))
        return FALSE;
      n = r;
    }
    offset += (guint64) n;
    len -= (gsize) n;
  }
  return TRUE;
}

static int
cmd_export (const char *src_path, const char *out_path)
{
  int in = -1;
  g_autoptr (Layout) layout = open_layout (src_path, &in);
  if (!layout)
    return 1;
  int out = strcmp (out_path, "-") == 0 ? STDOUT_FILENO
                                        : open (out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    fprintf (stderr, "livemp4: %s: %s\n", out_path, g_strerror (errno));
    close (in);
    return 1;
  }
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) buffer = g_byte_array_new ();
  struct stat st;
  Source src = { .fd = in, .size = fstat (in, &st) == 0 ? (guint64) st.st_size : 0 };
  /* A produced payload is made in memory: smaller steps. */
  gsize step = layout_produces_payload (layout) ? 4 << 20 : 64 << 20;
  gboolean ok = TRUE;
  /* In steps, so that no more than a step of the header is in memory. */
  for (guint64 pos = 0; ok && pos < layout->size;) {
    g_array_set_size (pieces, 0);
    gsize got = layout_read (layout, &src, pos, step, pieces, buffer);
    if (got < MIN (step, layout->size - pos)) {
      /* The source changed under us (or, never expected, the extents do not
       * cover the payload): no endless loop. */
      fprintf (stderr, "livemp4: %s: cannot read at %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes\n",
               src_path, pos, layout->size);
      ok = FALSE;
      errno = EIO;
      break;
    }
    pos += got;
    for (guint i = 0; i < pieces->len && ok; i++) {
      LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
      ok = p->data ? write_all (out, p->data, p->len) : copy_range (in, p->source_offset, p->len, out);
    }
  }
  if (!ok)
    fprintf (stderr, "livemp4: writing %s: %s\n", out_path, g_strerror (errno));
  close (in);
  if (out != STDOUT_FILENO && close (out) < 0)
    ok = FALSE;
  return ok ? 0 : 1;
}

static int
cmd_inspect (const char *src_path)
{
  int in = -1;
  g_autoptr (Layout) layout = open_layout (src_path, &in);
  if (!layout)
    return 1;
  close (in);
  Recording *rec = layout->rec;
  g_autofree char *problems = recording_describe_problems (rec);
  printf ("file:      %s\n", src_path);
  printf ("format:    %s\n", recording_format_name (rec));
  printf ("state:     %s\n", rec->failed ? "error" : "ok");
  printf ("duration:  %.3f s\n", layout_duration_seconds (layout));
  printf ("samples:   %" G_GUINT64_FORMAT "\n", snapshot_samples (layout->snap));
  printf ("size:      %" G_GUINT64_FORMAT " bytes (header %" G_GUINT64_FORMAT ", payload %" G_GUINT64_FORMAT ")\n",
          layout->size, layout->header_len, layout->snap->payload_len);
  printf ("memory:    %" G_GSIZE_FORMAT " bytes of tables\n", recording_memory (rec));
  for (guint i = 0; i < layout->snap->n_tracks; i++) {
    Track *t = g_ptr_array_index (rec->tracks, i);
    char handler[8], codec[8];
    guint32 n = layout->snap->counts[i];
    printf ("track %u:   %s %s, timescale %u, %u samples (%u sync), %.3f s, starts at %" G_GINT64_FORMAT "\n",
            t->id, fourcc_str (t->handler, handler), fourcc_str (t->codec, codec), t->timescale, n,
            sample_table_sync_count (&t->table, n),
            t->timescale ? (double) sample_table_duration (&t->table, n) / t->timescale : 0.0,
            t->edit_base + (gint64) t->first_decode_time);
  }
  if (*problems)
    printf ("problems:  %s\n", problems);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 4 && strcmp (argv[1], "export") == 0)
    return cmd_export (argv[2], argv[3]);
  if (argc == 3 && strcmp (argv[1], "inspect") == 0)
    return cmd_inspect (argv[2]);
  if (argc == 2 && (strcmp (argv[1], "--version") == 0))
    return printf ("livemp4 %s\n", LIVEMP4FS_VERSION), 0;
  return usage ();
}
