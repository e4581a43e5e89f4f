/* The gateway's HTTP layer: one SoupServer on the main context.
 *
 * Routing lives in one place, HttpCore::dispatch (so auth can be added there):
 *   GET  /                     index of the paths (HTML, api.cpp)
 *   GET  /metrics              Prometheus text (metrics.cpp)
 *   GET  /v1/paths[/NAME]      JSON API (api.cpp)
 *   GET  /NAME                 301 to /NAME/
 *   GET  /NAME/                the player page
 *   *    /NAME/whep[/ID]       WHEP (POST, PATCH, DELETE, OPTIONS)
 *   GET  /NAME/ws              the websocket signalling (docs/websocket.md)
 *
 * The server runs with raw-paths, so this file sees request paths still
 * percent-encoded and decodes each segment itself: a name that is not a
 * valid path name after decoding (control characters, "..", an encoded '/')
 * is a 404, never a 400 from deep inside libsoup and never a file access.
 *
 * The websocket adapter is in httpws.cpp; the state and helpers both files
 * share are in httpcore.h.
 *
 * Lifetimes: everything runs on the main context. Session callbacks hold
 * weak references (to a WhepPost, a WsClient or HttpCore's liveness token),
 * so a callback arriving after the request, socket or server is gone does
 * nothing. */
#include "http.h"

#include "gwplayerpage.h"
#include "gwurl.h"
#include "httpcore.h"

#include <netinet/in.h>
#include <string.h>

GST_DEBUG_CATEGORY (gw_http_debug);
#define GST_CAT_DEFAULT gw_http_debug

namespace gw {

using namespace http;

namespace {

constexpr guint ANSWER_GRACE_S = 20; /* on top of the path's start-timeout */
/* A body declared larger than the limit but at most this is read (and
 * dropped) before the 413, as a client still sending it expects; a larger
 * one is refused at once. */
constexpr goffset MAX_DRAIN_SIZE = 1024 * 1024;
constexpr guint MAX_FRAG_CANDIDATES = 256;
constexpr const char *WHEP_METHODS = "POST, PATCH, DELETE, OPTIONS";
constexpr const char *WHEP_ALLOW = "POST, OPTIONS";
constexpr const char *WHEP_RESOURCE_ALLOW = "PATCH, DELETE, OPTIONS";
constexpr const char *GET_ALLOW = "GET, HEAD";
constexpr gint LISTEN_BACKLOG = 1024; /* the kernel caps it at net.core.somaxconn */

bool
is (const char *method, const char *name)
{
  return method && strcmp (method, name) == 0;
}

bool
is_get (const char *method)
{
  return is (method, "GET") || is (method, "HEAD");
}

/* Whether the request carries credentials that @creds accept; if not,
 * answers 401 with a challenge for @realm. */
bool
authorized (SoupServerMessage *msg, const Credentials &creds, const std::string &realm)
{
  if (creds.open ())
    return true;
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  g_autofree gchar *token = NULL;
  if (const char *query = g_uri_get_query (soup_server_message_get_uri (msg))) {
    GHashTable *params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL);
    if (params) {
      token = g_strdup ((const char *)g_hash_table_lookup (params, "token"));
      g_hash_table_unref (params);
    }
  }
  if (check_credentials (creds, header, token))
    return true;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "WWW-Authenticate",
                                auth_challenge (creds, realm).c_str ());
  return false;
}

} // namespace

