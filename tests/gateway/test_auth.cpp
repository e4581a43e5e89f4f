/* Credentials: the pure checks, then every route of a running HTTP server
 * with and without them. */
#include <glib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <libsoup/soup.h>

#include "auth.h"
#include "gwelements.h"
#include "http.h"
#include "manager.h"

#include <string>

namespace {

std::string
basic (const char *userpass)
{
  g_autofree gchar *b64 = g_base64_encode ((const guchar *)userpass, strlen (userpass));
  return std::string ("Basic ") + b64;
}

const char *TOKEN = "0123456789abcdef-token";
const char *API_TOKEN = "api-0123456789abcdef";

void
test_check ()
{
  gw::Credentials open;
  g_assert_true (gw::check_credentials (open, NULL, NULL));

  gw::Credentials c;
  c.users = { "alice:s3cret:with:colons", "bob:pw" };
  c.tokens = { TOKEN };
  g_assert_true (gw::check_credentials (c, basic ("alice:s3cret:with:colons").c_str (), NULL));
  g_assert_true (gw::check_credentials (c, basic ("bob:pw").c_str (), NULL));
  g_assert_false (gw::check_credentials (c, basic ("bob:pW").c_str (), NULL));
  g_assert_false (gw::check_credentials (c, basic ("bob:pw2").c_str (), NULL));
  g_assert_false (gw::check_credentials (c, basic ("bob:").c_str (), NULL));
  g_assert_false (gw::check_credentials (c, basic ("alice").c_str (), NULL));
  g_assert_false (gw::check_credentials (c, NULL, NULL));
  g_assert_false (gw::check_credentials (c, "Basic !!!not-base64", NULL));
  g_assert_false (gw::check_credentials (c, "Basic", NULL));
  g_assert_false (gw::check_credentials (c, "Digest x", NULL));
  std::string bearer = std::string ("Bearer ") + TOKEN;
  g_assert_true (gw::check_credentials (c, bearer.c_str (), NULL));
  g_assert_true (gw::check_credentials (c, ("bearer  " + std::string (TOKEN)).c_str (), NULL));
  g_assert_false (gw::check_credentials (c, "Bearer 0123456789abcdef-toke", NULL));
  g_assert_true (gw::check_credentials (c, NULL, TOKEN));
  g_assert_false (gw::check_credentials (c, NULL, "nope"));

  g_assert_true (gw::constant_time_equal ("abc", "abc"));
  g_assert_false (gw::constant_time_equal ("abc", "abcd"));
  g_assert_false (gw::constant_time_equal ("abcd", "abc"));
  g_assert_false (gw::constant_time_equal ("", "a"));
  g_assert_true (gw::auth_challenge (c, "cam\"1").find ("Basic realm=\"cam1\"") == 0);
}

struct Server
{
  std::string dir;
  gw::Manager *manager = nullptr;
  gw::HttpServer *http = nullptr;
  std::string base;
};

std::string
write (const std::string &dir, const char *name, const std::string &text)
{
  g_autofree gchar *path = g_build_filename (dir.c_str (), name, NULL);
  g_assert_true (g_file_set_contents (path, text.c_str (), -1, NULL));
  return path;
}

struct Request
{
  std::string method, url, auth, body, challenge;
  guint status = 0;
  gint done = 0;
};

/* The server runs on this thread's main context: the client works on its
 * own thread while this one iterates the context. */
gpointer
client_thread (gpointer data)
{
  Request *r = static_cast<Request *> (data);
  GMainContext *ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  SoupSession *session = soup_session_new_with_options ("timeout", 10, NULL);
  SoupMessage *msg = soup_message_new (r->method.c_str (), r->url.c_str ());
  if (!r->auth.empty ())
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                  r->auth.c_str ());
  if (!r->body.empty ()) {
    g_autoptr (GBytes) b = g_bytes_new (r->body.data (), r->body.size ());
    soup_message_set_request_body_from_bytes (msg, "application/sdp", b);
  }
  GBytes *resp = soup_session_send_and_read (session, msg, NULL, NULL);
  r->status = soup_message_get_status (msg);
  const char *c
      = soup_message_headers_get_one (soup_message_get_response_headers (msg), "WWW-Authenticate");
  r->challenge = c ? c : "";
  if (resp)
    g_bytes_unref (resp);
  g_object_unref (msg);
  g_object_unref (session);
  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);
  g_atomic_int_set (&r->done, 1);
  return NULL;
}

guint
request (Server &s, const char *method, const std::string &path, const char *auth,
         std::string *challenge = nullptr, const char *body = nullptr)
{
  Request r;
  r.method = method;
  r.url = s.base + path;
  r.auth = auth ? auth : "";
  r.body = body ? body : "";
  GThread *t = g_thread_new ("client", client_thread, &r);
  gint64 deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  while (!g_atomic_int_get (&r.done) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), true);
  g_thread_join (t);
  if (challenge)
    *challenge = r.challenge;
  return r.status;
}

