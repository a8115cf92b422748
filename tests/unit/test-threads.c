/* test-threads.c — a recording's shared state under concurrent use: the
 * indexer adding problems (under its feed lock, as recording_update() does)
 * while status readers (getxattr user.livemp4.error, user.livemp4.state)
 * copy them.  Run under ThreadSanitizer (make tsan) this shows a race as a
 * report; under AddressSanitizer a reader of a reallocated GString as a
 * use-after-free. */
#include <glib.h>
#include <string.h>

#include "muxer/fmp4.h"
#include "muxer/recording.h"

#define NOTES 400

typedef struct {
  Recording *rec;
  gint done;
} Shared;

static gpointer
indexer_thread (gpointer data)
{
  Shared *s = data;
  for (int i = 0; i < NOTES; i++) {
    g_mutex_lock (&s->rec->feed_lock);
    /* Long enough that the notes' GString is reallocated again and again. */
    recording_note (s->rec, "track %d: a problem worth a note of some length, number %d", i % 7, i);
    if (i == NOTES / 2)
      recording_fail (s->rec, "damaged box header at %d", i);
    g_mutex_unlock (&s->rec->feed_lock);
  }
  g_atomic_int_set (&s->done, 1);
  return NULL;
}

static void
test_problems_while_indexing (void)
{
  Shared s = { .rec = recording_new (&fmp4_indexer, "threads") };
  GThread *t = g_thread_new ("indexer", indexer_thread, &s);
  guint reads = 0;
  gsize longest = 0;
  while (!g_atomic_int_get (&s.done) || reads == 0) {
    g_autofree char *p = recording_describe_problems (s.rec);
    longest = MAX (longest, strlen (p));
    (void) recording_failed (s.rec);
    reads++;
  }
  g_thread_join (t);
  g_autofree char *p = recording_describe_problems (s.rec);
  g_assert_true (g_str_has_prefix (p, "damaged box header at 200\n"));
  g_assert_nonnull (strstr (p, "number 399"));
  g_assert_true (recording_failed (s.rec));
  g_assert_cmpuint (longest, <=, strlen (p));
  recording_unref (s.rec);
}

static void
quiet (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  (void) domain, (void) level, (void) message, (void) data;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  /* Every note and the failure are logged once: expected, and not shown. */
  g_log_set_handler ("livemp4", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING, quiet, NULL);
  g_test_add_func ("/threads/problems-while-indexing", test_problems_while_indexing);
  return g_test_run ();
}
