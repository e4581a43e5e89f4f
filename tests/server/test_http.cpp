/* The gateway's HTTP layer, end to end in one process: a real Manager with
 * one test-pattern path, the HttpServer on 127.0.0.1 port 0, and clients
 * made of libsoup (HTTP and websocket) and webrtcbin (the WebRTC peer).
 *
 * Run inside tests/e2e/netns.sh (meson does): the peers' ICE traffic stays in
 * a private network namespace. The WHEP check is signalling only; the
 * websocket check goes on until the server reports "connected".
 *
 * A GLib test: warnings and criticals anywhere (gateway included) are fatal. */
#include <glib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "gwelements.h"
#include "gwplayerpage.h"
#include "http.h"
#include "httpcore.h"
#include "manager.h"
#include "wsproto.h"

#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

std::string tmpdir;
gw::Manager *manager = nullptr;
gw::HttpServer *http_server = nullptr;
SoupSession *soup = nullptr;
std::string base;      /* http://127.0.0.1:PORT */
std::string conf_file; /* the main server's configuration */

/* Runs the main context until @cond holds; fails the test after @timeout_s. */
void
wait_until (const std::function<bool ()> &cond, guint timeout_s, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_s * G_USEC_PER_SEC;
  guint tick = g_timeout_add (
      20, [] (gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, NULL);
  while (!cond () && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  if (!cond ())
    g_error ("timed out after %u s waiting for %s", timeout_s, what);
}

/* (g_assert_cmpstr on a temporary's c_str () would read freed memory.) */
void
assert_str (const std::string &s, const char *want)
{
  if (s != want)
    g_error ("\"%s\" is not \"%s\"", s.c_str (), want);
}

void
assert_contains (const std::string &s, const std::string &part)
{
  if (s.find (part) == std::string::npos)
    g_error ("\"%s\" does not contain \"%s\"", s.c_str (), part.c_str ());
}

std::string
write_file (const std::string &dir, const char *name, const std::string &text)
{
  g_autofree gchar *path = g_build_filename (dir.c_str (), name, NULL);
  g_assert_true (g_file_set_contents (path, text.c_str (), -1, NULL));
  return path;
}

/* ----------------------------------------------------------- HTTP client */

struct Reply
{
  guint status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string> > headers; /* lower-case names */

  std::string
  header (const char *name) const
  {
    for (const auto &h : headers)
      if (g_ascii_strcasecmp (h.first.c_str (), name) == 0)
        return h.second;
    return "";
  }
  std::vector<std::string>
  all (const char *name) const
  {
    std::vector<std::string> out;
    for (const auto &h : headers)
      if (g_ascii_strcasecmp (h.first.c_str (), name) == 0)
        out.push_back (h.second);
    return out;
  }
};

/* @chunked: send the body with chunked transfer encoding. */
Reply
request (const char *method, const std::string &path, const char *ctype = nullptr,
         const std::string &body = "", bool chunked = false)
{
  std::string url = base + path;
  g_autoptr (SoupMessage) msg = soup_message_new (method, url.c_str ());
  if (!msg)
    g_error ("bad test URL %s", url.c_str ());
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  if (ctype && chunked) {
    g_autoptr (GBytes) b = g_bytes_new (body.data (), body.size ());
    g_autoptr (GInputStream) in = g_memory_input_stream_new_from_bytes (b);
    soup_message_set_request_body (msg, ctype, in, -1);
  } else if (ctype) {
    g_autoptr (GBytes) b = g_bytes_new (body.data (), body.size ());
    soup_message_set_request_body_from_bytes (msg, ctype, b);
  }
  struct State
  {
    bool done = false;
    GBytes *bytes = nullptr;
    GError *error = nullptr;
  } st;
  soup_session_send_and_read_async (
      soup, msg, G_PRIORITY_DEFAULT, NULL,
      [] (GObject *src, GAsyncResult *res, gpointer data) {
        auto *s = static_cast<State *> (data);
        s->bytes = soup_session_send_and_read_finish (SOUP_SESSION (src), res, &s->error);
        s->done = true;
      },
      &st);
  wait_until ([&st] { return st.done; }, 30, "an HTTP response");
  if (st.error)
    g_error ("%s %s: %s", method, path.c_str (), st.error->message);
  Reply r;
  r.status = soup_message_get_status (msg);
  gsize len = 0;
  const char *data = (const char *)g_bytes_get_data (st.bytes, &len);
  r.body.assign (data ? data : "", len);
  g_bytes_unref (st.bytes);
  soup_message_headers_foreach (
      soup_message_get_response_headers (msg),
      [] (const char *name, const char *value, gpointer d) {
        static_cast<Reply *> (d)->headers.emplace_back (name, value);
      },
      &r);
  return r;
}

/* --------------------------------------------------------- WebRTC client */

struct Peer
{
  GstElement *pipe = nullptr;
  GstElement *webrtc = nullptr;
  std::mutex lock;
  std::vector<std::pair<guint, std::string> > local_candidates; /* under lock */

  Peer ()
  {
    pipe = gst_pipeline_new (NULL);
    webrtc = gst_element_factory_make ("webrtcbin", NULL);
    g_assert_nonnull (webrtc);
    g_object_set (webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, NULL);
    gst_bin_add (GST_BIN (pipe), webrtc);
    /* Media that arrives goes to a fakesink, so nothing is "not linked". */
    g_signal_connect (webrtc, "pad-added", G_CALLBACK (+[] (GstElement *, GstPad *pad, gpointer p) {
                        if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
                          return;
                        GstElement *bin = GST_ELEMENT (p);
                        GstElement *sink = gst_element_factory_make ("fakesink", NULL);
                        g_object_set (sink, "async", FALSE, "sync", FALSE, NULL);
                        gst_bin_add (GST_BIN (bin), sink);
                        gst_element_sync_state_with_parent (sink);
                        g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");
                        gst_pad_link (pad, sinkpad);
                      }),
                      pipe);
    g_signal_connect (webrtc, "on-ice-candidate",
                      G_CALLBACK (+[] (GstElement *, guint mline, gchar *cand, gpointer d) {
                        auto *self = static_cast<Peer *> (d);
                        std::lock_guard<std::mutex> g (self->lock);
                        self->local_candidates.emplace_back (mline, cand ? cand : "");
                      }),
                      this);
    GstCaps *caps = gst_caps_from_string (
        "application/x-rtp,media=video,"
        "encoding-name=H264,payload=96,clock-rate=90000,packetization-mode=(string)1,"
        "profile-level-id=(string)42e01f,level-asymmetry-allowed=(string)1");
    GstWebRTCRTPTransceiver *t = NULL;
    g_signal_emit_by_name (webrtc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                           caps, &t);
    gst_caps_unref (caps);
    g_clear_object (&t);
    g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  }
  ~Peer ()
  {
    gst_element_set_state (pipe, GST_STATE_NULL);
    gst_object_unref (pipe);
  }

  std::vector<std::pair<guint, std::string> >
  take_candidates ()
  {
    std::lock_guard<std::mutex> g (lock);
    return std::move (local_candidates);
  }

  /* Emits @signal with @desc (may be NULL) and a promise; the reply. */
  GstStructure *
  call (const char *signal, GstWebRTCSessionDescription *desc)
  {
    GstPromise *promise = gst_promise_new ();
    if (desc)
      g_signal_emit_by_name (webrtc, signal, desc, promise);
    else
      g_signal_emit_by_name (webrtc, signal, NULL, promise);
    GstPromiseResult res = gst_promise_wait (promise);
    const GstStructure *reply = gst_promise_get_reply (promise);
    GstStructure *copy = reply ? gst_structure_copy (reply) : NULL;
    gst_promise_unref (promise);
    g_assert_cmpint (res, ==, GST_PROMISE_RESULT_REPLIED);
    if (copy && gst_structure_has_field (copy, "error")) {
      GError *err = NULL;
      gst_structure_get (copy, "error", G_TYPE_ERROR, &err, NULL);
      g_error ("webrtcbin %s: %s", signal, err ? err->message : "error");
    }
    return copy;
  }

  std::string
  make_local (const char *create, const char *field)
  {
    GstStructure *reply = call (create, NULL);
    g_assert_nonnull (reply);
    GstWebRTCSessionDescription *desc = NULL;
    gst_structure_get (reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, NULL);
    gst_structure_free (reply);
    g_assert_nonnull (desc);
    GstStructure *r = call ("set-local-description", desc);
    if (r)
      gst_structure_free (r);
    g_autofree gchar *text = gst_sdp_message_as_text (desc->sdp);
    gst_webrtc_session_description_free (desc);
    return text;
  }

  std::string
  offer ()
  {
    return make_local ("create-offer", "offer");
  }
  std::string
  answer ()
  {
    return make_local ("create-answer", "answer");
  }

  void
  set_remote (GstWebRTCSDPType type, const std::string &text)
  {
    GstSDPMessage *sdp = NULL;
    g_assert_cmpint (gst_sdp_message_new_from_text (text.c_str (), &sdp), ==, GST_SDP_OK);
    GstWebRTCSessionDescription *desc = gst_webrtc_session_description_new (type, sdp);
    GstStructure *r = call ("set-remote-description", desc);
    if (r)
      gst_structure_free (r);
    gst_webrtc_session_description_free (desc);
  }
};

/* ------------------------------------------------------- websocket client */

struct Ws
{
  SoupWebsocketConnection *conn = nullptr;
  std::vector<gw::wsproto::Message> received;
  bool closed = false;

  explicit Ws (const char *path)
  {
    std::string url = base + path;
    g_autoptr (SoupMessage) msg = soup_message_new ("GET", url.c_str ());
    GError *error = NULL;
    bool done = false;
    struct Ctx
    {
      Ws *self;
      bool *done;
      GError **error;
    } ctx{ this, &done, &error };
    soup_session_websocket_connect_async (
        soup, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
        [] (GObject *src, GAsyncResult *res, gpointer d) {
          auto *c = static_cast<Ctx *> (d);
          c->self->conn = soup_session_websocket_connect_finish (SOUP_SESSION (src), res, c->error);
          *c->done = true;
        },
        &ctx);
    wait_until ([&done] { return done; }, 30, "the websocket handshake");
    if (!conn)
      g_error ("websocket %s: %s", path, error ? error->message : "?");
    soup_websocket_connection_set_max_incoming_payload_size (conn, 1024 * 1024);
    g_signal_connect (
        conn, "message",
        G_CALLBACK (+[] (SoupWebsocketConnection *, gint type, GBytes *data, gpointer d) {
          gsize len = 0;
          const char *text = (const char *)g_bytes_get_data (data, &len);
          gw::wsproto::Message m;
          std::string error;
          if (type != SOUP_WEBSOCKET_DATA_TEXT || !gw::wsproto::parse (text, len, m, error))
            g_error ("the server sent a bad frame: %s", error.c_str ());
          static_cast<Ws *> (d)->received.push_back (m);
        }),
        this);
    g_signal_connect (conn, "closed", G_CALLBACK (+[] (SoupWebsocketConnection *, gpointer d) {
                        static_cast<Ws *> (d)->closed = true;
                      }),
                      this);
  }
  ~Ws ()
  {
    g_signal_handlers_disconnect_by_data (conn, this);
    if (soup_websocket_connection_get_state (conn) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    g_object_unref (conn);
  }

  void
  send (const std::string &text)
  {
    soup_websocket_connection_send_text (conn, text.c_str ());
  }
  void
  send (const gw::wsproto::Message &m)
  {
    send (gw::wsproto::serialise (m));
  }

  /* The first received message of @type (waits for it). */
  gw::wsproto::Message
  wait_for (gw::wsproto::Type type, guint timeout_s = 20)
  {
    const gw::wsproto::Message *found = nullptr;
    wait_until (
        [&] {
          for (const auto &m : received)
            if (m.type == type)
              return (found = &m) != nullptr;
          return false;
        },
        timeout_s, gw::wsproto::type_name (type));
    return *found;
  }

  /* Waits until the server closed the socket; its close code. */
  gushort
  wait_closed ()
  {
    wait_until ([this] { return closed; }, 20, "the server to close the websocket");
    return soup_websocket_connection_get_close_code (conn);
  }
};

/* Sends @frame on a new connection; the server must answer with an error
 * message holding @reason and close with policy-violation. */
void
expect_protocol_error (const std::string &frame, const char *reason, bool binary = false)
{
  Ws ws ("/cam/ws");
  if (binary)
    soup_websocket_connection_send_binary (ws.conn, frame.data (), frame.size ());
  else
    ws.send (frame);
  gw::wsproto::Message err = ws.wait_for (gw::wsproto::Type::Error);
  g_assert_cmpuint (err.status, ==, 400);
  assert_contains (err.reason, reason);
  g_assert_cmpuint (ws.wait_closed (), ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
}

/* ----------------------------------------------------------------- tests */

void
test_pure_helpers ()
{
  g_assert_false (gw::http::good_name (".."));
  g_assert_false (gw::http::good_name ("a..b"));
  g_assert_false (gw::http::good_name ("a\nb"));
  g_assert_true (gw::http::good_name ("cam-1.main"));

  std::string long_reason (200, 'x');
  long_reason[121] = '\xc3';
  long_reason[122] = '\xa9';
  long_reason[123] = '\xc3';
  long_reason[124] = '\xa9';
  g_assert_cmpuint (gw::http::close_reason (long_reason).size (), ==, 123);
}

void
test_listen_port_taken ()
{
  /* Hold a port, then ask a second server for it. */
  g_autoptr (GSocketListener) holder = g_socket_listener_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) got = NULL;
  g_assert_true (g_socket_listener_add_address (holder, any, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &got, NULL));
  guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (got));

  g_autofree gchar *dir = g_build_filename (tmpdir.c_str (), "empty", NULL);
  g_mkdir (dir, 0700);
  std::string conf = write_file (tmpdir, "taken.conf",
                                 "[server]\nlisten=127.0.0.1:" + std::to_string (port)
                                     + "\npipelines=" + dir + "\n");
  gw::Manager m (conf, "");
  GError *err = NULL;
  g_assert_true (m.load (&err));
  gw::HttpServer server (m);
  g_assert_false (server.listen (&err));
  g_assert_nonnull (err);
  assert_contains (err->message, "127.0.0.1:" + std::to_string (port));
  g_clear_error (&err);
  g_socket_listener_close (holder);
}

void
test_pages ()
{
  Reply index = request ("GET", "/");
  g_assert_cmpuint (index.status, ==, 200);
  assert_contains (index.header ("Content-Type"), "text/html");
  assert_contains (index.body, "<a href=\"/cam/\">cam</a>");

  Reply page = request ("GET", "/cam/");
  g_assert_cmpuint (page.status, ==, 200);
  assert_contains (page.header ("Content-Type"), "text/html");
  g_assert_true (page.body == gw_player_page_html ());

  Reply redirect = request ("GET", "/cam?report=x");
  g_assert_cmpuint (redirect.status, ==, 301);
  assert_str (redirect.header ("Location"), "/cam/?report=x");

  Reply head = request ("HEAD", "/cam/");
  g_assert_cmpuint (head.status, ==, 200);
  g_assert_true (head.body.empty ());
}

/* Sends @request byte for byte (no client-side URL normalisation) from a
 * thread while the main context serves it. With @read_reply, returns the
 * reply's status; otherwise closes the connection at once and returns 0. */
guint
raw_exchange (const std::string &request, bool read_reply)
{
  struct Job
  {
    std::string request;
    bool read_reply;
    guint16 port;
    guint status = 0;
    gint done = 0; /* atomic */
  } job;
  job.request = request;
  job.read_reply = read_reply;
  job.port = (guint16)atoi (base.c_str () + base.rfind (':') + 1);
  GThread *t = g_thread_new (
      "raw-http",
      [] (gpointer d) -> gpointer {
        auto *j = static_cast<Job *> (d);
        g_autoptr (GSocketClient) client = g_socket_client_new ();
        g_socket_client_set_timeout (client, 20);
        g_autoptr (GSocketConnection) conn
            = g_socket_client_connect_to_host (client, "127.0.0.1", j->port, NULL, NULL);
        if (conn) {
          GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
          GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
          char buf[64] = { 0 };
          gsize n = 0;
          if (g_output_stream_write_all (out, j->request.data (), j->request.size (), NULL, NULL,
                                         NULL)
              && j->read_reply
              && g_input_stream_read_all (in, buf, sizeof (buf) - 1, &n, NULL, NULL))
            sscanf (buf, "HTTP/1.1 %u", &j->status);
          g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
        }
        g_atomic_int_set (&j->done, 1);
        return NULL;
      },
      &job);
  wait_until ([&job] { return g_atomic_int_get (&job.done) != 0; }, 30, "a raw HTTP exchange");
  g_thread_join (t);
  return job.status;
}

guint
raw_get (const std::string &target)
{
  return raw_exchange ("GET " + target
                           + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Connection: close\r\n\r\n",
                       true);
}

void
test_not_found ()
{
  for (const char *p :
       { "/nope/", "/nope", "/nope/whep", "/cam/whep/x/y", "/cam/other", "/%2e%2e/whep",
         "/cam/%2e%2e/%2e%2e/nope/", "/a..b/", "/cam%2f..%2f/", "/%2e%2e%2fetc%2fpasswd", "/.cam/",
         "/cam%0a/", "/%00/", "/v1/paths/nope", "/v1/paths/..", "/v1/other" }) {
    guint status = raw_get (p);
    if (status != 404)
      g_error ("GET %s: %u, expected 404", p, status);
  }
  /* Dot segments, even encoded, are resolved by libsoup before routing:
   * they can only lead to another route, never outside one. */
  g_assert_cmpuint (raw_get ("/%2e%2e/%2E%2e/"), ==, 200); /* the index */
  /* Through a normal client too: a short text reason. */
  Reply r = request ("GET", "/nope/");
  g_assert_cmpuint (r.status, ==, 404);
  assert_contains (r.header ("Content-Type"), "text/plain");
  g_assert_false (r.body.empty ());
  Reply post = request ("POST", "/nope/whep", "application/sdp", "v=0\r\n");
  g_assert_cmpuint (post.status, ==, 404);
}

/* Random request targets (fixed seed, bounded): every one gets a status a
 * client can act on, and the server keeps serving. */
void
test_fuzz_targets ()
{
  const char *parts[] = { "cam",
                          "whep",
                          "ws",
                          "v1",
                          "paths",
                          "metrics",
                          "..",
                          ".",
                          "%2e",
                          "%2f",
                          "%00",
                          "%",
                          "%zz",
                          "%ff",
                          "\xc3\xa9",
                          "\x7f",
                          "~",
                          "a..b",
                          "0123456789abcdef",
                          "?x=1",
                          "#f",
                          ";",
                          "//",
                          "" };
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  for (guint i = 0; i < 200; i++) {
    std::string target;
    guint n = g_rand_int_range (rand, 1, 5);
    for (guint k = 0; k < n; k++)
      target += std::string ("/") + parts[g_rand_int_range (rand, 0, G_N_ELEMENTS (parts))];
    if (g_rand_boolean (rand))
      target += "/";
    guint status = raw_get (target);
    if (status != 200 && status != 301 && status != 400 && status != 404 && status != 405)
      g_error ("GET %s: %u", target.c_str (), status);
  }
  g_assert_cmpuint (request ("GET", "/").status, ==, 200);
}

void
test_whep_errors ()
{
  Reply wrong_type = request ("POST", "/cam/whep", "text/plain", "v=0\r\n");
  g_assert_cmpuint (wrong_type.status, ==, 415);
  assert_contains (wrong_type.body, "application/sdp");
  assert_str (wrong_type.header ("Access-Control-Allow-Origin"), "*");

  std::string big (70 * 1024, 'a');
  Reply too_big = request ("POST", "/cam/whep", "application/sdp", big);
  g_assert_cmpuint (too_big.status, ==, 413);
  Reply too_big_chunked = request ("POST", "/cam/whep", "application/sdp", big, true);
  g_assert_cmpuint (too_big_chunked.status, ==, 413);

  Reply empty = request ("POST", "/cam/whep", "application/sdp", "");
  g_assert_cmpuint (empty.status, ==, 400);
  Reply garbage = request ("POST", "/cam/whep", "application/sdp", "hello, I am not SDP");
  g_assert_cmpuint (garbage.status, ==, 400);
  g_assert_false (garbage.body.empty ());
  Reply binary = request ("POST", "/cam/whep", "application/sdp", std::string ("v=0\0\xff", 5));
  g_assert_cmpuint (binary.status, ==, 400);

  Reply put = request ("PUT", "/cam/whep", "application/sdp", "v=0\r\n");
  g_assert_cmpuint (put.status, ==, 405);
  assert_str (put.header ("Allow"), "POST, OPTIONS");
  Reply get = request ("GET", "/cam/whep");
  g_assert_cmpuint (get.status, ==, 405);
  Reply post_index = request ("POST", "/", "text/plain", "x");
  g_assert_cmpuint (post_index.status, ==, 405);
  assert_str (post_index.header ("Allow"), "GET, HEAD");

  Reply del = request ("DELETE", "/cam/whep/0123456789abcdef");
  g_assert_cmpuint (del.status, ==, 404);
  Reply patch = request ("PATCH", "/cam/whep/0123456789abcdef", "application/trickle-ice-sdpfrag",
                         "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n");
  g_assert_cmpuint (patch.status, ==, 404);

  Reply options = request ("OPTIONS", "/cam/whep");
  g_assert_cmpuint (options.status, ==, 204);
  assert_str (options.header ("Access-Control-Allow-Methods"), "POST, PATCH, DELETE, OPTIONS");
  assert_str (options.header ("Access-Control-Allow-Headers"),
              "Content-Type, Authorization, If-Match");
  assert_str (options.header ("Access-Control-Allow-Origin"), "*");
  auto links = options.all ("Link");
  g_assert_cmpuint (links.size (), ==, 2);
  g_assert_cmpstr (links[0].c_str (), ==, "<stun:127.0.0.1:3478>; rel=\"ice-server\"");
  assert_contains (links[1], "<turn:127.0.0.1:3479>; rel=\"ice-server\"");
  assert_contains (links[1], "username=\"viewer\"; credential=\"s3cret\"");
}

void
test_api_and_metrics ()
{
  Reply list = request ("GET", "/v1/paths");
  g_assert_cmpuint (list.status, ==, 200);
  assert_contains (list.header ("Content-Type"), "application/json");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, list.body.c_str (), -1, NULL));
  JsonNode *root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (root));
  JsonArray *arr = json_node_get_array (root);
  g_assert_cmpuint (json_array_get_length (arr), ==, 1);
  JsonObject *cam = json_array_get_object_element (arr, 0);
  g_assert_cmpstr (json_object_get_string_member (cam, "name"), ==, "cam");
  g_assert_cmpstr (json_object_get_string_member (cam, "state"), ==, "ready");
  g_assert_true (json_object_has_member (cam, "source_state"));
  g_assert_cmpint (json_object_get_int_member (cam, "readers"), ==, 0);
  g_assert_false (json_object_get_boolean_member (cam, "on_demand"));

  Reply one = request ("GET", "/v1/paths/cam");
  g_assert_cmpuint (one.status, ==, 200);
  g_autoptr (JsonParser) p2 = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p2, one.body.c_str (), -1, NULL));
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p2)));
  g_assert_cmpstr (
      json_object_get_string_member (json_node_get_object (json_parser_get_root (p2)), "name"), ==,
      "cam");

  Reply metrics = request ("GET", "/metrics");
  g_assert_cmpuint (metrics.status, ==, 200);
  assert_contains (metrics.header ("Content-Type"), "text/plain");
  assert_contains (metrics.body, "\ngw_paths 1\n");
  assert_contains (metrics.body, "\ngw_readers{path=\"cam\"} 0\n");
  assert_contains (metrics.body, "# TYPE gw_sessions_total counter\ngw_sessions_total ");
}

