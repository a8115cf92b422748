/* node_id.c — node ids and generations derived from what a node shows (node_id.h). */
#include "fs/node_id.h"

#include <stdint.h>
#include <string.h>

#define KIND_SHIFT 61
#define INO_SHIFT 29
#define HASH_MASK ((G_GUINT64_CONSTANT (1) << INO_SHIFT) - 1)
#define KINDS 7   /* NODE_DIR .. NODE_HLS_FILE */

char *
node_key_mirrored (int kind, const struct stat *st, const char *path)
{
  return g_strdup_printf ("m:%d:%ju:%ju:%s", kind, (uintmax_t) st->st_dev, (uintmax_t) st->st_ino, path);
}

char *
node_key_hls (int kind, const struct stat *st, const char *path, const char *name)
{
  /* Segments carry their size: a new recording under the name is a new node. */
  return g_strdup_printf ("h:%d:%ju:%ju:%jd:%s/%s", kind, (uintmax_t) st->st_dev, (uintmax_t) st->st_ino,
                          S_ISREG (st->st_mode) ? (intmax_t) st->st_size : (intmax_t) 0, path, name ? name : "");
}

char *
node_key_snapshot (const struct stat *st, guint64 length)
{
  return g_strdup_printf ("s:%ju:%ju:%" G_GUINT64_FORMAT ":%o:%ju:%ju", (uintmax_t) st->st_dev,
                          (uintmax_t) st->st_ino, length, (unsigned) (st->st_mode & 0444), (uintmax_t) st->st_uid,
                          (uintmax_t) st->st_gid);
}

guint64
node_id_make (int kind, guint64 ino, const char *key, guint probe, guint32 *generation)
{
  g_return_val_if_fail (kind >= 0 && kind < KINDS, 0);
  /* SHA-256: stable across GLib versions and hosts, unlike g_str_hash. */
  guint8 digest[32];
  gsize len = sizeof digest;
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) key, (gssize) strlen (key));
  g_checksum_get_digest (sum, digest, &len);
  g_checksum_free (sum);
  guint64 hash = 0;
  for (int i = 0; i < 8; i++)
    hash = hash << 8 | digest[i];
  if (generation)
    *generation = (guint32) digest[8] << 24 | (guint32) digest[9] << 16 | (guint32) digest[10] << 8 | digest[11];
  guint64 low = (hash + probe) & HASH_MASK;
  return (guint64) (kind + 1) << KIND_SHIFT | (ino & 0xffffffffu) << INO_SHIFT | low;
}

guint64
node_id_fallback (guint64 next)
{
  return next & ((G_GUINT64_CONSTANT (1) << KIND_SHIFT) - 1);
}

gboolean
node_id_decode (guint64 id, int *kind, guint32 *ino_low)
{
  guint tag = (guint) (id >> KIND_SHIFT);
  if (tag == 0 || tag > KINDS)
    return FALSE;
  *kind = (int) tag - 1;
  *ino_low = (guint32) (id >> INO_SHIFT);
  return TRUE;
}
