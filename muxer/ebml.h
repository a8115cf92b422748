/* ebml.h — EBML element reader (RFC 8794) and the Matroska block header.
 *
 * Everything here works on ByteReader cursors over bytes already read, and
 * distinguishes "not all here yet" (EBML_NEED_MORE: read more and call again;
 * the cursor is unchanged) from "can never be valid" (EBML_INVALID).  IDs keep
 * their length marker (0x1A45DFA3), as the specifications write them; sizes
 * lose it.  An all-ones size means "unknown" (live Segments and Clusters).
 */
#pragma once

#include <glib.h>

#include "bytes.h"

G_BEGIN_DECLS

typedef enum {
  EBML_OK,
  EBML_NEED_MORE,    /* the bytes end inside the item */
  EBML_INVALID,      /* malformed: no more bytes can make it valid */
} EbmlStatus;

#define EBML_UNKNOWN_SIZE G_MAXUINT64
#define EBML_MAX_ID_LENGTH 4
#define EBML_MAX_SIZE_LENGTH 8
#define EBML_MAX_HEADER_LENGTH (EBML_MAX_ID_LENGTH + EBML_MAX_SIZE_LENGTH)

typedef struct {
  guint32 id;          /* with its length marker */
  guint64 size;        /* of the body; EBML_UNKNOWN_SIZE if unknown */
  guint header_len;    /* bytes of ID and size */
} EbmlHeader;

/* A variable-length integer (RFC 8794 4): its value without the marker and
 * its length in bytes.  No unknown-size interpretation. */
EbmlStatus ebml_read_varint (ByteReader *r, guint64 *value, guint *len);
/* An element ID of 1..4 bytes.  IDs whose value bits are all zero or all
 * one are reserved and invalid. */
EbmlStatus ebml_read_id (ByteReader *r, guint32 *id);
/* An element data size; all value bits one means EBML_UNKNOWN_SIZE. */
EbmlStatus ebml_read_size (ByteReader *r, guint64 *size);
/* ID and size of the element at the cursor. */
EbmlStatus ebml_read_header (ByteReader *r, EbmlHeader *out);

/* Splits off the next child of a complete parent body.  FALSE at the end or
 * when the child is malformed, has an unknown size or overruns the parent
 * (*malformed tells which). */
gboolean ebml_next_child (ByteReader *parent, EbmlHeader *h, ByteReader *body, gboolean *malformed);

/* Element values (RFC 8794 7).  An empty body reads as 0 / 0.0 / "". */
gboolean ebml_uint (ByteReader body, guint64 *out);
gboolean ebml_sint (ByteReader body, gint64 *out);
gboolean ebml_float (ByteReader body, double *out);
/* A string value up to its first NUL, newly allocated. */
char *ebml_string (ByteReader body);

/* ---- Matroska Block / SimpleBlock (RFC 9559 10) -------------------------- */

#define MATROSKA_MAX_LACED_FRAMES 256

#define MATROSKA_BLOCK_KEYFRAME 0x80     /* SimpleBlock only */
#define MATROSKA_BLOCK_INVISIBLE 0x08
#define MATROSKA_BLOCK_LACING_MASK 0x06
#define MATROSKA_LACING_NONE 0x00
#define MATROSKA_LACING_XIPH 0x02
#define MATROSKA_LACING_FIXED 0x04
#define MATROSKA_LACING_EBML 0x06
#define MATROSKA_BLOCK_DISCARDABLE 0x01  /* SimpleBlock only */

typedef struct {
  guint64 track;
  gint16 timestamp;                 /* relative to the Cluster's */
  guint8 flags;
  guint header_len;                 /* bytes before the first frame */
  guint n_frames;
  guint32 frame_sizes[MATROSKA_MAX_LACED_FRAMES];
} MatroskaBlock;

/* Reads the track number only: enough to skip blocks of unknown tracks. */
EbmlStatus matroska_block_track (ByteReader r, guint64 *track);
/* Parses the block header and lacing of a block whose body is block_size
 * bytes; r holds at least its first bytes.  Frame sizes are checked to add up
 * to block_size exactly. */
EbmlStatus matroska_block_parse (ByteReader r, guint64 block_size, MatroskaBlock *out);

G_END_DECLS
