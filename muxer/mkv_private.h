/* mkv_private.h — what the Matroska indexer's files share: element IDs, the
 * indexer's state (tracks and the queue of frames awaiting their timing), and
 * the entry points between its files.  Not a public API; mkv.h describes the
 * design.
 *
 *   mkv.c         the IndexerClass and the walk over EBML header, Segment,
 *                 Info, Tracks and Clusters
 *   mkv_tracks.c  TrackEntry elements to Tracks and sample entries (codecs.h)
 *   mkv_blocks.c  SimpleBlock and BlockGroup elements to queued frames
 *   mkv_timing.c  decode times and durations of the queued frames, appended
 *                 to the recording in file order
 */
#pragma once

#include "bytes.h"
#include "codecs.h"
#include "ebml.h"
#include "mkv.h"

G_BEGIN_DECLS

/* Element IDs (RFC 8794 11, RFC 9559 5.1). */
#define ID_EBML 0x1A45DFA3
#define ID_EBML_MAX_ID_LENGTH 0x42F2
#define ID_EBML_MAX_SIZE_LENGTH 0x42F3
#define ID_DOCTYPE 0x4282
#define ID_SEGMENT 0x18538067
#define ID_SEEK_HEAD 0x114D9B74
#define ID_INFO 0x1549A966
#define ID_TIMESTAMP_SCALE 0x2AD7B1
#define ID_TRACKS 0x1654AE6B
#define ID_TRACK_ENTRY 0xAE
#define ID_TRACK_NUMBER 0xD7
#define ID_TRACK_TYPE 0x83
#define ID_CODEC_ID 0x86
#define ID_CODEC_PRIVATE 0x63A2
#define ID_DEFAULT_DURATION 0x23E383
#define ID_CODEC_DELAY 0x56AA
#define ID_LANGUAGE 0x22B59C
#define ID_CONTENT_ENCODINGS 0x6D80
#define ID_VIDEO 0xE0
#define ID_PIXEL_WIDTH 0xB0
#define ID_PIXEL_HEIGHT 0xBA
#define ID_DISPLAY_WIDTH 0x54B0
#define ID_DISPLAY_HEIGHT 0x54BA
#define ID_DISPLAY_UNIT 0x54B2
#define ID_COLOUR 0x55B0
#define ID_MATRIX_COEFFICIENTS 0x55B1
#define ID_CHROMA_SITING_HORZ 0x55B7
#define ID_CHROMA_SITING_VERT 0x55B8
#define ID_RANGE 0x55B9
#define ID_TRANSFER_CHARACTERISTICS 0x55BA
#define ID_PRIMARIES 0x55BB
#define ID_AUDIO 0xE1
#define ID_SAMPLING_FREQUENCY 0xB5
#define ID_OUTPUT_SAMPLING_FREQUENCY 0x78B5
#define ID_CHANNELS 0x9F
#define ID_CLUSTER 0x1F43B675
#define ID_CLUSTER_TIMESTAMP 0xE7
#define ID_SIMPLE_BLOCK 0xA3
#define ID_BLOCK_GROUP 0xA0
#define ID_BLOCK 0xA1
#define ID_BLOCK_DURATION 0x9B
#define ID_REFERENCE_BLOCK 0xFB
#define ID_DISCARD_PADDING 0x75A2
#define ID_CUES 0x1C53BB6B
#define ID_TAGS 0x1254C367
#define ID_CHAPTERS 0x1043A770
#define ID_ATTACHMENTS 0x1941A469

#define TRACK_TYPE_VIDEO 1
#define TRACK_TYPE_AUDIO 2

#define UNKNOWN_END G_MAXUINT64

typedef enum {
  CODEC_NONE, CODEC_AVC, CODEC_HEVC, CODEC_AV1, CODEC_VP8, CODEC_VP9,
  CODEC_OPUS, CODEC_AAC, CODEC_FLAC, CODEC_AC3, CODEC_MPEG_AUDIO,
} Codec;

