/* libFuzzer target: a configuration file's bytes, written to a temp file and
 * loaded both as a path (NAME.pipeline) and as the server configuration.
 * Besides memory errors it checks the contract of server/conf.h: a refusal is
 * a GError naming the file, a success sets no error and holds valid values. */
#include <glib.h>
#include <glib/gstdio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>

#include "conf.h"

namespace {

std::string dir, path_file, server_file;

void
check (bool ok, const char *what)
{
  if (!ok) {
    fprintf (stderr, "fuzz_conf: invariant broken: %s\n", what);
    abort ();
  }
}

void
cleanup ()
{
  g_unlink (path_file.c_str ());
  g_unlink (server_file.c_str ());
  g_rmdir (dir.c_str ());
}

bool
init ()
{
  g_log_set_always_fatal (
      (GLogLevelFlags)(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING));
  gchar *d = g_dir_make_tmp ("gw-fuzz-conf-XXXXXX", NULL);
  check (d != NULL, "cannot make a temp directory");
  dir = d;
  g_free (d);
  path_file = dir + "/cam.pipeline";
  server_file = dir + "/gateway.conf";
  atexit (cleanup);
  return true;
}

void
write_file (const std::string &file, const uint8_t *data, size_t size)
{
  FILE *f = fopen (file.c_str (), "wb");
  check (f != NULL, "cannot write the temp file");
  check (fwrite (data, 1, size, f) == size || size == 0, "short write");
  fclose (f);
}

/* A refusal must say which file is wrong, so the user can find it. */
void
check_error (bool ok, GError *err, const std::string &file)
{
  if (ok) {
    check (err == NULL, "success with a GError");
    return;
  }
  check (err != NULL && err->domain == gw::gw_conf_error_quark (),
         "refused without a GW_CONF_ERROR");
  check (g_str_has_prefix (err->message, file.c_str ()), "error message does not name the file");
  g_error_free (err);
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static bool inited = init ();
  (void)inited;

  write_file (path_file, data, size);
  gw::PathConfig pc;
  GError *err = NULL;
  bool ok = gw::load_path_config (path_file, pc, &err);
  check_error (ok, err, path_file);
  if (ok) {
    check (pc.name == "cam", "path name is not the file name");
    check (pc.source.empty () != pc.pipeline.empty (), "not exactly one of source/pipeline");
    check (pc.start_timeout >= 1 && pc.start_timeout <= 3600, "start-timeout out of range");
    check (pc.text.size () == size, "text is not the file's text");
    for (const auto *argv :
         { &pc.hooks.ready, &pc.hooks.not_ready, &pc.hooks.read, &pc.hooks.unread })
      check (argv->empty () || !argv->front ().empty (), "a hook without a program");
  }

  write_file (server_file, data, size);
  gw::ServerConfig sc;
  err = NULL;
  ok = gw::load_server_config (server_file, sc, &err);
  check_error (ok, err, server_file);
  if (ok) {
    check (sc.port <= 65535, "port out of range");
    check (sc.min_port <= sc.max_port && sc.max_port <= 65535, "bad UDP port range");
    check (!sc.listen_address.empty () && !sc.pipelines_dir.empty (), "empty address or dir");
    check (sc.stun_servers.size () <= 1, "more than one STUN server");
  }
  return 0;
}