namespace http {

bool
split_path (const char *raw, std::vector<std::string> &out)
{
  if (!raw || raw[0] != '/' || strlen (raw) > 1024)
    return false;
  g_auto (GStrv) parts = g_strsplit (raw + 1, "/", 16);
  for (guint i = 0; parts[i]; i++) {
    g_autofree gchar *dec = g_uri_unescape_string (parts[i], "/");
    if (!dec)
      return false;
    out.emplace_back (dec);
  }
  if (out.empty ())
    out.emplace_back (); /* g_strsplit ("") is empty: "/" is {""} */
  return true;
}

bool
good_name (const std::string &name)
{
  return valid_path_name (name) && name.find ("..") == std::string::npos;
}

bool
good_id (const std::string &id)
{
  if (id.empty () || id.size () > 64)
    return false;
  for (char c : id) {
    if (!g_ascii_isalnum (c) && c != '-' && c != '_')
      return false;
  }
  return true;
}

/* A quoted-string for an HTTP header parameter: no control characters,
 * '"' and '\\' escaped. */
static std::string
quoted (const char *s)
{
  std::string out = "\"";
  for (; s && *s; s++) {
    if ((guchar)*s < 0x20 || *s == 0x7f)
      continue;
    if (*s == '"' || *s == '\\')
      out += '\\';
    out += *s;
  }
  return out + "\"";
}

std::vector<std::string>
ice_links (const ServerConfig &conf)
{
  std::vector<std::string> links;
  std::vector<std::string> urls = conf.stun_servers;
  urls.insert (urls.end (), conf.turn_servers.begin (), conf.turn_servers.end ());
  for (const std::string &url : urls) {
    g_autoptr (GError) err = NULL;
    g_autoptr (GUri) uri = g_uri_parse (url.c_str (), G_URI_FLAGS_HAS_PASSWORD, &err);
    if (!uri || !g_uri_get_host (uri) || !*g_uri_get_host (uri)) {
      GST_WARNING ("ICE server %s: %s", redact_urls (url).c_str (), err ? err->message : "no host");
      continue;
    }
    const char *scheme = g_uri_get_scheme (uri);
    const char *host = g_uri_get_host (uri);
    std::string target = std::string (scheme) + ":";
    target += strchr (host, ':') ? std::string ("[") + host + "]" : host;
    if (g_uri_get_port (uri) > 0)
      target += ":" + std::to_string (g_uri_get_port (uri));
    if (g_uri_get_query (uri))
      target += std::string ("?") + g_uri_get_query (uri);
    if (target.find_first_of ("<>\r\n") != std::string::npos)
      continue;
    std::string link = "<" + target + ">; rel=\"ice-server\"";
    if (!g_str_equal (scheme, "stun") && g_uri_get_user (uri)) {
      link += "; username=" + quoted (g_uri_get_user (uri));
      link += "; credential=" + quoted (g_uri_get_password (uri));
      link += "; credential-type=\"password\"";
    }
    links.push_back (link);
  }
  return links;
}

std::vector<std::string>
sdp_mids (const std::string &sdp)
{
  std::vector<std::string> mids;
  g_auto (GStrv) lines = g_strsplit (sdp.c_str (), "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    g_strchomp (lines[i]);
    if (g_str_has_prefix (lines[i], "m="))
      mids.emplace_back ();
    else if (g_str_has_prefix (lines[i], "a=mid:") && !mids.empty ())
      mids.back () = lines[i] + 6;
  }
  return mids;
}

std::vector<FragCandidate>
frag_candidates (const std::string &frag, const std::vector<std::string> &mids)
{
  std::vector<FragCandidate> out;
  guint mline = 0;
  int m_seen = -1;
  g_auto (GStrv) lines = g_strsplit (frag.c_str (), "\n", -1);
  for (guint i = 0; lines[i] && out.size () < MAX_FRAG_CANDIDATES; i++) {
    g_strchomp (lines[i]);
    const char *l = lines[i];
    if (g_str_has_prefix (l, "m=")) {
      mline = (guint)++m_seen;
    } else if (g_str_has_prefix (l, "a=mid:")) {
      std::string mid = l + 6;
      bool found = false;
      for (gsize k = 0; k < mids.size (); k++) {
        if (!mid.empty () && mids[k] == mid) {
          mline = (guint)k;
          found = true;
          break;
        }
      }
      guint64 n = 0;
      if (!found && g_ascii_string_to_unsigned (mid.c_str (), 10, 0, wsproto::MAX_MLINE, &n, NULL))
        mline = (guint)n;
    } else if (g_str_has_prefix (l, "a=candidate:")) {
      out.push_back ({ mline, l + 2 });
    } else if (g_str_equal (l, "a=end-of-candidates")) {
      out.push_back ({ mline, "" });
    }
  }
  return out;
}

bool
check_frag (const std::string &frag, std::string &error)
{
  bool any = false;
  g_auto (GStrv) lines = g_strsplit (frag.c_str (), "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    g_strchomp (lines[i]);
    const char *l = lines[i];
    if (!*l)
      continue;
    std::string where = "line " + std::to_string (i + 1);
    if (!g_ascii_islower (l[0]) || l[1] != '=') {
      error = where + " is not an SDP line";
      return false;
    }
    std::string why;
    if (g_str_has_prefix (l, "a=candidate:")) {
      if (!wsproto::check_candidate_line (l, why)) {
        error = where + " is not an ICE candidate: " + why;
        return false;
      }
      any = true;
    } else if (g_str_equal (l, "a=end-of-candidates")) {
      any = true;
    }
  }
  if (!any)
    error = "the fragment has no a=candidate or a=end-of-candidates line";
  return any;
}

std::string
close_reason (const std::string &reason)
{
  if (reason.size () <= 123)
    return reason;
  gsize n = 123;
  while (n > 0 && ((guchar)reason[n] & 0xc0) == 0x80)
    n--;
  return reason.substr (0, n);
}

void
respond (SoupServerMessage *msg, guint status, const std::string &reason)
{
  soup_server_message_set_status (msg, status, NULL);
  std::string body = reason + "\n";
  /* set_response appends: drop what libsoup may have written already (its
   * websocket handshake check leaves an HTML page there). */
  soup_message_body_truncate (soup_server_message_get_response_body (msg));
  soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY,
                                    body.data (), body.size ());
}