/* The number in "NAME VALUE" of the metrics page. */
guint64
metric (const char *name)
{
  Reply r = request ("GET", "/metrics");
  std::string key = std::string ("\n") + name + " ";
  gsize at = r.body.find (key);
  g_assert_cmpuint (at, !=, std::string::npos);
  return g_ascii_strtoull (r.body.c_str () + at + key.size (), NULL, 10);
}

void
test_whep_session ()
{
  guint64 created_before = metric ("gw_sessions_total");
  Peer peer;
  std::string offer = peer.offer ();
  Reply r = request ("POST", "/cam/whep", "application/sdp", offer);
  if (r.status != 201)
    g_error ("WHEP POST: %u %s", r.status, r.body.c_str ());
  assert_str (r.header ("Content-Type"), "application/sdp");
  std::string location = r.header ("Location");
  g_assert_true (g_str_has_prefix (location.c_str (), "/cam/whep/"));
  g_assert_cmpuint (location.size (), >, strlen ("/cam/whep/"));
  assert_str (r.header ("Access-Control-Allow-Origin"), "*");
  assert_contains (r.header ("Access-Control-Expose-Headers"), "Location");
  g_assert_cmpuint (r.all ("Link").size (), ==, 2);
  g_assert_true (g_str_has_prefix (r.body.c_str (), "v=0"));
  assert_contains (r.body, "H264/90000");
  /* The answer is one our own WebRTC peer accepts. */
  peer.set_remote (GST_WEBRTC_SDP_TYPE_ANSWER, r.body);

  g_assert_cmpuint (metric ("gw_sessions_total"), ==, created_before + 1);
  g_assert_cmpuint (metric ("gw_readers{path=\"cam\"}"), ==, 1);

  /* Trickle ICE, then teardown. */
  Reply bad_patch = request ("PATCH", location, "application/sdp", "a=candidate:x\r\n");
  g_assert_cmpuint (bad_patch.status, ==, 415);
  Reply patch = request (
      "PATCH", location, "application/trickle-ice-sdpfrag",
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
      "a=mid:0\r\na=candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host\r\n"
      "a=end-of-candidates\r\n");
  g_assert_cmpuint (patch.status, ==, 204);
  Reply other_path = request ("DELETE", "/nope/whep/" + location.substr (10));
  g_assert_cmpuint (other_path.status, ==, 404);
  Reply del = request ("DELETE", location);
  g_assert_cmpuint (del.status, ==, 200);
  Reply again = request ("DELETE", location);
  g_assert_cmpuint (again.status, ==, 404);
  wait_until ([] { return manager->n_sessions () == 0; }, 10, "the session to go");
  g_assert_cmpuint (metric ("gw_readers{path=\"cam\"}"), ==, 0);
}

