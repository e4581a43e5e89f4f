/* Configuration parsing: every problem names file, line and field. */
#include <glib.h>
#include <glib/gstdio.h>

#include "conf.h"
#include "gwurl.h"

#include <string>

namespace {

std::string tmpdir;

std::string
write (const char *name, const char *text)
{
  g_autofree gchar *path = g_build_filename (tmpdir.c_str (), name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

/* Loads a path file and returns the error message ("" if it loaded). */
std::string
path_error (const char *name, const char *text)
{
  std::string file = write (name, text);
  gw::PathConfig pc;
  GError *err = NULL;
  bool ok = gw::load_path_config (file, pc, &err);
  std::string msg = err ? err->message : "";
  g_clear_error (&err);
  g_remove (file.c_str ());
  g_assert_true (ok == msg.empty ());
  return msg;
}

void
assert_contains (const std::string &msg, const char *part)
{
  if (msg.find (part) == std::string::npos)
    g_error ("\"%s\" does not contain \"%s\"", msg.c_str (), part);
}

void
test_path_ok ()
{
  std::string file
      = write ("cam1.pipeline",
               "# a camera\n[path]\nsource=rtsp://user:secret@10.0.0.5/stream\non-demand=true\n"
               "start-timeout=5\nclose-after=0\nmax-readers=3\nrtsp-transport=tcp\n");
  gw::PathConfig pc;
  GError *err = NULL;
  g_assert_true (gw::load_path_config (file, pc, &err));
  g_assert_no_error (err);
  g_assert_cmpstr (pc.name.c_str (), ==, "cam1");
  g_assert_true (pc.on_demand);
  g_assert_cmpuint (pc.start_timeout, ==, 5);
  g_assert_cmpuint (pc.close_after, ==, 0);
  g_assert_cmpuint (pc.max_readers, ==, 3);
  g_assert_true (pc.rtsp_transport == gw::Transport::Tcp);
  g_remove (file.c_str ());
}

void
test_path_errors_name_line_and_field ()
{
  std::string m = path_error ("a.pipeline", "[path]\nsource=rtsp://h/s\nstart-timeout=soon\n");
  assert_contains (m, "a.pipeline:3: start-timeout: not a whole number");

  m = path_error ("b.pipeline", "[path]\n\nsource=rtsp://h/s\non-demand=maybe\n");
  assert_contains (m, "b.pipeline:4: on-demand: expected true or false");

  m = path_error ("c.pipeline", "[path]\nsource=http://h/s\n");
  assert_contains (m, "c.pipeline:2: source: \"http://h/s\" is not an rtsp://");

  m = path_error ("d.pipeline", "[path]\nsource=rtsp://h/s\npipeline=videotestsrc\n");
  assert_contains (m, "d.pipeline:3: pipeline: set exactly one of");

  m = path_error ("e.pipeline", "[path]\non-demand=true\n");
  assert_contains (m, "e.pipeline:1: set exactly one of");

  m = path_error ("f.pipeline", "[path]\nsource=rtsp://h/s\nsorce=rtsp://x\n");
  assert_contains (m, "f.pipeline:3: sorce: unknown field");

  m = path_error ("g.pipeline", "[camera]\nsource=rtsp://h/s\n");
  assert_contains (m, "g.pipeline:1: unknown group [camera]");

  m = path_error ("h.pipeline", "[path]\nsource=rtsp://h/s\nthis line is broken\n");
  assert_contains (m, "h.pipeline:3:");

  m = path_error ("i.pipeline", "[path]\nsource=rtsp://h/s\nmax-readers=-1\n");
  assert_contains (m, "i.pipeline:3: max-readers");

  m = path_error ("j.pipeline", "[path]\nsource=rtsp://h/s\nrtsp-transport=quic\n");
  assert_contains (m, "j.pipeline:3: rtsp-transport: expected tcp, udp or auto");

  m = path_error ("k.pipeline", "[path]\nsource=rtsp://h/s\nstart-timeout=0\n");
  assert_contains (m, "k.pipeline:3: start-timeout: 0 is out of range");

  /* A file name that cannot be a URL path. */
  m = path_error ("bad name.pipeline", "[path]\nsource=rtsp://h/s\n");
  assert_contains (m, "invalid path name");
}

/* Hook commands: split like a shell word list (quotes kept together, no
 * variable expansion), the program checked, every problem on its line. */
void
test_hooks ()
{
  g_autofree gchar *sh = g_find_program_in_path ("sh");
  g_assert_nonnull (sh);
  std::string script = write ("hook.sh", "#!/bin/sh\nexit 0\n");
  g_chmod (script.c_str (), 0755);
  std::string text = std::string ("[path]\nsource=rtsp://h/s\n"
                                  "run-on-ready=sh -c 'echo \"ready $GW_PATH\"' --\n"
                                  "run-on-not-ready=")
                     + script
                     + " not ready\n"
                       "run-on-read=./hook.sh \"a b\" c\\ d\n"
                       "run-on-unread=\n";
  std::string file = write ("hooked.pipeline", text.c_str ());
  gw::PathConfig pc;
  GError *err = NULL;
  g_assert_true (gw::load_path_config (file, pc, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (pc.hooks.ready.size (), ==, 4);
  g_assert_cmpstr (pc.hooks.ready[0].c_str (), ==, "sh");
  g_assert_cmpstr (pc.hooks.ready[1].c_str (), ==, "-c");
  g_assert_cmpstr (pc.hooks.ready[2].c_str (), ==, "echo \"ready $GW_PATH\"");
  g_assert_cmpstr (pc.hooks.ready[3].c_str (), ==, "--");
  g_assert_cmpuint (pc.hooks.not_ready.size (), ==, 3);
  g_assert_cmpstr (pc.hooks.not_ready[0].c_str (), ==, script.c_str ());
  /* A relative program is the path file's neighbour. */
  g_assert_cmpuint (pc.hooks.read.size (), ==, 3);
  g_assert_cmpstr (pc.hooks.read[0].c_str (), ==, script.c_str ());
  g_assert_cmpstr (pc.hooks.read[1].c_str (), ==, "a b");
  g_assert_cmpstr (pc.hooks.read[2].c_str (), ==, "c d");
  g_assert_true (pc.hooks.unread.empty ());
  g_remove (file.c_str ());

  /* A path file named relative to the working directory (a relative
   * pipelines= directory). */
  g_autofree gchar *cwd = g_get_current_dir ();
  g_assert_cmpint (g_chdir (tmpdir.c_str ()), ==, 0);
  write ("rel.pipeline", "[path]\nsource=rtsp://h/s\nrun-on-read=./hook.sh x\n");
  gw::PathConfig rel;
  GError *rel_err = NULL;
  bool rel_ok = gw::load_path_config ("rel.pipeline", rel, &rel_err);
  g_remove ("rel.pipeline");
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_no_error (rel_err);
  g_assert_true (rel_ok);
  g_assert_cmpuint (rel.hooks.read.size (), ==, 2);
  g_assert_cmpstr (rel.hooks.read[0].c_str (), ==, script.c_str ());

  /* None configured. */
  std::string plain = write ("plain.pipeline", "[path]\nsource=rtsp://h/s\n");
  gw::PathConfig none;
  g_assert_true (gw::load_path_config (plain, none, NULL));
  g_assert_true (none.hooks.empty ());
  g_remove (plain.c_str ());

  std::string m = path_error ("h1.pipeline", "[path]\nsource=rtsp://h/s\n\n"
                                             "run-on-ready=sh -c 'unterminated\n");
  assert_contains (m, "h1.pipeline:4: run-on-ready: cannot split the command");
  m = path_error ("h2.pipeline", "[path]\nsource=rtsp://h/s\nrun-on-read=\"\"\n");
  assert_contains (m, "h2.pipeline:3: run-on-read: the program \"\" is not found in PATH");
  m = path_error ("h3.pipeline",
                  "[path]\nsource=rtsp://h/s\nrun-on-unread=gw-no-such-program-here x\n");
  assert_contains (m, "h3.pipeline:3: run-on-unread: the program \"gw-no-such-program-here\" "
                      "is not found in PATH");
  m = path_error ("h4.pipeline", "[path]\nsource=rtsp://h/s\nrun-on-not-ready=/nonexistent/x\n");
  assert_contains (m, "h4.pipeline:3: run-on-not-ready: the program \"/nonexistent/x\" is not an "
                      "executable file");
  /* A file that is not executable. */
  std::string data = write ("data.txt", "not a program\n");
  std::string t = "[path]\nsource=rtsp://h/s\nrun-on-ready=" + data + "\n";
  m = path_error ("h5.pipeline", t.c_str ());
  assert_contains (m, "h5.pipeline:3: run-on-ready: the program");
  assert_contains (m, "is not an executable file");
  m = path_error ("h6.pipeline", "[path]\nsource=rtsp://h/s\nrun-on-start=sh\n");
  assert_contains (m, "h6.pipeline:3: run-on-start: unknown field");
  g_remove (data.c_str ());
  g_remove (script.c_str ());
}

void
test_passwords_never_in_errors ()
{
  std::string m = path_error ("p.pipeline", "[path]\nsource=http://admin:hunter2@cam/s\n");
  g_assert_true (m.find ("hunter2") == std::string::npos);
  assert_contains (m, "admin:***@cam");
  /* (g_assert_cmpstr keeps the pointer past the statement: compare strings) */
  g_assert_true (gw::redact_urls ("rtsp://u:p@h:554/x") == "rtsp://u:***@h:554/x");
  g_assert_true (gw::redact_urls ("rtsp://h/x@y") == "rtsp://h/x@y");
  g_assert_true (gw::redact_urls ("rtsp://h:554/x") == "rtsp://h:554/x");
}

void
test_server_config ()
{
  std::string file
      = write ("gw.conf", "[server]\nlisten=127.0.0.1:9000\npipelines=paths\n"
                          "ice-servers=stun://stun.example:3478, turn://u:p@turn.example:3478\n"
                          "ice-addresses=10.0.0.1\nudp-port-range=20000-20100\nlog-level=debug\n");
  gw::ServerConfig c;
  GError *err = NULL;
  g_assert_true (gw::load_server_config (file, c, &err));
  g_assert_cmpstr (c.listen_address.c_str (), ==, "127.0.0.1");
  g_assert_cmpuint (c.port, ==, 9000);
  g_autofree gchar *want = g_build_filename (tmpdir.c_str (), "paths", NULL);
  g_assert_cmpstr (c.pipelines_dir.c_str (), ==, want);
  g_assert_cmpuint (c.stun_servers.size (), ==, 1);
  g_assert_cmpuint (c.turn_servers.size (), ==, 1);
  g_assert_cmpuint (c.min_port, ==, 20000);
  g_assert_cmpuint (c.max_port, ==, 20100);

  const struct
  {
    const char *text, *expect;
  } bad[] = {
    { "[server]\nlisten=nowhere\n", "gw.conf:2: listen: expected address:port" },
    { "[server]\nlisten=1.2.3.4:99999\n", "gw.conf:2: listen: bad port" },
    { "[server]\n\nudp-port-range=30-20\n", "gw.conf:3: udp-port-range" },
    { "[server]\nice-servers=http://x\n", "gw.conf:2: ice-servers" },
    { "[server]\nice-addresses=10.0.0.1,not-an-ip\n", "gw.conf:2: ice-addresses" },
    { "[server]\nlog-level=loud\n", "gw.conf:2: log-level" },
    { "[server]\nport=1\n", "gw.conf:2: port: unknown field" },
  };
  for (auto &b : bad) {
    write ("gw.conf", b.text);
    GError *e = NULL;
    g_assert_false (gw::load_server_config (file, c, &e));
    assert_contains (e->message, b.expect);
    g_error_free (e);
  }
  g_remove (file.c_str ());
}

/* Runs openssl (GW_OPENSSL, from the build) with @args in tmpdir. */
void
openssl (const char *args)
{
  const char *bin = g_getenv ("GW_OPENSSL");
  if (!bin || !*bin)
    g_error ("GW_OPENSSL is not set: the TLS checks need openssl (scripts/install-deps.sh)");
  g_autofree gchar *cmd = g_strdup_printf ("%s %s", bin, args);
  g_auto (GStrv) argv = NULL;
  g_assert_true (g_shell_parse_argv (cmd, NULL, &argv, NULL));
  gint status = -1;
  g_autoptr (GError) err = NULL;
  if (!g_spawn_sync (tmpdir.c_str (), argv, NULL,
                     (GSpawnFlags)(G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL), NULL,
                     NULL, NULL, NULL, &status, &err)
      || !g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s", cmd, err ? err->message : "non-zero exit");
}

/* Loads @text as gw.conf; returns the error message ("" if it loaded). */
std::string
server_error (const char *text, gw::ServerConfig &c)
{
  std::string file = write ("gw.conf", text);
  GError *err = NULL;
  bool ok = gw::load_server_config (file, c, &err);
  std::string msg = err ? err->message : "";
  g_clear_error (&err);
  g_assert_true (ok == msg.empty ());
  return msg;
}

void
server_ok (const char *text, gw::ServerConfig &c)
{
  std::string m = server_error (text, c);
  if (!m.empty ())
    g_error ("unexpected error: %s", m.c_str ());
}

void
test_connection_limits ()
{
  gw::ServerConfig c;
  server_ok ("[server]\n", c);
  g_assert_cmpuint (c.max_connections, ==, 1024);
  g_assert_cmpuint (c.max_connections_per_address, ==, 64);
  g_assert_cmpuint (c.request_timeout, ==, 30);
  server_ok ("[server]\nmax-connections=10\nmax-connections-per-address=2\n"
             "request-timeout=0\n",
             c);
  g_assert_cmpuint (c.max_connections, ==, 10);
  g_assert_cmpuint (c.max_connections_per_address, ==, 2);
  g_assert_cmpuint (c.request_timeout, ==, 0);
  assert_contains (server_error ("[server]\nmax-connections=0\n", c),
                   "gw.conf:2: max-connections: 0 is out of range");
  assert_contains (server_error ("[server]\n\nmax-connections-per-address=many\n", c),
                   "gw.conf:3: max-connections-per-address: not a whole number");
  assert_contains (server_error ("[server]\nrequest-timeout=-5\n", c),
                   "gw.conf:2: request-timeout: not a whole number");
}

void
test_tls ()
{
  const char *req = "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=gw-test";
  g_autofree gchar *a = g_strdup_printf ("%s -keyout key.pem -out cert.pem", req);
  g_autofree gchar *b = g_strdup_printf ("%s -keyout other-key.pem -out other-cert.pem", req);
  openssl (a);
  openssl (b);
  write ("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                        "-----END CERTIFICATE-----\n");

  gw::ServerConfig c;
  /* Relative to the configuration file. */
  server_ok ("[server]\ntls-cert=cert.pem\ntls-key=key.pem\n", c);
  g_assert_true (c.tls ());
  g_autofree gchar *want = g_build_filename (tmpdir.c_str (), "cert.pem", NULL);
  g_assert_cmpstr (c.tls_cert.c_str (), ==, want);
  g_autoptr (GTlsCertificate) cert = NULL;
  std::string problem;
  bool key_at_fault = true;
  g_assert_true (gw::load_tls_certificate (c.tls_cert, c.tls_key, &cert, problem, key_at_fault));
  g_assert_nonnull (cert);
  server_ok ("[server]\n", c);
  g_assert_false (c.tls ());

  const struct
  {
    const char *text, *expect;
  } bad[] = {
    { "[server]\ntls-cert=cert.pem\n", "gw.conf:2: tls-cert: tls-cert is set but tls-key is not" },
    { "[server]\nlisten=0.0.0.0:1\ntls-key=key.pem\n",
      "gw.conf:3: tls-key: tls-key is set but tls-cert is not" },
    { "[server]\ntls-cert=\ntls-key=key.pem\n", "gw.conf:3: tls-key: tls-key is set but" },
    { "[server]\ntls-cert=missing.pem\ntls-key=key.pem\n", "gw.conf:2: tls-cert: cannot read \"" },
    { "[server]\ntls-cert=cert.pem\ntls-key=missing.pem\n", "gw.conf:3: tls-key: cannot read \"" },
    { "[server]\ntls-cert=key.pem\ntls-key=key.pem\n", "gw.conf:2: tls-cert: \"" },
    { "[server]\ntls-cert=garbage.pem\ntls-key=key.pem\n", "holds no usable PEM certificate" },
    { "[server]\ntls-cert=cert.pem\ntls-key=cert.pem\n", "gw.conf:3: tls-key: \"" },
    { "[server]\ntls-cert=cert.pem\n\ntls-key=other-key.pem\n", "gw.conf:4: tls-key: the key in" },
  };
  for (auto &t : bad) {
    std::string m = server_error (t.text, c);
    g_test_message ("%s", m.c_str ());
    assert_contains (m, t.expect);
  }
  /* A key that is not the certificate's says so. */
  assert_contains (server_error ("[server]\ntls-cert=cert.pem\ntls-key=other-key.pem\n", c),
                   "does not belong to the certificate");
  assert_contains (server_error ("[server]\ntls-cert=cert.pem\ntls-key=cert.pem\n", c),
                   "holds no usable PEM private key");
  const char *files[]
      = { "key.pem", "cert.pem", "other-key.pem", "other-cert.pem", "garbage.pem", "gw.conf" };
  for (const char *f : files) {
    g_autofree gchar *p = g_build_filename (tmpdir.c_str (), f, NULL);
    g_remove (p);
  }
}

void
test_dir_reports_each_broken_file ()
{
  write ("good.pipeline", "[path]\npipeline=videotestsrc ! x264enc ! h264parse\n");
  write ("bad.pipeline", "[path]\nsource=ftp://x\n");
  write ("notes.txt", "ignored\n");
  std::vector<gw::PathConfig> paths;
  std::vector<GError *> errors;
  GError *err = NULL;
  g_assert_true (gw::load_path_dir (tmpdir, paths, errors, &err));
  g_assert_cmpuint (paths.size (), ==, 1);
  g_assert_cmpstr (paths[0].name.c_str (), ==, "good");
  g_assert_cmpuint (errors.size (), ==, 1);
  assert_contains (errors[0]->message, "bad.pipeline:2: source");
  for (GError *e : errors)
    g_error_free (e);

  g_assert_false (gw::load_path_dir ("/nonexistent/dir", paths, errors, &err));
  g_assert_nonnull (err);
  g_error_free (err);
}

void
test_path_names ()
{
  g_assert_true (gw::valid_path_name ("cam-1_a.b"));
  const char *bad[] = { "", "..", ".hidden", "a/b", "a\\b", "%2e%2e", "a b", "\x01" };
  for (const char *b : bad)
    g_assert_false (gw::valid_path_name (b));
  g_assert_false (gw::valid_path_name (std::string (65, 'a')));
}

} // namespace

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autofree gchar *dir = g_dir_make_tmp ("gwconf-XXXXXX", NULL);
  tmpdir = dir;
  g_test_add_func ("/conf/path-ok", test_path_ok);
  g_test_add_func ("/conf/path-errors", test_path_errors_name_line_and_field);
  g_test_add_func ("/conf/no-passwords", test_passwords_never_in_errors);
  g_test_add_func ("/conf/hooks", test_hooks);
  g_test_add_func ("/conf/server", test_server_config);
  g_test_add_func ("/conf/dir", test_dir_reports_each_broken_file);
  g_test_add_func ("/conf/connection-limits", test_connection_limits);
  g_test_add_func ("/conf/tls", test_tls);
  g_test_add_func ("/conf/names", test_path_names);
  int rc = g_test_run ();
  for (const char *f : { "good.pipeline", "bad.pipeline", "notes.txt" }) {
    g_autofree gchar *path = g_build_filename (dir, f, NULL);
    g_remove (path);
  }
  g_rmdir (dir);
  return rc;
}