void
cors (SoupServerMessage *msg, bool expose)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Access-Control-Allow-Origin", "*");
  if (expose)
    soup_message_headers_replace (h, "Access-Control-Expose-Headers", "Location, Link");
}

} // namespace http

namespace {

void
method_not_allowed (SoupServerMessage *msg, const char *allow)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allow);
  g_autofree gchar *reason = g_strdup_printf ("method %s not allowed here (allowed: %s)",
                                              soup_server_message_get_method (msg), allow);
  respond (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, reason);
}

bool
has_content_type (SoupServerMessage *msg, const char *want)
{
  const char *ct
      = soup_message_headers_get_content_type (soup_server_message_get_request_headers (msg), NULL);
  return ct && g_ascii_strcasecmp (ct, want) == 0;
}

/* The request body as text; false if it is not UTF-8 text (or has NULs). */
bool
body_text (SoupServerMessage *msg, std::string &out)
{
  g_autoptr (GBytes) bytes = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  gsize len = 0;
  const char *data = (const char *)g_bytes_get_data (bytes, &len);
  if (len > (gsize)MAX_BODY_SIZE || (len && !g_utf8_validate (data, (gssize)len, NULL)))
    return false;
  out.assign (data ? data : "", len);
  return true;
}

void
too_large (SoupServerMessage *msg)
{
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  soup_message_body_truncate (soup_server_message_get_request_body (msg));
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                "close");
  respond (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
           "request body too large (at most " + std::to_string (MAX_BODY_SIZE) + " bytes)");
}

/* Chunked bodies: count as they arrive, stop keeping them past the limit. */
void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  goffset *total = static_cast<goffset *> (g_object_get_data (G_OBJECT (msg), "gw-body-size"));
  if (!total)
    return;
  *total += (goffset)g_bytes_get_size (chunk);
  if (*total > MAX_BODY_SIZE && soup_server_message_get_status (msg) == 0)
    too_large (msg);
}

struct Refusal
{
  GIOStream *stream;
  std::string text;
};

void
on_refusal_written (GObject *out, GAsyncResult *res, gpointer user_data)
{
  auto *r = static_cast<Refusal *> (user_data);
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (out), res, NULL, NULL);
  g_io_stream_close (r->stream, NULL, NULL);
  g_object_unref (r->stream);
  delete r;
}

/* Answers @status with @reason and closes the connection without reading the
 * body. libsoup reads a request's whole body before answering, even when an
 * early handler has set the status: for a body that must not be read at all
 * (of a negative or conflicting length, or longer than MAX_DRAIN_SIZE) the
 * connection is taken over from libsoup instead. A client that is still
 * sending may see the connection reset rather than this answer. */
void
refuse_before_body (SoupServerMessage *msg, guint status, const std::string &reason)
{
  GIOStream *stream = soup_server_message_steal_connection (msg);
  if (!stream) {
    respond (msg, status, reason);
    return;
  }
  std::string body = reason + "\n";
  auto *r = new Refusal{ stream, "HTTP/1.1 " + std::to_string (status) + " "
                                     + soup_status_get_phrase (status)
                                     + "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                       "Access-Control-Allow-Origin: *\r\nConnection: close\r\n"
                                       "Content-Length: "
                                     + std::to_string (body.size ()) + "\r\n\r\n" + body };
  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream), r->text.data (),
                                   r->text.size (), G_PRIORITY_DEFAULT, NULL, on_refusal_written,
                                   r);
}