/* A WHEP client that leaves before its answer: its session goes at once,
 * not after the 30 s no-show limit. */
void
test_whep_client_gone ()
{
  guint64 created_before = metric ("gw_sessions_total");
  Peer peer;
  std::string offer = peer.offer ();
  raw_exchange ("POST /cam/whep HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/sdp\r\nContent-Length: "
                    + std::to_string (offer.size ()) + "\r\n\r\n" + offer,
                false);
  wait_until ([&] { return manager->sessions_total () == created_before + 1; }, 10,
              "the session to be created");
  wait_until ([] { return manager->n_sessions () == 0; }, 10, "the session to be closed");
  g_assert_cmpuint (request ("GET", "/").status, ==, 200);
}

void
test_ws_session ()
{
  Peer peer;
  Ws ws ("/cam/ws");
  gw::wsproto::Message offer = ws.wait_for (gw::wsproto::Type::Offer);
  assert_contains (offer.sdp, "H264/90000");
  peer.set_remote (GST_WEBRTC_SDP_TYPE_OFFER, offer.sdp);
  ws.send (gw::wsproto::Message::answer (peer.answer ()));

  /* Trickle both ways until the server says "connected". */
  gsize applied = 0;
  wait_until (
      [&] {
        for (; applied < ws.received.size (); applied++) {
          const auto &m = ws.received[applied];
          if (m.type == gw::wsproto::Type::Error)
            g_error ("server error %u: %s", m.status, m.reason.c_str ());
          if (m.type == gw::wsproto::Type::Candidate && !m.candidate.empty ())
            g_signal_emit_by_name (peer.webrtc, "add-ice-candidate", m.mline, m.candidate.c_str ());
        }
        for (auto &c : peer.take_candidates ())
          ws.send (gw::wsproto::Message::make_candidate (c.first, c.second));
        for (const auto &m : ws.received)
          if (m.type == gw::wsproto::Type::State && m.state == "connected")
            return true;
        return false;
      },
      30, "the \"connected\" state message");
  g_assert_cmpuint (manager->n_sessions (), ==, 1);

  /* A second answer is a protocol error. */
  ws.send (gw::wsproto::Message::answer ("v=0\r\n"));
  gw::wsproto::Message err = ws.wait_for (gw::wsproto::Type::Error);
  assert_contains (err.reason, "second answer");
  g_assert_cmpuint (ws.wait_closed (), ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
  wait_until ([] { return manager->n_sessions () == 0; }, 10, "the session to close");
}

void
test_ws_close ()
{
  Ws ws ("/cam/ws");
  ws.wait_for (gw::wsproto::Type::Offer);
  g_assert_cmpuint (manager->n_sessions (), ==, 1);
  ws.send (gw::wsproto::Message::close ());
  g_assert_cmpuint (ws.wait_closed (), ==, SOUP_WEBSOCKET_CLOSE_NORMAL);
  wait_until ([] { return manager->n_sessions () == 0; }, 10, "the session to close");
}

/* An open websocket counts as an HTTP connection until it closes. */
void
test_ws_counted ()
{
  guint64 before = metric ("gw_http_connections");
  {
    Ws ws ("/cam/ws");
    ws.wait_for (gw::wsproto::Type::Offer);
    g_assert_cmpuint (metric ("gw_http_connections"), ==, before + 1);
    ws.send (gw::wsproto::Message::close ());
    g_assert_cmpuint (ws.wait_closed (), ==, SOUP_WEBSOCKET_CLOSE_NORMAL);
  }
  wait_until ([&] { return metric ("gw_http_connections") == before; }, 10,
              "the websocket's connection to be let go");
  wait_until ([] { return manager->n_sessions () == 0; }, 10, "the session to close");
}

void
test_ws_errors ()
{
  expect_protocol_error ("this is not json", "invalid JSON");
  expect_protocol_error ("{\"type\":\"hello\"}", "unknown message type \"hello\"");
  expect_protocol_error ("{\"type\":\"candidate\",\"candidate\":\"candidate:x\"}",
                         "without \"mline\"");
  expect_protocol_error ("{\"type\":\"offer\",\"sdp\":\"v=0\"}", "is a server message");
  expect_protocol_error (std::string (70 * 1024, ' '), "too large");
  expect_protocol_error ("{\"type\":\"close\"}", "binary", true);
  /* The offer takes the reader's certificate and ICE gathering (hundreds
   * of milliseconds): an immediate answer always comes before it. */
  expect_protocol_error ("{\"type\":\"answer\",\"sdp\":\"v=0\\r\\n\"}", "answer before the offer");
  wait_until ([] { return manager->n_sessions () == 0; }, 10, "the sessions to close");

  /* Unknown path: refused at the handshake. */
  std::string url = base + "/nope/ws";
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url.c_str ());
  bool done = false;
  soup_session_websocket_connect_async (
      soup, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
      [] (GObject *src, GAsyncResult *res, gpointer d) {
        g_autoptr (GError) e = NULL;
        SoupWebsocketConnection *c
            = soup_session_websocket_connect_finish (SOUP_SESSION (src), res, &e);
        g_assert_null (c);
        *static_cast<bool *> (d) = true;
      },
      &done);
  wait_until ([&done] { return done; }, 20, "the refused handshake");
  g_assert_cmpuint (soup_message_get_status (msg), ==, 404);
}

