/* webrtc-gateway: serves RTSP cameras and any GStreamer source to browsers
 * over WebRTC. See README.md. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwelements.h"
#include "gwreaderbin.h"
#include "hooks.h"
#include "http.h"
#include "manager.h"

#include <glib-unix.h>
#include <malloc.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

namespace {

GLogLevelFlags max_level = G_LOG_LEVEL_INFO;

void
log_handler (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer)
{
  GLogLevelFlags l = (GLogLevelFlags)(level & G_LOG_LEVEL_MASK);
  if (l > max_level)
    return;
  /* Libraries' own info and debug chatter (libnice's UPnP, GIO) is not ours
   * to show; their warnings are. */
  if (l > G_LOG_LEVEL_MESSAGE && g_strcmp0 (domain, G_LOG_DOMAIN) != 0)
    return;
  const char *name = (l & G_LOG_LEVEL_ERROR)      ? "ERROR"
                     : (l & G_LOG_LEVEL_CRITICAL) ? "CRITICAL"
                     : (l & G_LOG_LEVEL_WARNING)  ? "WARN"
                     : (l & G_LOG_LEVEL_MESSAGE)  ? "NOTE"
                     : (l & G_LOG_LEVEL_INFO)     ? "INFO"
                                                  : "DEBUG";
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree gchar *ts = g_date_time_format (now, "%H:%M:%S");
  fprintf (stderr, "%s %-5s %s\n", ts, name, message);
}

void
set_log_level (const std::string &level)
{
  if (level == "error")
    max_level = G_LOG_LEVEL_CRITICAL;
  else if (level == "warning")
    max_level = G_LOG_LEVEL_WARNING;
  else if (level == "debug")
    max_level = G_LOG_LEVEL_DEBUG;
  else
    max_level = G_LOG_LEVEL_INFO;
}

/* Prints every problem of the configuration; returns how many. */
int
check_config (const std::string &config_file, const std::string &pipelines)
{
  int problems = 0;
  gw::ServerConfig conf;
  GError *err = NULL;
  if (!config_file.empty () && !gw::load_server_config (config_file, conf, &err)) {
    fprintf (stderr, "%s\n", err->message);
    g_clear_error (&err);
    problems++;
  }
  if (!pipelines.empty ())
    conf.pipelines_dir = pipelines;
  std::vector<gw::PathConfig> paths;
  std::vector<GError *> errors;
  if (!gw::load_path_dir (conf.pipelines_dir, paths, errors, &err)) {
    fprintf (stderr, "%s\n", err->message);
    g_clear_error (&err);
    return problems + 1;
  }
  for (GError *e : errors) {
    fprintf (stderr, "%s\n", e->message);
    g_error_free (e);
    problems++;
  }
  if (problems == 0)
    printf ("configuration OK: %zu path%s in %s\n", paths.size (), paths.size () == 1 ? "" : "s",
            conf.pipelines_dir.c_str ());
  return problems;
}

/* Every HTTP connection and every viewer holds file descriptors: raise the
 * soft limit to the hard one (often 1024 -> 524288), and say so if it stays
 * below what max-connections needs. A listener that runs out of descriptors
 * stops accepting for good (libsoup drops its accept source). */
void
raise_fd_limit (const gw::ServerConfig &conf)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit (RLIMIT_NOFILE, &rl);
    getrlimit (RLIMIT_NOFILE, &rl);
  }
  /* Refused connections waiting for their answer, and room for viewers. */
  rlim_t want = (rlim_t)conf.max_connections + 256 + 1024;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
    g_warning ("the file descriptor limit (%lu) is low for max-connections=%u: "
               "raise it (ulimit -n, LimitNOFILE=) to at least %lu, or lower max-connections",
               (unsigned long)rl.rlim_cur, conf.max_connections, (unsigned long)want);
}

} // namespace