void
on_early (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
  auto *core = static_cast<HttpCore *> (user_data);
  if (core->limits && core->limits->refuse (msg))
    return;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CONTENT_LENGTH) {
    const bool expect = soup_message_headers_get_expectations (h) & SOUP_EXPECTATION_CONTINUE;
    const char *cl = soup_message_headers_get_list (h, "Content-Length");
    /* libsoup takes "-5" as a length (and warns when it reads the body),
     * and one of two lengths. */
    if (!cl || !*cl || strspn (cl, "0123456789") != strlen (cl))
      refuse_before_body (msg, SOUP_STATUS_BAD_REQUEST, "bad Content-Length");
    else if (soup_message_headers_get_content_length (h) > MAX_DRAIN_SIZE && !expect)
      refuse_before_body (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                          "request body too large (at most " + std::to_string (MAX_BODY_SIZE)
                              + " bytes)");
    else if (soup_message_headers_get_content_length (h) > MAX_BODY_SIZE)
      too_large (msg); /* read and dropped, then answered: the client is
                        * still sending it and would miss an earlier answer */
    return;
  }
  g_object_set_data_full (G_OBJECT (msg), "gw-body-size", g_new0 (goffset, 1), g_free);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
}

void
on_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer user_data)
{
  static_cast<HttpCore *> (user_data)->dispatch (msg, path);
}

} // namespace

/* ------------------------------------------------------------------ routing */

void
HttpCore::dispatch (SoupServerMessage *msg, const char *raw_path)
{
  const char *method = soup_server_message_get_method (msg);
  std::vector<std::string> seg;
  if (!split_path (raw_path, seg) || seg.empty ()) {
    respond (msg, SOUP_STATUS_NOT_FOUND, "not found");
    return;
  }
  GST_LOG ("%s %s", method, raw_path);

  /* The index, the API and the metrics take the API credentials; a path's
   * page and signalling take its read credentials. CORS preflights carry no
   * credentials and reveal nothing, so they pass. */
  const bool fixed_route = (seg.size () == 1 && (seg[0].empty () || seg[0] == "metrics"))
                           || (seg.size () >= 2 && seg[0] == "v1");
  if (fixed_route && !authorized (msg, manager.server ().api, "webrtc-gateway")) {
    respond (msg, SOUP_STATUS_UNAUTHORIZED, "credentials required");
    return;
  }

  /* Fixed routes. */
  if (seg.size () == 1 && seg[0].empty ()) {
    if (!is_get (method))
      return method_not_allowed (msg, GET_ALLOW);
    return serve_index (msg);
  }
  if (seg.size () == 1 && seg[0] == "metrics") {
    if (!is_get (method))
      return method_not_allowed (msg, GET_ALLOW);
    return serve_metrics (msg);
  }
  if (seg.size () >= 2 && seg[0] == "v1" && seg[1] == "paths") {
    if (seg.size () > 3 || (seg.size () == 3 && !good_name (seg[2]))) {
      respond (msg, SOUP_STATUS_NOT_FOUND, "unknown path");
      return;
    }
    if (!is_get (method))
      return method_not_allowed (msg, GET_ALLOW);
    return serve_api (msg, seg.size () == 3 ? &seg[2] : nullptr);
  }

  /* Per-path routes: /NAME, /NAME/, /NAME/whep[/ID], /NAME/ws */
  const std::string &name = seg[0];
  auto path = good_name (name) ? manager.find_path (name) : nullptr;
  if (!path) {
    respond (msg, SOUP_STATUS_NOT_FOUND, "unknown path");
    return;
  }
  if (!is (method, "OPTIONS") && !authorized (msg, path->conf ().read, name)) {
    cors (msg, true);
    respond (msg, SOUP_STATUS_UNAUTHORIZED, "credentials required");
    return;
  }
  if (seg.size () == 1) {
    if (!is_get (method))
      return method_not_allowed (msg, GET_ALLOW);
    GUri *uri = soup_server_message_get_uri (msg);
    std::string location = "/" + name + "/";
    if (g_uri_get_query (uri))
      location += std::string ("?") + g_uri_get_query (uri);
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Location",
                                  location.c_str ());
    respond (msg, SOUP_STATUS_MOVED_PERMANENTLY, "moved to " + location);
    return;
  }
  if (seg.size () == 2 && seg[1].empty ()) {
    if (!is_get (method))
      return method_not_allowed (msg, GET_ALLOW);
    return serve_page (msg, name);
  }
  if (seg.size () == 2 && seg[1] == "whep") {
    if (is (method, "POST"))
      return whep_post (msg, name);
    if (is (method, "OPTIONS"))
      return whep_options (msg, WHEP_METHODS);
    cors (msg, true);
    return method_not_allowed (msg, WHEP_ALLOW);
  }
  if (seg.size () == 3 && seg[1] == "whep" && good_id (seg[2])) {
    if (is (method, "PATCH"))
      return whep_patch (msg, name, seg[2]);
    if (is (method, "DELETE"))
      return whep_delete (msg, name, seg[2]);
    if (is (method, "OPTIONS"))
      return whep_options (msg, WHEP_METHODS);
    cors (msg, true);
    return method_not_allowed (msg, WHEP_RESOURCE_ALLOW);
  }
  if (seg.size () == 2 && seg[1] == "ws") {
    if (!is (method, "GET"))
      return method_not_allowed (msg, "GET");
    return ws_upgrade (msg, name);
  }
  respond (msg, SOUP_STATUS_NOT_FOUND, "not found");
}