void
test_routes ()
{
  Server s;
  g_autofree gchar *dir = g_dir_make_tmp ("gwauth-XXXXXX", NULL);
  s.dir = dir;
  std::string conf = write (s.dir, "gw.conf",
                            std::string ("[server]\nlisten=127.0.0.1:0\n"
                                         "pipelines=.\napi-tokens=")
                                + API_TOKEN + "\n");
  const char *src = "pipeline=videotestsrc is-live=true ! x264enc ! h264parse\non-demand=true\n";
  write (s.dir, "cam.pipeline",
         std::string ("[path]\n") + src + "read-users=alice:s3cret\nread-tokens=" + TOKEN + "\n");
  write (s.dir, "open.pipeline", std::string ("[path]\n") + src);

  s.manager = new gw::Manager (conf, "");
  GError *err = NULL;
  g_assert_true (s.manager->load (&err));
  s.http = new gw::HttpServer (*s.manager);
  g_assert_true (s.http->listen (&err));
  s.base = "http://127.0.0.1:" + std::to_string (s.http->port ());

  std::string challenge;
  const std::string alice = basic ("alice:s3cret");
  const std::string api = std::string ("Bearer ") + API_TOKEN;

  /* A protected path: page, WHEP and websocket all want credentials. */
  g_assert_cmpuint (request (s, "GET", "/cam/", NULL, &challenge), ==, 401);
  g_assert_true (challenge.find ("Basic realm=\"cam\"") == 0);
  g_assert_cmpuint (request (s, "GET", "/cam/", basic ("alice:wrong").c_str ()), ==, 401);
  g_assert_cmpuint (request (s, "GET", "/cam/", alice.c_str ()), ==, 200);
  g_assert_cmpuint (request (s, "GET", "/cam/", (std::string ("Bearer ") + TOKEN).c_str ()), ==,
                    200);
  g_assert_cmpuint (request (s, "GET", std::string ("/cam/?token=") + TOKEN, NULL), ==, 200);
  g_assert_cmpuint (request (s, "POST", "/cam/whep", NULL, nullptr, "v=0 garbage"), ==, 401);
  /* With credentials the request reaches WHEP (which then refuses the SDP). */
  g_assert_cmpuint (request (s, "POST", "/cam/whep", alice.c_str (), nullptr, "garbage"), ==, 400);
  g_assert_cmpuint (request (s, "DELETE", "/cam/whep/0123456789abcdef0123456789abcdef", NULL), ==,
                    401);
  g_assert_cmpuint (request (s, "GET", "/cam/ws", NULL), ==, 401);
  /* The API credentials are not read credentials. */
  g_assert_cmpuint (request (s, "GET", "/cam/", api.c_str ()), ==, 401);
  /* Preflights carry no credentials. */
  g_assert_cmpuint (request (s, "OPTIONS", "/cam/whep", NULL), ==, 204);

  /* An open path stays open. */
  g_assert_cmpuint (request (s, "GET", "/open/", NULL), ==, 200);

  /* Index, API and metrics take the API credentials. */
  for (const char *route : { "/", "/v1/paths", "/v1/paths/cam", "/v1/paths/cam/sessions",
                             "/v1/sessions", "/metrics" }) {
    g_assert_cmpuint (request (s, "GET", route, NULL, &challenge), ==, 401);
    g_assert_true (challenge.find ("Bearer realm=") == 0);
    g_assert_cmpuint (request (s, "GET", route, alice.c_str ()), ==, 401);
    g_assert_cmpuint (request (s, "GET", route, api.c_str ()), ==, 200);
  }
  /* A session's URL and its kick too: no session is told apart from a
   * missing one without the API credentials. */
  const char *session = "/v1/sessions/0123456789abcdef0123456789abcdef";
  g_assert_cmpuint (request (s, "GET", session, NULL), ==, 401);
  g_assert_cmpuint (request (s, "DELETE", session, NULL), ==, 401);
  g_assert_cmpuint (request (s, "DELETE", session, alice.c_str ()), ==, 401);
  g_assert_cmpuint (request (s, "GET", session, api.c_str ()), ==, 404);
  g_assert_cmpuint (request (s, "DELETE", session, api.c_str ()), ==, 404);

  delete s.http;
  delete s.manager;
  for (const char *f : { "gw.conf", "cam.pipeline", "open.pipeline" }) {
    g_autofree gchar *p = g_build_filename (dir, f, NULL);
    g_remove (p);
  }
  g_rmdir (dir);
}

void
test_conf ()
{
  g_autofree gchar *dir = g_dir_make_tmp ("gwauthconf-XXXXXX", NULL);
  std::string f = write (dir, "p.pipeline", "[path]\nsource=rtsp://h/s\nread-users=nocolon\n");
  gw::PathConfig pc;
  GError *err = NULL;
  g_assert_false (gw::load_path_config (f, pc, &err));
  g_assert_nonnull (strstr (err->message, "p.pipeline:3: read-users"));
  g_clear_error (&err);
  write (dir, "p.pipeline", "[path]\nsource=rtsp://h/s\nread-tokens=short\n");
  g_assert_false (gw::load_path_config (f, pc, &err));
  g_assert_nonnull (strstr (err->message, "read-tokens: a token must be at least 16"));
  g_assert_null (strstr (err->message, "short"));
  g_clear_error (&err);
  g_remove (f.c_str ());
  g_rmdir (dir);
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  gw_elements_register_static ();
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/auth/check", test_check);
  g_test_add_func ("/auth/conf", test_conf);
  g_test_add_func ("/auth/routes", test_routes);
  return g_test_run ();
}