/* GET /v1/sessions (or another list route) as a parsed JSON array. */
JsonArray *
session_list (JsonParser *parser, const std::string &route = "/v1/sessions")
{
  Reply r = request ("GET", route);
  if (r.status != 200)
    g_error ("GET %s: %u %s", route.c_str (), r.status, r.body.c_str ());
  assert_contains (r.header ("Content-Type"), "application/json");
  g_assert_true (json_parser_load_from_data (parser, r.body.c_str (), -1, NULL));
  g_assert_true (JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)));
  return json_node_get_array (json_parser_get_root (parser));
}

JsonObject *
find_session (JsonArray *list, const std::string &id)
{
  for (guint i = 0; i < json_array_get_length (list); i++) {
    JsonObject *o = json_array_get_object_element (list, i);
    if (id == json_object_get_string_member (o, "id"))
      return o;
  }
  return nullptr;
}

/* What a session object says; its track's codec is H264 once its reader
 * has the stream's caps. */
void
check_session (JsonObject *o, const std::string &id, const char *kind)
{
  g_assert_nonnull (o);
  assert_str (json_object_get_string_member (o, "id"), id.c_str ());
  assert_str (json_object_get_string_member (o, "path"), "cam");
  assert_str (json_object_get_string_member (o, "kind"), kind);
  std::string remote = json_object_get_string_member (o, "remote");
  g_assert_true (g_str_has_prefix (remote.c_str (), "127.0.0.1:"));
  g_assert_cmpuint (g_ascii_strtoull (remote.c_str () + 10, NULL, 10), >, 0);
  /* RFC 3339, UTC, within a minute of now. */
  std::string created = json_object_get_string_member (o, "created");
  g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr (GDateTime) t = g_date_time_new_from_iso8601 (created.c_str (), utc);
  g_assert_nonnull (t);
  g_assert_true (created.back () == 'Z');
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_assert_cmpint (ABS (g_date_time_difference (now, t)), <, 60 * G_TIME_SPAN_SECOND);
  g_assert_true (json_object_has_member (o, "state"));
  JsonArray *tracks = json_object_get_array_member (o, "tracks");
  g_assert_cmpuint (json_array_get_length (tracks), ==, 1);
  JsonObject *t0 = json_array_get_object_element (tracks, 0);
  assert_str (json_object_get_string_member (t0, "media"), "video");
  assert_str (json_object_get_string_member (t0, "codec"), "H264");
  g_assert_true (json_object_get_boolean_member (t0, "passthrough"));
}