/* ------------------------------------------------------------- plain routes */

void
HttpCore::serve_page (SoupServerMessage *msg, const std::string &name)
{
  const char *page = gw_player_page_html ();
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_STATIC, page,
                                    strlen (page));
}

/* --------------------------------------------------------------------- WHEP */

void
HttpCore::whep_options (SoupServerMessage *msg, const char *allow)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  cors (msg, true);
  soup_message_headers_replace (h, "Access-Control-Allow-Methods", allow);
  soup_message_headers_replace (h, "Access-Control-Allow-Headers",
                                "Content-Type, Authorization, If-Match");
  soup_message_headers_replace (h, "Access-Control-Max-Age", "86400");
  soup_message_headers_replace (h, "Allow", allow);
  soup_message_headers_replace (h, "Accept-Post", "application/sdp");
  for (const std::string &l : ice_links (manager.server ()))
    soup_message_headers_append (h, "Link", l.c_str ());
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static void
on_whep_post_finished (SoupServerMessage *msg, gpointer user_data)
{
  auto *weak = static_cast<std::weak_ptr<WhepPost> *> (user_data);
  auto p = weak->lock ();
  if (!p)
    return;
  /* Set by the Impl that owns it; see whep_post. */
  auto *impl = static_cast<HttpCore *> (g_object_get_data (G_OBJECT (msg), "gw-impl"));
  if (!impl)
    return;
  if (!p->done) {
    GST_INFO ("WHEP client on %s went away before the answer", p->path.c_str ());
    p->done = true;
    if (!p->id.empty ())
      impl->manager.close_session (p->id);
  }
  /* Released once libsoup is done emitting "finished" (the WhepPost owns
   * this handler and a ref on the message). */
  impl->posts.erase (p);
  defer_release (p);
}

/* A paused POST's socket is readable or hung up. libsoup does not read a
 * paused message's connection, so this is how a client that leaves before
 * its answer is noticed: its session is closed at once. */
static gboolean
on_post_socket (GSocket *sock, GIOCondition cond, gpointer user_data)
{
  auto p = static_cast<std::weak_ptr<WhepPost> *> (user_data)->lock ();
  if (!p || p->done)
    return G_SOURCE_REMOVE;
  bool gone = (cond & (G_IO_HUP | G_IO_ERR)) != 0;
  if (!gone) {
    http::PeerPeek peek = http::peek_peer (sock);
    if (peek == http::PeerPeek::NOTHING)
      return G_SOURCE_CONTINUE;
    gone = peek == http::PeerPeek::CLOSED;
  }
  GSource *self = p->watch; /* keep it alive while it dispatches */
  p->watch = nullptr;
  auto *impl = static_cast<HttpCore *> (g_object_get_data (G_OBJECT (p->msg), "gw-impl"));
  if (gone && impl) {
    GST_INFO ("WHEP client on %s went away before the answer", p->path.c_str ());
    std::string id = p->id;
    impl->whep_finish (p, SOUP_STATUS_SERVICE_UNAVAILABLE, "the client went away");
    impl->manager.close_session (id);
  }
  /* Not gone: the client sent more (a pipelined request); stop watching. */
  if (self)
    g_source_unref (self);
  return G_SOURCE_REMOVE;
}

