/* main.c — livemp4fs SOURCE MOUNTPOINT [options]: options, logging, session. */
#include "livemp4fs.h"

#include <signal.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

Fs fs;

#define OPT(t, field, value) { t, offsetof (Options, field), value }
enum { KEY_CACHE = 100, KEY_INDEX_MEMORY };
static const struct fuse_opt option_spec[] = {
  OPT ("settle=%u", settle, 0),
  OPT ("keep_sources", keep_sources, 1),
  OPT ("noinotify", no_inotify, 1),
  OPT ("list_playlists", list_playlists, 1),   /* hls.c */
  OPT ("loglevel=%s", loglevel, 0),
  /* Given again, the last one counts (option_proc frees the one before). */
  FUSE_OPT_KEY ("cache=", KEY_CACHE),
  OPT ("nocache", no_cache, 1),
  FUSE_OPT_KEY ("index_memory=", KEY_INDEX_MEMORY),
  OPT ("-h", show_help, 1),
  OPT ("--help", show_help, 1),
  OPT ("-V", show_version, 1),
  OPT ("--version", show_version, 1),
  FUSE_OPT_END
};

static void
usage (const char *prog)
{
  printf ("usage: %s SOURCE MOUNTPOINT [options]\n\n"
          "Shows the recordings in SOURCE as fast-start MP4 files at MOUNTPOINT.\n\n"
          "livemp4fs options:\n"
          "    -o settle=SECONDS      a recording is live until its source has not changed\n"
          "                           for this long (default 10)\n"
          "    -o keep_sources        also show Matroska/WebM originals under their own names\n"
          "    -o noinotify           detect changes only by looking at size and mtime\n"
          "    -o list_playlists      list each recording's HLS playlist NAME.m3u8 (always found by name)\n"
          "    -o loglevel=LEVEL      error, warning, info or debug (default warning)\n"
          "    -o cache=DIR           keep settled recordings' indexes in DIR (default\n"
          "                           $XDG_CACHE_HOME/livemp4fs, /var/cache/livemp4fs for root)\n"
          "    -o nocache             keep no index cache\n"
          "    -o index_memory=SIZE   indexes of recordings nothing has open are dropped,\n"
          "                           least recently used first, past SIZE (K, M, G;\n"
          "                           default 256M)\n"
          "    -h, --help             this help\n"
          "    -V, --version          the version\n\n",
          prog);
}

static int
option_proc (void *data, const char *arg, int key, struct fuse_args *outargs)
{
  (void) outargs;
  Options *opts = data;
  if (key == KEY_CACHE || key == KEY_INDEX_MEMORY) {
    char **field = key == KEY_CACHE ? &opts->cache_dir : &opts->index_memory;
    g_free (*field);
    *field = g_strdup (strchr (arg, '=') + 1);
    return 0;
  }
  if (key == FUSE_OPT_KEY_NONOPT && !opts->source) {
    opts->source = g_strdup (arg);
    return 0;   /* consumed: the rest is libfuse's */
  }
  return 1;
}

static GLogLevelFlags log_threshold = G_LOG_LEVEL_WARNING;
static gboolean log_to_syslog;

static void
log_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  (void) data;
  GLogLevelFlags l = level & G_LOG_LEVEL_MASK;
  if (l > log_threshold)
    return;
  if (log_to_syslog) {
    int prio = l <= G_LOG_LEVEL_CRITICAL ? LOG_ERR : l <= G_LOG_LEVEL_WARNING ? LOG_WARNING
             : l <= G_LOG_LEVEL_INFO ? LOG_INFO : LOG_DEBUG;
    syslog (prio, "%s", message);
  } else {
    const char *tag = l <= G_LOG_LEVEL_CRITICAL ? "error" : l <= G_LOG_LEVEL_WARNING ? "warning"
                    : l <= G_LOG_LEVEL_INFO ? "info" : "debug";
    fprintf (stderr, "%s: %s: %s\n", domain ? domain : "livemp4fs", tag, message);
  }
}

static gboolean
set_log_level (const char *name)
{
  static const struct { const char *name; GLogLevelFlags level; } levels[] = {
    { "error", G_LOG_LEVEL_CRITICAL }, { "warning", G_LOG_LEVEL_WARNING },
    { "info", G_LOG_LEVEL_INFO }, { "debug", G_LOG_LEVEL_DEBUG },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (levels); i++)
    if (g_ascii_strcasecmp (name, levels[i].name) == 0) {
      log_threshold = levels[i].level;
      return TRUE;
    }
  return FALSE;
}

static void
raise_fd_limit (void)
{
  /* Every recording keeps its source open. */
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit (RLIMIT_NOFILE, &rl);
  }
}