/* The sessions API: list, one, per path, and the kick of a WHEP and a
 * websocket session. */
void
test_sessions_api ()
{
  g_autoptr (JsonParser) p0 = json_parser_new ();
  g_assert_cmpuint (json_array_get_length (session_list (p0)), ==, 0);

  Peer peer;
  Reply r = request ("POST", "/cam/whep", "application/sdp", peer.offer ());
  if (r.status != 201)
    g_error ("WHEP POST: %u %s", r.status, r.body.c_str ());
  std::string location = r.header ("Location");
  std::string whep_id = location.substr (strlen ("/cam/whep/"));
  Ws ws ("/cam/ws");
  ws.wait_for (gw::wsproto::Type::Offer);
  g_assert_cmpuint (manager->n_sessions (), ==, 2);
  std::string ws_id;
  for (const auto &s : manager->sessions ())
    if (s->id () != whep_id)
      ws_id = s->id ();

  g_autoptr (JsonParser) p1 = json_parser_new ();
  JsonArray *all = session_list (p1);
  g_assert_cmpuint (json_array_get_length (all), ==, 2);
  check_session (find_session (all, whep_id), whep_id, "whep");
  check_session (find_session (all, ws_id), ws_id, "ws");
  /* Oldest first. */
  assert_str (json_object_get_string_member (json_array_get_object_element (all, 0), "id"),
              whep_id.c_str ());
  g_autoptr (JsonParser) p2 = json_parser_new ();
  g_assert_cmpuint (json_array_get_length (session_list (p2, "/v1/paths/cam/sessions")), ==, 2);
  g_assert_cmpuint (request ("GET", "/v1/paths/nope/sessions").status, ==, 404);
  g_assert_cmpuint (request ("POST", "/v1/paths/cam/sessions").status, ==, 405);

  Reply one = request ("GET", "/v1/sessions/" + ws_id);
  g_assert_cmpuint (one.status, ==, 200);
  g_autoptr (JsonParser) p3 = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p3, one.body.c_str (), -1, NULL));
  check_session (json_node_get_object (json_parser_get_root (p3)), ws_id, "ws");

  /* Unknown, malformed and wrong-method requests. */
  g_assert_cmpuint (request ("GET", "/v1/sessions/0123456789abcdef0123456789abcdef").status, ==,
                    404);
  g_assert_cmpuint (request ("DELETE", "/v1/sessions/0123456789abcdef0123456789abcdef").status, ==,
                    404);
  g_assert_cmpuint (request ("DELETE", "/v1/sessions/" + std::string (65, 'a')).status, ==, 404);
  g_assert_cmpuint (request ("DELETE", "/v1/sessions/a%2Fb").status, ==, 404);
  Reply post = request ("POST", "/v1/sessions/" + ws_id);
  g_assert_cmpuint (post.status, ==, 405);
  assert_str (post.header ("Allow"), "GET, HEAD, DELETE");
  g_assert_cmpuint (request ("DELETE", "/v1/sessions").status, ==, 405);

  /* Kick the websocket session: its socket is closed normally. */
  g_assert_cmpuint (request ("DELETE", "/v1/sessions/" + ws_id).status, ==, 200);
  g_assert_cmpuint (ws.wait_closed (), ==, SOUP_WEBSOCKET_CLOSE_NORMAL);
  g_assert_cmpuint (request ("GET", "/v1/sessions/" + ws_id).status, ==, 404);
  g_assert_cmpuint (request ("DELETE", "/v1/sessions/" + ws_id).status, ==, 404);

  /* Kick the WHEP session: its resource is gone too. */
  g_assert_cmpuint (request ("DELETE", "/v1/sessions/" + whep_id).status, ==, 200);
  g_assert_cmpuint (request ("DELETE", location).status, ==, 404);
  g_assert_cmpuint (
      request ("PATCH", location, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n")
          .status,
      ==, 404);
  wait_until ([] { return manager->n_sessions () == 0; }, 10, "the sessions to go");
  g_autoptr (JsonParser) p4 = json_parser_new ();
  g_assert_cmpuint (json_array_get_length (session_list (p4)), ==, 0);
  g_assert_cmpuint (metric ("gw_readers{path=\"cam\"}"), ==, 0);
}

