/* Credentials: the pure checks, then every route of a running HTTP server
 * with and without them. */
#include <glib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <libsoup/soup.h>

#include "auth.h"
#include "conf.h"
#include "gwelements.h"
#include "http.h"
#include "manager.h"

#include <jwt.h>

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

/* ------------------------------------------------------------------ JWT */

const char *SECRET = "an-hs256-secret-of-32-characters-or-more";

/* A token made by libjwt's encoder: @key is the secret or a private PEM. */
std::string
make_jwt (jwt_alg_t alg, const std::string &key, const char *claims_json)
{
  jwt_t *j = NULL;
  g_assert_cmpint (jwt_new (&j), ==, 0);
  g_assert_cmpint (jwt_set_alg (j, alg, (const unsigned char *)key.data (), (int)key.size ()), ==,
                   0);
  g_assert_cmpint (jwt_add_grants_json (j, claims_json), ==, 0);
  char *enc = jwt_encode_str (j);
  g_assert_nonnull (enc);
  std::string out (enc);
  free (enc);
  jwt_free (j);
  return out;
}

std::string
b64url (const std::string &raw)
{
  g_autofree gchar *b = g_base64_encode ((const guchar *)raw.data (), raw.size ());
  std::string s (b);
  while (!s.empty () && s.back () == '=')
    s.pop_back ();
  for (char &c : s)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

std::string
read_text (const std::string &file)
{
  g_autofree gchar *t = NULL;
  g_assert_true (g_file_get_contents (file.c_str (), &t, NULL, NULL));
  return t;
}

/* Makes a private key with openssl (@args after genpkey) and its public
 * half; returns false when openssl is missing. */
bool
openssl_key (const std::string &dir, const char *name, const char *algorithm, const char *opt,
             std::string &priv, std::string &pub)
{
  const char *openssl = g_getenv ("GW_OPENSSL");
  if (!openssl)
    return false;
  priv = dir + "/" + name + "-private.pem";
  pub = dir + "/" + name + "-public.pem";
  const char *gen[] = { openssl, "genpkey", "-algorithm",  algorithm, "-pkeyopt",
                        opt,     "-out",    priv.c_str (), NULL };
  const char *out[]
      = { openssl, "pkey", "-in", priv.c_str (), "-pubout", "-out", pub.c_str (), NULL };
  gint status = 1;
  g_assert_true (g_spawn_sync (NULL, (gchar **)gen, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               NULL, NULL, &status, NULL));
  g_assert_cmpint (status, ==, 0);
  g_assert_true (g_spawn_sync (NULL, (gchar **)out, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               NULL, NULL, &status, NULL));
  g_assert_cmpint (status, ==, 0);
  return true;
}

void
assert_refused (gw::AuthRefusal r, const char *want)
{
  g_assert_nonnull (r);
  g_assert_cmpstr (r, ==, want);
}

void
test_jwt_hs256 ()
{
  const gint64 now = 1900000000;
  gw::Credentials c;
  c.jwt_secret = SECRET;
  g_assert_false (c.open ());
  g_autofree gchar *claims = g_strdup_printf ("{\"exp\":%" G_GINT64_FORMAT "}", now + 60);
  std::string good = make_jwt (JWT_ALG_HS256, SECRET, claims);
  g_assert_null (gw::verify_jwt (c, good, "cam", now));
  g_assert_null (gw::verify_jwt (c, good, NULL, now));

  /* exp and nbf, with the leeway on each side. */
  g_autofree gchar *old = g_strdup_printf ("{\"exp\":%" G_GINT64_FORMAT "}", now - 31);
  assert_refused (gw::verify_jwt (c, make_jwt (JWT_ALG_HS256, SECRET, old), "cam", now),
                  "token expired");
  g_autofree gchar *just = g_strdup_printf ("{\"exp\":%" G_GINT64_FORMAT "}", now - 29);
  g_assert_null (gw::verify_jwt (c, make_jwt (JWT_ALG_HS256, SECRET, just), "cam", now));
  g_autofree gchar *later = g_strdup_printf ("{\"nbf\":%" G_GINT64_FORMAT "}", now + 31);
  assert_refused (gw::verify_jwt (c, make_jwt (JWT_ALG_HS256, SECRET, later), "cam", now),
                  "token not yet valid");
  g_autofree gchar *soon = g_strdup_printf ("{\"nbf\":%" G_GINT64_FORMAT "}", now + 29);
  g_assert_null (gw::verify_jwt (c, make_jwt (JWT_ALG_HS256, SECRET, soon), "cam", now));
  assert_refused (
      gw::verify_jwt (c, make_jwt (JWT_ALG_HS256, SECRET, "{\"exp\":\"tomorrow\"}"), "cam", now),
      "malformed token");

  /* The paths claim. */
  std::string some = make_jwt (JWT_ALG_HS256, SECRET, "{\"paths\":[\"cam\",\"door\"]}");
  g_assert_null (gw::verify_jwt (c, some, "cam", now));
  g_assert_null (gw::verify_jwt (c, some, "door", now));
  assert_refused (gw::verify_jwt (c, some, "yard", now), "token does not open this path");
  assert_refused (gw::verify_jwt (c, some, NULL, now), "token is limited to some paths");
  std::string all = make_jwt (JWT_ALG_HS256, SECRET, "{\"paths\":[\"*\"]}");
  g_assert_null (gw::verify_jwt (c, all, "yard", now));
  g_assert_null (gw::verify_jwt (c, all, NULL, now));
  assert_refused (
      gw::verify_jwt (c, make_jwt (JWT_ALG_HS256, SECRET, "{\"paths\":[1]}"), "cam", now),
      "malformed token");

  /* Signatures and algorithms. */
  std::string tampered = good;
  tampered[tampered.size () - 2] = tampered[tampered.size () - 2] == 'A' ? 'B' : 'A';
  assert_refused (gw::verify_jwt (c, tampered, "cam", now), "bad token signature");
  assert_refused (
      gw::verify_jwt (c, make_jwt (JWT_ALG_HS256, "another-secret-of-32-characters!!", "{}"), "cam",
                      now),
      "bad token signature");
  std::string none = b64url ("{\"alg\":\"none\"}") + "." + b64url ("{}") + ".";
  assert_refused (gw::verify_jwt (c, none, "cam", now), "token algorithm not accepted");
  assert_refused (gw::verify_jwt (c, make_jwt (JWT_ALG_HS512, SECRET, "{}"), "cam", now),
                  "token algorithm not accepted");
  for (const char *bad : { "", "a", "a.b", "a.b.c.d", "!!.e30.", "e30.e30" })
    assert_refused (gw::verify_jwt (c, bad, "cam", now), "malformed token");
  assert_refused (gw::verify_jwt (c, std::string (9000, 'a') + ".e30.e30", "cam", now),
                  "malformed token");

  /* Through authenticate: header, query, and beside other methods. */
  g_assert_null (gw::authenticate (c, ("Bearer " + good).c_str (), NULL, NULL, "cam", now));
  g_assert_null (gw::authenticate (c, NULL, NULL, good.c_str (), "cam", now));
  assert_refused (gw::authenticate (c, NULL, NULL, NULL, "cam", now), "credentials required");
  assert_refused (gw::authenticate (c, NULL, good.c_str (), NULL, "cam", now),
                  "credentials required");
  assert_refused (gw::authenticate (c, ("Bearer " + tampered).c_str (), NULL, NULL, "cam", now),
                  "bad token signature");
  c.users = { "alice:pw" };
  c.tokens = { TOKEN };
  g_assert_null (
      gw::authenticate (c, basic ("alice:pw").c_str (), NULL, tampered.c_str (), "cam", now));
  g_assert_null (
      gw::authenticate (c, ("Bearer " + std::string (TOKEN)).c_str (), NULL, NULL, "cam", now));
  g_assert_null (gw::authenticate (c, ("Bearer " + good).c_str (), NULL, NULL, "cam", now));
  g_assert_null (gw::authenticate (c, NULL, TOKEN, NULL, "cam", now));
}

void
test_jwt_keys ()
{
  g_autofree gchar *dir = g_dir_make_tmp ("gwjwt-XXXXXX", NULL);
  std::string rsa_priv, rsa_pub, ec_priv, ec_pub, ec2_priv, ec2_pub;
  if (!openssl_key (dir, "rsa", "RSA", "rsa_keygen_bits:2048", rsa_priv, rsa_pub)) {
    g_test_skip ("openssl is not installed");
    return;
  }
  openssl_key (dir, "ec", "EC", "ec_paramgen_curve:P-256", ec_priv, ec_pub);
  openssl_key (dir, "ec2", "EC", "ec_paramgen_curve:P-256", ec2_priv, ec2_pub);
  std::string both = write (dir, "both.pem", read_text (rsa_pub) + read_text (ec_pub));

  gw::Credentials c;
  std::string problem;
  g_assert_true (gw::load_jwt_keys (both, c.jwt_keys, problem));
  g_assert_cmpuint (c.jwt_keys.size (), ==, 2);
  g_assert_true (c.jwt_keys[0].alg == gw::JwtAlg::RS256);
  g_assert_true (c.jwt_keys[1].alg == gw::JwtAlg::ES256);

  const gint64 now = (gint64)time (NULL);
  std::string rs = make_jwt (JWT_ALG_RS256, read_text (rsa_priv), "{\"paths\":[\"cam\"]}");
  std::string es = make_jwt (JWT_ALG_ES256, read_text (ec_priv), "{}");
  g_assert_null (gw::verify_jwt (c, rs, "cam", now));
  assert_refused (gw::verify_jwt (c, rs, "door", now), "token does not open this path");
  g_assert_null (gw::verify_jwt (c, es, "cam", now));
  assert_refused (
      gw::verify_jwt (c, make_jwt (JWT_ALG_ES256, read_text (ec2_priv), "{}"), "cam", now),
      "bad token signature");
  /* The public key used as an HMAC secret opens nothing, with or without a
   * configured secret. */
  std::string confused = make_jwt (JWT_ALG_HS256, read_text (rsa_pub), "{}");
  assert_refused (gw::verify_jwt (c, confused, "cam", now), "token algorithm not accepted");
  c.jwt_secret = SECRET;
  assert_refused (gw::verify_jwt (c, confused, "cam", now), "bad token signature");
  /* An ES256 header on an RS256 signature finds no key that verifies. */
  std::string swapped = b64url ("{\"alg\":\"ES256\",\"typ\":\"JWT\"}") + rs.substr (rs.find ('.'));
  assert_refused (gw::verify_jwt (c, swapped, "cam", now), "bad token signature");

  /* What the key file may not be. */
  std::vector<gw::JwtKey> keys;
  g_assert_false (gw::load_jwt_keys (std::string (dir) + "/missing.pem", keys, problem));
  g_assert_nonnull (strstr (problem.c_str (), "cannot read"));
  std::string jwks = write (dir, "keys.json", "{\"keys\":[{\"kty\":\"RSA\"}]}");
  g_assert_false (gw::load_jwt_keys (jwks, keys, problem));
  g_assert_nonnull (strstr (problem.c_str (), "only PEM public keys are supported"));
  g_assert_false (gw::load_jwt_keys (rsa_priv, keys, problem));
  g_assert_nonnull (strstr (problem.c_str (), "never the private one"));
  std::string junk = write (dir, "junk.pem",
                            "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n");
  g_assert_false (gw::load_jwt_keys (junk, keys, problem));
  g_assert_nonnull (strstr (problem.c_str (), "not a usable public key"));
  std::string empty = write (dir, "empty.pem", "\n");
  g_assert_false (gw::load_jwt_keys (empty, keys, problem));
  g_assert_nonnull (strstr (problem.c_str (), "no PEM public key"));
  g_assert_true (keys.empty ());

  /* The configuration keys, with file:line errors. */
  std::string p = std::string (dir) + "/p.pipeline";
  gw::PathConfig pc;
  GError *err = NULL;
  write (dir, "p.pipeline", "[path]\nsource=rtsp://h/s\nread-jwt-keys=both.pem\n");
  g_assert_true (gw::load_path_config (p, pc, &err));
  g_assert_cmpuint (pc.read.jwt_keys.size (), ==, 2);
  write (dir, "p.pipeline", "[path]\nsource=rtsp://h/s\nread-jwt-keys=missing.pem\n");
  g_assert_false (gw::load_path_config (p, pc, &err));
  g_assert_nonnull (strstr (err->message, "p.pipeline:3: read-jwt-keys: cannot read"));
  g_clear_error (&err);
  write (dir, "p.pipeline", "[path]\nsource=rtsp://h/s\n\nread-jwt-keys=keys.json\n");
  g_assert_false (gw::load_path_config (p, pc, &err));
  g_assert_nonnull (strstr (err->message, "p.pipeline:4: read-jwt-keys:"));
  g_assert_nonnull (strstr (err->message, "only PEM"));
  g_clear_error (&err);
  write (dir, "p.pipeline", "[path]\nsource=rtsp://h/s\nread-jwt-secret=\n");
  g_assert_false (gw::load_path_config (p, pc, &err));
  g_assert_nonnull (strstr (err->message, "p.pipeline:3: read-jwt-secret: empty secret"));
  g_clear_error (&err);
  write (dir, "p.pipeline", "[path]\nsource=rtsp://h/s\nread-jwt-secret=short-secret\n");
  g_assert_false (gw::load_path_config (p, pc, &err));
  g_assert_nonnull (strstr (err->message, "read-jwt-secret: an HS256 secret must be at least 32"));
  g_assert_null (strstr (err->message, "short-secret"));
  g_clear_error (&err);
  std::string conf = write (dir, "gw.conf",
                            std::string ("[server]\napi-jwt-secret=") + SECRET
                                + "\napi-jwt-keys=rsa-public.pem\n");
  gw::ServerConfig sc;
  g_assert_true (gw::load_server_config (conf, sc, &err));
  g_assert_cmpstr (sc.api.jwt_secret.c_str (), ==, SECRET);
  g_assert_cmpuint (sc.api.jwt_keys.size (), ==, 1);
  write (dir, "gw.conf", "[server]\napi-jwt-keys=ec-private.pem\n");
  g_assert_false (gw::load_server_config (conf, sc, &err));
  g_assert_nonnull (strstr (err->message, "gw.conf:2: api-jwt-keys:"));
  g_clear_error (&err);

  for (const char *f : { "rsa-private.pem", "rsa-public.pem", "ec-private.pem", "ec-public.pem",
                         "ec2-private.pem", "ec2-public.pem", "both.pem", "keys.json", "junk.pem",
                         "empty.pem", "p.pipeline", "gw.conf" }) {
    g_autofree gchar *f_path = g_build_filename (dir, f, NULL);
    g_remove (f_path);
  }
  g_rmdir (dir);
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
  g_test_add_func ("/auth/jwt-hs256", test_jwt_hs256);
  g_test_add_func ("/auth/jwt-keys", test_jwt_keys);
  g_test_add_func ("/auth/routes", test_routes);
  return g_test_run ();
}