void
HttpCore::whep_post (SoupServerMessage *msg, const std::string &name)
{
  cors (msg, true);
  if (!has_content_type (msg, "application/sdp")) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Accept-Post",
                                  "application/sdp");
    respond (msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "the offer must be application/sdp");
    return;
  }
  std::string offer;
  if (!body_text (msg, offer)) {
    respond (msg, SOUP_STATUS_BAD_REQUEST, "the offer is not SDP text");
    return;
  }
  if (offer.find_first_not_of (" \t\r\n") == std::string::npos) {
    respond (msg, SOUP_STATUS_BAD_REQUEST, "empty SDP offer");
    return;
  }

  auto p = std::make_shared<WhepPost> ();
  p->msg = (SoupServerMessage *)g_object_ref (msg);
  p->path = name;
  posts.insert (p);
  g_object_set_data (G_OBJECT (msg), "gw-impl", this);
  p->finished_id = g_signal_connect_data (
      msg, "finished", G_CALLBACK (on_whep_post_finished), new std::weak_ptr<WhepPost> (p),
      [] (gpointer d, GClosure *) { delete static_cast<std::weak_ptr<WhepPost> *> (d); },
      (GConnectFlags)0);

  auto res = std::make_shared<WhepResource> ();
  res->path = name;
  res->mids = sdp_mids (offer);

  std::weak_ptr<WhepPost> wp = p;
  std::weak_ptr<int> alive_w = alive;
  SessionEvents ev;
  ev.on_description = [this, wp, alive_w] (const std::string &sdp) {
    auto q = wp.lock ();
    if (q && !alive_w.expired ())
      whep_finish (q, SOUP_STATUS_CREATED, sdp);
  };
  ev.on_error = [this, wp, alive_w] (guint status, const std::string &reason) {
    auto q = wp.lock ();
    if (q && !alive_w.expired ())
      whep_finish (q, status >= 400 && status <= 599 ? status : 500, reason);
  };
  ev.on_closed = [this, wp, res, alive_w] () {
    if (alive_w.expired ())
      return;
    if (!res->id.empty ())
      whep.erase (res->id);
    if (auto q = wp.lock ())
      whep_finish (q, SOUP_STATUS_SERVICE_UNAVAILABLE, "the session ended before its answer");
  };

  guint status = 0;
  std::string reason;
  auto session = manager.create_session (name, SessionRole::Answerer, offer, ev, status, reason);
  p->created = true;
  if (!session) {
    if (!p->have_outcome)
      whep_finish (p, status ? status : 500, reason.empty () ? "cannot create a session" : reason);
    whep_respond (p);
    return;
  }
  p->id = res->id = session->id ();
  if (!session->closed ())
    whep[res->id] = res;
  if (p->have_outcome) {
    whep_respond (p);
    return;
  }
  GST_INFO ("WHEP session %s on %s: waiting for the answer", p->id.c_str (), name.c_str ());
  guint timeout = ANSWER_GRACE_S;
  if (auto path = manager.find_path (name))
    timeout += path->conf ().start_timeout;
  p->timer = g_timeout_add_seconds_full (
      G_PRIORITY_DEFAULT, timeout,
      [] (gpointer data) -> gboolean {
        auto *w = static_cast<std::weak_ptr<WhepPost> *> (data);
        auto q = w->lock ();
        if (!q)
          return G_SOURCE_REMOVE;
        q->timer = 0;
        auto *impl = static_cast<HttpCore *> (g_object_get_data (G_OBJECT (q->msg), "gw-impl"));
        if (impl && !q->done) {
          std::string id = q->id;
          impl->whep_finish (q, SOUP_STATUS_GATEWAY_TIMEOUT, "no answer in time");
          impl->manager.close_session (id);
        }
        return G_SOURCE_REMOVE;
      },
      new std::weak_ptr<WhepPost> (p),
      [] (gpointer d) { delete static_cast<std::weak_ptr<WhepPost> *> (d); });
  p->paused = true;
  soup_server_message_pause (msg);
  if (GSocket *sock = soup_server_message_get_socket (msg)) {
    p->watch = g_socket_create_source (sock, (GIOCondition)(G_IO_IN | G_IO_HUP | G_IO_ERR), NULL);
    g_source_set_callback (p->watch, G_SOURCE_FUNC (on_post_socket),
                           new std::weak_ptr<WhepPost> (p),
                           [] (gpointer d) { delete static_cast<std::weak_ptr<WhepPost> *> (d); });
    g_source_attach (p->watch, NULL);
  }
}