typedef struct {
  /* From the TrackEntry. */
  guint64 number;
  guint64 type;
  char *codec_id;
  GBytes *codec_private;
  guint64 default_duration_ns;
  guint64 codec_delay_ns;
  gboolean encoded;                /* ContentEncodings: compressed or encrypted frames */
  char *language;
  guint64 pixel_width, pixel_height, display_width, display_height, display_unit;
  VpxConfig colour;                /* Colour element, as vpcC fields */
  double sampling_frequency, output_sampling_frequency;
  guint64 channels;

  Codec codec;
  Track *track;                    /* NULL if left out */
  gboolean configured;             /* sample entry built */
  gboolean left_out;
  guint32 timescale;
  guint32 frame_samples;           /* constant audio frame duration, 0 if per frame */
  gint64 default_duration;         /* timescale units, 0 if unknown */
  gint64 codec_delay;              /* timescale units */

  /* Timing.  Every frame is placed as it arrives, with a duration that the
   * next frame of the track may still change (mkv_timing.c); only video
   * waits, until its reorder depth is known. */
  GArray *held;                    /* queue sequence numbers of frames waiting to be placed */
  gboolean committed;              /* video: reorder depth known */
  guint delay;
  gint64 pts_buffer[MKV_MAX_REORDER + 1];   /* the delay + 1 largest pts, ascending */
  gboolean timed;                  /* next_dts and edit_base are set */
  gint64 next_dts;                 /* decode time of the next frame, as the last one's duration leads to it */
  gint64 edit_base;
  guint64 last_seq;                /* the newest placed frame, if timed */
  gint64 last_dts;
  gint64 last_duration;
  gint64 spacing;                  /* smallest pts step seen at commit */
} MkvTrack;

typedef struct {
  guint64 offset;
  guint32 size;
  guint track;                     /* index into MkvState.tracks */
  gint64 pts;                      /* track timescale */
  gint64 block_duration;           /* track timescale, -1 if none */
  guint32 codec_duration;          /* audio samples from the codec, 0 if unknown */
  gboolean sync;
  gboolean ready;
  SampleInfo info;
} Frame;

typedef enum { LEVEL_TOP, LEVEL_SEGMENT, LEVEL_CLUSTER, LEVEL_DONE } Level;

typedef struct {
  Level level;
  guint64 pos;                     /* next element header */
  guint64 segment_end;             /* UNKNOWN_END while unknown */
  guint64 cluster_end;
  gboolean seen_ebml, seen_tracks, seen_cluster;
  guint64 timestamp_scale;         /* ns per Matroska tick */
  gint64 cluster_timestamp;
  GPtrArray *tracks;               /* MkvTrack* */
  GArray *frames;                  /* Frame, in file order; [0] has sequence number frames_base */
  guint64 frames_base;
  guint frames_done;               /* appended */
} MkvState;

/* ---- mkv.c: reading elements at file offsets ---------------------------- */

EbmlStatus mkv_read_header_at (const Source *src, guint64 pos, guint64 limit, EbmlHeader *h);
gboolean mkv_read_uint_at (const Source *src, guint64 pos, guint64 size, guint64 *out);
gboolean mkv_read_sint_at (const Source *src, guint64 pos, guint64 size, gint64 *out);

/* ---- mkv_tracks.c ------------------------------------------------------------- */

void mkv_track_free (MkvTrack *t);
MkvTrack *mkv_find_track (MkvState *st, guint64 number, guint *index);
/* Parses a Tracks element's body; FALSE when the recording failed. */
gboolean mkv_parse_tracks (MkvState *st, Recording *rec, ByteReader r);
void mkv_track_configure (MkvState *st, Recording *rec, MkvTrack *t, const guint8 *first, gsize first_len);

/* ---- mkv_blocks.c ------------------------------------------------------------- */

/* Queues the frames of a block whose bytes are all in the source; FALSE when
 * the recording failed. */
gboolean mkv_handle_block (MkvState *st, Recording *rec, const Source *src, guint64 body, guint64 size,
                           gboolean simple, gboolean referenced, gint64 duration_ticks_raw, gint64 discard_ns);
gboolean mkv_handle_block_group (MkvState *st, Recording *rec, const Source *src, guint64 body, guint64 size);

/* ---- mkv_timing.c ------------------------------------------------------------- */

gint64 mkv_ns_to_ticks (gint64 ns, guint32 timescale);
guint32 mkv_video_timescale (guint64 timestamp_scale);
void mkv_queue_frame (MkvState *st, Recording *rec, MkvTrack *t, guint track_index, const Frame *proto);
void mkv_release_held_frames (MkvState *st, Recording *rec);
void mkv_append_ready (MkvState *st, Recording *rec);

G_END_DECLS