/* The main server, used by every test after this one. */
void
test_start ()
{
  manager = new gw::Manager (conf_file, "");
  GError *err = NULL;
  if (!manager->load (&err))
    g_error ("load: %s", err->message);
  http_server = new gw::HttpServer (*manager);
  if (!http_server->listen (&err))
    g_error ("listen: %s", err->message);
  manager->start ();
  g_assert_cmpuint (http_server->port (), >, 0);
  base = "http://127.0.0.1:" + std::to_string (http_server->port ());
  soup = soup_session_new_with_options ("proxy-resolver", NULL, "timeout", 30, NULL);
  wait_until (
      [] {
        auto p = manager->find_path ("cam");
        return p && p->state () == gw::Path::State::Ready;
      },
      30, "the path to be ready");
}

} // namespace

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  gw_elements_register_static ();

  g_autofree gchar *dir = g_dir_make_tmp ("gw-http-XXXXXX", NULL);
  g_assert_nonnull (dir);
  tmpdir = dir;
  g_autofree gchar *pipelines = g_build_filename (dir, "pipelines", NULL);
  g_mkdir (pipelines, 0700);
  write_file (pipelines, "cam.pipeline",
              "[path]\npipeline=videotestsrc is-live=true ! "
              "video/x-raw,width=320,height=240,framerate=15/1 ! x264enc tune=zerolatency "
              "key-int-max=15 ! h264parse\n");
  /* ICE servers on loopback: nothing listens, nothing leaves the machine. */
  conf_file = write_file (
      tmpdir, "gateway.conf",
      std::string ("[server]\n"
                   "listen=127.0.0.1:0\npipelines=")
          + pipelines
          + "\n"
            "ice-servers=stun://127.0.0.1:3478,turn://viewer:s3cret@127.0.0.1:3479\n");

  g_test_add_func ("/http/pure-helpers", test_pure_helpers);
  /* Before the main Manager exists: Manager is a process-wide instance. */
  g_test_add_func ("/http/listen-port-taken", test_listen_port_taken);
  g_test_add_func ("/http/start", test_start);
  g_test_add_func ("/http/pages", test_pages);
  g_test_add_func ("/http/not-found", test_not_found);
  g_test_add_func ("/http/fuzz-targets", test_fuzz_targets);
  g_test_add_func ("/http/whep-errors", test_whep_errors);
  g_test_add_func ("/http/api-and-metrics", test_api_and_metrics);
  g_test_add_func ("/http/whep-session", test_whep_session);
  g_test_add_func ("/http/whep-client-gone", test_whep_client_gone);
  g_test_add_func ("/http/ws-session", test_ws_session);
  g_test_add_func ("/http/ws-close", test_ws_close);
  g_test_add_func ("/http/ws-counted", test_ws_counted);
  g_test_add_func ("/http/ws-errors", test_ws_errors);
  g_test_add_func ("/http/sessions-api", test_sessions_api);
  int rc = g_test_run ();

  g_clear_object (&soup);
  delete http_server;
  http_server = nullptr;
  delete manager;
  manager = nullptr;
  /* Let deferred releases run, then remove the temporary files. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  for (const char *f :
       { "pipelines/cam.pipeline", "pipelines", "empty", "gateway.conf", "taken.conf", "" }) {
    g_autofree gchar *path = g_build_filename (dir, f, NULL);
    g_remove (path);
  }
  return rc;
}
