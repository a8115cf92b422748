/* node_id.h — node ids and generations derived from what a node shows.
 *
 * The kernel's file handle of a FUSE inode (NFS export, open_by_handle_at)
 * is its node id (64 bits) and generation (32 bits).  Both are derived from
 * the node's identity, so a handle stays valid after the kernel forgets the
 * node and after the daemon restarts: the same source file (st_dev, st_ino,
 * path) or the same snapshot (st_dev, st_ino, virtual length, permissions,
 * owner) always gets the same pair.
 *
 *   bits 63..61  kind + 1 (never 0 or FUSE_ROOT_ID; 0 marks a counted id,
 *                node_id_fallback, which cannot be rebuilt)
 *   bits 60..29  the low 32 bits of the source's st_ino: a node the daemon
 *                no longer has is found again by a scan of the source tree
 *                for that inode number (export.c)
 *   bits 28..0   a hash of the identity (key), moved on by probe if another
 *                node already holds the id
 * The generation is another 32 bits of the same hash, so an id that a
 * different identity reaches gives ESTALE in the kernel, never the wrong file.
 * Pure functions: no FUSE, no daemon state (tests/unit/test-node-id.c).
 */
#pragma once

#include <glib.h>
#include <sys/stat.h>

G_BEGIN_DECLS

#define NODE_ID_PROBES 16

/* Identity keys.  kind is a NodeKind (livemp4fs.h). */
char *node_key_mirrored (int kind, const struct stat *st, const char *path);
char *node_key_hls (int kind, const struct stat *st, const char *path, const char *name);
/* A snapshot of the recording whose source is st: its virtual length, and
 * the source's read permissions and owner (a chmod makes a new node). */
char *node_key_snapshot (const struct stat *st, guint64 length);

/* The id of key for a node of kind on source inode ino, and its generation;
 * probe 0 is the node's own id, 1 .. NODE_ID_PROBES - 1 the ones tried when
 * another identity holds it. */
guint64 node_id_make (int kind, guint64 ino, const char *key, guint probe, guint32 *generation);
/* A counted id (next is fs.next_ino) for when every probe is taken. */
guint64 node_id_fallback (guint64 next);
/* The kind and the low 32 bits of the source inode an id was made from;
 * FALSE for the root, counted ids and ids this daemon never makes. */
gboolean node_id_decode (guint64 id, int *kind, guint32 *ino_low);

G_END_DECLS