int
main (int argc, char **argv)
{
  gchar *config = NULL, *pipelines = NULL;
  gboolean check = FALSE, version = FALSE;
  GOptionEntry entries[]
      = { { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config,
            "Server settings (key file, group [server]); default: ./gateway.conf if present",
            "FILE" },
          { "pipelines", 'p', 0, G_OPTION_ARG_FILENAME, &pipelines,
            "Directory of NAME.pipeline path files (overrides the config file)", "DIR" },
          { "check-config", 0, 0, G_OPTION_ARG_NONE, &check,
            "Validate the configuration, print every problem and exit", NULL },
          { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
          { NULL } };
  /* Every viewer brings a few threads (webrtcbin's), and glibc gives threads
   * their own malloc arenas, up to 8 per core, each keeping what it once
   * held: after viewers come and go the process stays larger than it needs.
   * A few arenas (as many as cores) keep it near its baseline; an explicit
   * MALLOC_ARENA_MAX still wins. */
  if (!g_getenv ("MALLOC_ARENA_MAX"))
    mallopt (M_ARENA_MAX, (int)MAX (2u, g_get_num_processors ()));
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- serve cameras to browsers over WebRTC");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (
      ctx, "Each file pipelines/NAME.pipeline defines the path NAME, played at\n"
           "http://HOST:PORT/NAME/ and served over WHEP at /NAME/whep. See README.md.\n"
           "SIGHUP, or any change in the pipelines directory, reloads the configuration.");
  GError *err = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    fprintf (stderr, "webrtc-gateway: %s (see --help)\n", err->message);
    return 2;
  }
  if (version) {
    printf ("webrtc-gateway %s\n", VERSION);
    return 0;
  }

  std::string config_file = config ? config : "";
  if (config_file.empty () && g_file_test ("gateway.conf", G_FILE_TEST_IS_REGULAR))
    config_file = "gateway.conf";
  std::string pipelines_dir = pipelines ? pipelines : "";
  g_free (config);
  g_free (pipelines);

  if (check)
    return check_config (config_file, pipelines_dir) == 0 ? 0 : 1;

  gst_init (&argc, &argv);
  gw_elements_register_static ();
  gw_reader_bin_prepare ();
  g_log_set_default_handler (log_handler, NULL);

  /* Refuse to start on any broken file, with the same messages as
   * --check-config. */
  if (check_config (config_file, pipelines_dir) != 0) {
    fprintf (stderr, "webrtc-gateway: not starting; fix the configuration above\n");
    return 1;
  }

  /* Destroyed last: at exit, the sources' and the viewers' teardowns
   * (started when the manager goes) finish before the process does, within
   * one bound. */
  struct WaitForTeardowns
  {
    ~WaitForTeardowns ()
    {
      gint64 end = g_get_monotonic_time () + 4 * G_USEC_PER_SEC;
      if (!gw::Worker::wait_idle (4 * G_USEC_PER_SEC))
        g_warning ("exiting with a source still being torn down");
      else if (!gw_reader_bin_wait_all_gone (MAX (0, end - g_get_monotonic_time ())))
        g_warning ("exiting with a viewer still being torn down");
    }
  } wait_for_teardowns;
  gw::Manager manager (config_file, pipelines_dir);
  if (!manager.load (&err)) {
    fprintf (stderr, "webrtc-gateway: %s\n", err->message);
    return 1;
  }
  set_log_level (manager.server ().log_level);
  raise_fd_limit (manager.server ());
  manager.watch ();

  gw::HttpServer http (manager);
  if (!http.listen (&err)) {
    fprintf (stderr, "webrtc-gateway: %s\n", err->message);
    return 1;
  }

  const std::string &addr = manager.server ().listen_address;
  std::string host = (addr == "0.0.0.0" || addr == "::") ? "127.0.0.1" : addr;
  const char *scheme = manager.server ().tls () ? "https" : "http";
  printf ("webrtc-gateway %s listening on %s:%u%s\n", VERSION, addr.c_str (), http.port (),
          manager.server ().tls () ? " (HTTPS)" : "");
  for (auto &p : manager.paths ())
    printf ("  path %-12s %s://%s:%u/%s/\n", p->conf ().name.c_str (), scheme, host.c_str (),
            http.port (), p->conf ().name.c_str ());
  printf ("Open %s://%s:%u/ in a browser (from another machine, use this host's address).\n",
          scheme, host.c_str (), http.port ());
  fflush (stdout);
  /* Only now: the API answers while the always-on sources start. */
  manager.start ();

  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  auto quit = [] (gpointer d) -> gboolean {
    g_message ("shutting down");
    g_main_loop_quit (static_cast<GMainLoop *> (d));
    return G_SOURCE_CONTINUE;
  };
  g_unix_signal_add (SIGINT, quit, loop);
  g_unix_signal_add (SIGTERM, quit, loop);
  g_unix_signal_add (
      SIGHUP,
      [] (gpointer d) -> gboolean {
        g_message ("SIGHUP: reloading the configuration");
        static_cast<gw::Manager *> (d)->reload ();
        return G_SOURCE_CONTINUE;
      },
      &manager);
  g_main_loop_run (loop);
  g_main_loop_unref (loop);
  gw::hooks_exiting ();
  return 0;
}