/* Records the outcome of a POST; it is written at once unless create_session
 * has not returned yet (then whep_post writes it). First outcome wins. */
void
HttpCore::whep_finish (const std::shared_ptr<WhepPost> &p, guint status, const std::string &body)
{
  if (p->done || p->have_outcome)
    return;
  p->have_outcome = true;
  p->status = status;
  p->body = body;
  if (p->created)
    whep_respond (p);
}

void
HttpCore::whep_respond (const std::shared_ptr<WhepPost> &p)
{
  if (p->done || !p->have_outcome)
    return;
  p->done = true;
  p->stop_watch ();
  if (p->timer) {
    g_source_remove (p->timer);
    p->timer = 0;
  }
  SoupServerMessage *msg = p->msg;
  if (p->status == SOUP_STATUS_CREATED && !p->id.empty ()) {
    SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
    std::string location = "/" + p->path + "/whep/" + p->id;
    soup_message_headers_replace (h, "Location", location.c_str ());
    for (const std::string &l : ice_links (manager.server ()))
      soup_message_headers_append (h, "Link", l.c_str ());
    soup_server_message_set_status (msg, SOUP_STATUS_CREATED, NULL);
    soup_server_message_set_response (msg, "application/sdp", SOUP_MEMORY_COPY, p->body.data (),
                                      p->body.size ());
    GST_INFO ("WHEP session %s on %s answered", p->id.c_str (), p->path.c_str ());
  } else {
    guint status = p->status == SOUP_STATUS_CREATED ? 500 : p->status;
    respond (msg, status, p->body);
    GST_INFO ("WHEP POST on %s failed: %u %s", p->path.c_str (), status, p->body.c_str ());
  }
  if (p->paused) {
    p->paused = false;
    soup_server_message_unpause (msg);
  }
}