/* Threads of this process: 1 once every thread has been joined. */
static guint
count_threads (void)
{
  guint n = 0;
  GDir *d = g_dir_open ("/proc/self/task", 0, NULL);
  if (d) {
    while (g_dir_read_name (d))
      n++;
    g_dir_close (d);
  }
#ifdef __SANITIZE_THREAD__
  n -= n > 1;   /* ThreadSanitizer's own background thread */
#endif
  return n;
}

int
main (int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT (argc, argv);
  struct fuse_cmdline_opts cmd = { 0 };
  int ret = 1;

  fs.opts.settle = 10;
  if (fuse_opt_parse (&args, &fs.opts, option_spec, option_proc) < 0)
    goto out;
  if (fs.opts.show_help) {
    usage (argv[0]);
    fuse_cmdline_help ();
    fuse_lowlevel_help ();
    ret = 0;
    goto out;
  }
  if (fs.opts.show_version) {
    printf ("livemp4fs %s (libfuse %s)\n", LIVEMP4FS_VERSION, fuse_pkgversion ());
    ret = 0;
    goto out;
  }
  if (fs.opts.loglevel && !set_log_level (fs.opts.loglevel)) {
    fprintf (stderr, "livemp4fs: unknown loglevel '%s'\n", fs.opts.loglevel);
    goto out;
  }
  fs.opts.index_memory_limit = 256ull << 20;
  if (fs.opts.index_memory && !cache_parse_size (fs.opts.index_memory, &fs.opts.index_memory_limit)) {
    fprintf (stderr, "livemp4fs: index_memory '%s' is not a size (such as 512K, 64M, 2G)\n", fs.opts.index_memory);
    goto out;
  }
  g_log_set_default_handler (log_handler, NULL);
  /* Read-only, as the kernel enforces it: every write fails with EROFS. */
  fuse_opt_add_arg (&args, "-oro,default_permissions,fsname=livemp4fs,subtype=livemp4fs");
  if (fuse_parse_cmdline (&args, &cmd) != 0)
    goto out;
  if (!fs.opts.source || !cmd.mountpoint) {
    usage (argv[0]);
    goto out;
  }
  fs.root_fd = open (fs.opts.source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fs.root_fd < 0) {
    fprintf (stderr, "livemp4fs: %s: %s\n", fs.opts.source, g_strerror (errno));
    goto out;
  }
  raise_fd_limit ();
  g_mutex_init (&fs.lock);
  nodes_init ();
  catalog_init ();
  cache_init ();

  fs.se = fuse_session_new (&args, &livemp4fs_ops, sizeof livemp4fs_ops, NULL);
  if (!fs.se)
    goto out;
  /* A lease break (catalog.c, writer_state) must not end the daemon. */
  signal (SIGIO, SIG_IGN);
  if (fuse_set_signal_handlers (fs.se) != 0)
    goto destroy;
  if (fuse_session_mount (fs.se, cmd.mountpoint) != 0)
    goto remove_handlers;
  if (!cmd.foreground) {
    log_to_syslog = TRUE;
    openlog ("livemp4fs", LOG_PID, LOG_DAEMON);
  }
  fuse_daemonize (cmd.foreground);
  watch_start ();
  g_info ("serving %s at %s", fs.opts.source, cmd.mountpoint);
  if (cmd.singlethread) {
    ret = fuse_session_loop (fs.se);
  } else {
    struct fuse_loop_config *config = fuse_loop_cfg_create ();
    fuse_loop_cfg_set_clone_fd (config, cmd.clone_fd);
    if (cmd.max_threads > 0 && cmd.max_threads <= 1000)
      fuse_loop_cfg_set_max_threads (config, cmd.max_threads);
    if (cmd.max_idle_threads <= 1000)   /* UINT_MAX: not given */
      fuse_loop_cfg_set_idle_threads (config, cmd.max_idle_threads);
    ret = fuse_session_loop_mt (fs.se, config);
    fuse_loop_cfg_destroy (config);
  }
  /* Told to stop by a signal (libfuse's handlers return it): a clean exit. */
  if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
    ret = 0;
  /* The loop has joined its workers; the watcher is next (also .destroy). */
  watch_stop ();
  fuse_session_unmount (fs.se);
remove_handlers:
  fuse_remove_signal_handlers (fs.se);
destroy:
  fuse_session_destroy (fs.se);
  fs.se = NULL;
  watch_stop ();
  ops_file_shutdown ();
  ops_tree_shutdown ();
  hls_shutdown ();   /* hls.c: the generations table */
  nodes_shutdown ();
  catalog_shutdown ();
  cache_shutdown ();
  close (fs.root_fd);
  g_mutex_clear (&fs.lock);
  g_info ("stopped: %u thread(s) left", count_threads ());
out:
  free (cmd.mountpoint);
  fuse_opt_free_args (&args);
  g_free (fs.opts.source);
  free (fs.opts.loglevel);
  g_free (fs.opts.cache_dir);
  g_free (fs.opts.index_memory);
  return ret ? 1 : 0;
}