void
HttpCore::whep_patch (SoupServerMessage *msg, const std::string &name, const std::string &id)
{
  cors (msg, true);
  auto it = whep.find (id);
  auto session = manager.find_session (id);
  if (it == whep.end () || it->second->path != name || !session || session->closed ()) {
    respond (msg, SOUP_STATUS_NOT_FOUND, "unknown session");
    return;
  }
  if (!has_content_type (msg, "application/trickle-ice-sdpfrag")) {
    respond (msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
             "trickle ICE must be application/trickle-ice-sdpfrag");
    return;
  }
  std::string frag, error;
  if (!body_text (msg, frag)) {
    respond (msg, SOUP_STATUS_BAD_REQUEST, "the fragment is not SDP text");
    return;
  }
  /* Checked whole before any candidate is used: the ICE agent would only
   * log an error on a malformed one, and the client would never know. */
  if (!check_frag (frag, error)) {
    respond (msg, SOUP_STATUS_BAD_REQUEST, error);
    return;
  }
  auto mids = it->second->mids;
  for (const FragCandidate &c : frag_candidates (frag, mids)) {
    /* add_candidate may end the session (and erase it from whep). */
    if (session->closed ())
      break;
    session->add_candidate (c.mline, c.candidate);
  }
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

void
HttpCore::whep_delete (SoupServerMessage *msg, const std::string &name, const std::string &id)
{
  cors (msg, true);
  auto it = whep.find (id);
  if (it == whep.end () || it->second->path != name) {
    respond (msg, SOUP_STATUS_NOT_FOUND, "unknown session");
    return;
  }
  whep.erase (it);
  manager.close_session (id);
  GST_INFO ("WHEP session %s on %s deleted", id.c_str (), name.c_str ());
  respond (msg, SOUP_STATUS_OK, "session closed");
}

/* ------------------------------------------------------------------ server */

HttpCore::~HttpCore ()
{
  /* Sessions this server made must not call back into it. */
  std::vector<std::string> ids;
  for (const auto &p : posts)
    if (!p->id.empty ())
      ids.push_back (p->id);
  for (const auto &kv : whep)
    ids.push_back (kv.first);
  for (const auto &kv : ws)
    if (!kv.second->id.empty ())
      ids.push_back (kv.second->id);
  alive.reset ();
  for (const std::string &id : ids) {
    if (auto s = manager.find_session (id))
      s->events = SessionEvents ();
    manager.close_session (id);
  }
  for (const auto &p : posts)
    g_object_set_data (G_OBJECT (p->msg), "gw-impl", NULL);
  for (const auto &kv : ws) {
    g_object_set_data (G_OBJECT (kv.first), "gw-impl", NULL);
    if (soup_websocket_connection_get_state (kv.first) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (kv.first, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                       "server shutting down");
  }
  auto old_posts = std::move (posts);
  auto old_ws = std::move (ws);
  limits.reset ();
  if (server) {
    soup_server_disconnect (server);
    g_object_unref (server);
  }
}

struct HttpServer::Impl : HttpCore
{
  using HttpCore::HttpCore;
};

HttpServer::HttpServer (Manager &manager) : impl_ (new Impl (manager))
{
  GST_DEBUG_CATEGORY_INIT (gw_http_debug, "gwhttp", 0, "gateway HTTP server");
  impl_->server = soup_server_new ("server-header", "webrtc-gateway ", "raw-paths", TRUE, NULL);
  HttpCore *core = impl_;
  soup_server_add_early_handler (impl_->server, NULL, on_early, core, NULL);
  soup_server_add_handler (impl_->server, NULL, on_request, core, NULL);
  impl_->limits.reset (new http::ConnLimits (impl_->server, manager.server ()));
}

HttpServer::~HttpServer () { delete impl_; }

bool
HttpServer::listen (GError **error)
{
  if (impl_->bound_port)
    return true;
  const ServerConfig &conf = impl_->manager.server ();
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (conf.listen_address.c_str ());
  if (!addr) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "cannot listen on \"%s\": not an IP address", conf.listen_address.c_str ());
    return false;
  }
  if (conf.port > 65535) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad port %u", conf.port);
    return false;
  }
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (addr, (guint16)conf.port);
  GError *err = NULL;
  int options = 0;
  if (conf.tls ()) {
    g_autoptr (GTlsCertificate) cert = NULL;
    std::string problem;
    bool key_at_fault = false;
    if (!load_tls_certificate (conf.tls_cert, conf.tls_key, &cert, problem, key_at_fault)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: %s",
                   key_at_fault ? "tls-key" : "tls-cert", problem.c_str ());
      return false;
    }
    soup_server_set_tls_certificate (impl_->server, cert);
    options |= SOUP_SERVER_LISTEN_HTTPS;
  }
  /* Our own socket: libsoup's has GLib's default backlog of 10, so a burst
   * of connections (one client's flood) would make every other client's
   * connect wait for SYN retries (1 s, 3 s...). */
  g_autoptr (GSocket) sock = g_socket_new (g_socket_address_get_family (sa), G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_DEFAULT, &err);
  if (sock) {
    if (g_socket_address_get_family (sa) == G_SOCKET_FAMILY_IPV6)
      g_socket_set_option (sock, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, NULL);
    g_socket_set_listen_backlog (sock, LISTEN_BACKLOG);
  }
  if (!sock || !g_socket_bind (sock, sa, TRUE, &err) || !g_socket_listen (sock, &err)
      || !soup_server_listen_socket (impl_->server, sock, (SoupServerListenOptions)options, &err)) {
    g_set_error (error, err->domain, err->code, "cannot listen on %s:%u: %s",
                 conf.listen_address.c_str (), conf.port, err->message);
    g_error_free (err);
    return false;
  }
  GSList *listeners = soup_server_get_listeners (impl_->server);
  for (GSList *l = listeners; l; l = l->next) {
    g_autoptr (GSocketAddress) local = g_socket_get_local_address (G_SOCKET (l->data), NULL);
    if (local && G_IS_INET_SOCKET_ADDRESS (local)) {
      impl_->bound_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
      break;
    }
  }
  g_slist_free (listeners);
  GST_INFO ("listening on %s:%u%s", conf.listen_address.c_str (), impl_->bound_port,
            conf.tls () ? " (HTTPS and WSS only)" : "");
  return true;
}

guint
HttpServer::port () const
{
  return impl_->bound_port;
}

} // namespace gw