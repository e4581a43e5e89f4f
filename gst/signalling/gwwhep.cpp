/* WHEP helpers and Endpoint: see gwwhep.h.
 *
 * Lifetimes: a paused POST (Post) is owned by the endpoint until libsoup
 * emits "finished"; the session callbacks, its timer and its socket watch
 * hold weak references to it, and reach the endpoint through the message's
 * "gw-whep-endpoint" data, which the endpoint clears when it goes. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwwhep.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gw_whep_debug);
#define GST_CAT_DEFAULT gw_whep_debug

namespace gw {
namespace whep {

namespace {

constexpr const char *ENDPOINT_KEY = "gw-whep-endpoint";
constexpr const char *WHEP_METHODS = "POST, PATCH, DELETE, OPTIONS";
constexpr const char *WHEP_ALLOW = "POST, OPTIONS";
constexpr const char *WHEP_RESOURCE_ALLOW = "PATCH, DELETE, OPTIONS";

void
init_debug ()
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_whep_debug, "gwwhep", 0, "WHEP signalling");
    g_once_init_leave (&once, 1);
  }
}

/* A quoted-string for an HTTP header parameter: no control characters,
 * '"' and '\\' escaped. */
std::string
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

/* Whether @s is 1 to @max ASCII digits. */
bool
digits (const char *s, gsize max)
{
  gsize n = strspn (s, "0123456789");
  return n > 0 && n <= max && s[n] == '\0';
}

/* The m-line a mid names: its index in @mids, else itself as a number. */
bool
mline_of_mid (const std::string &mid, const std::vector<std::string> &mids, guint &mline)
{
  for (gsize k = 0; k < mids.size (); k++) {
    if (!mid.empty () && mids[k] == mid) {
      mline = (guint)k;
      return true;
    }
  }
  guint64 n = 0;
  if (g_ascii_string_to_unsigned (mid.c_str (), 10, 0, MAX_MLINE, &n, NULL)) {
    mline = (guint)n;
    return true;
  }
  return false;
}

} // namespace

/* ------------------------------------------------------------ pure helpers */

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

std::vector<std::string>
ice_links (const std::vector<std::string> &stun_servers,
           const std::vector<std::string> &turn_servers)
{
  init_debug ();
  std::vector<std::string> links;
  std::vector<std::string> urls = stun_servers;
  urls.insert (urls.end (), turn_servers.begin (), turn_servers.end ());
  for (const std::string &url : urls) {
    g_autoptr (GError) err = NULL;
    g_autoptr (GUri) uri = g_uri_parse (url.c_str (), G_URI_FLAGS_HAS_PASSWORD, &err);
    if (!uri || !g_uri_get_host (uri) || !*g_uri_get_host (uri)) {
      /* Not the URL itself: it may hold a password. */
      GST_WARNING ("an ICE server URL cannot be announced: %s", err ? err->message : "no host");
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
  /* Per candidate: whether a mid before it set its m-line, and its
   * section, for a mid that comes after it. */
  std::vector<std::pair<bool, int> > how;
  guint mline = 0;
  bool by_mid = false;
  int m_seen = -1;
  g_auto (GStrv) lines = g_strsplit (frag.c_str (), "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    g_strchomp (lines[i]);
    const char *l = lines[i];
    if (g_str_has_prefix (l, "m=")) {
      mline = (guint)++m_seen;
      by_mid = false;
    } else if (g_str_has_prefix (l, "a=mid:")) {
      if (mline_of_mid (l + 6, mids, mline)) {
        by_mid = true;
        /* The candidates of this section that came before it. */
        for (gsize k = 0; k < out.size (); k++)
          if (!how[k].first && how[k].second == m_seen && m_seen >= 0) {
            out[k].mline = mline;
            how[k].first = true;
          }
      }
    } else if (out.size () < MAX_FRAG_CANDIDATES
               && (g_str_has_prefix (l, "a=candidate:")
                   || g_str_equal (l, "a=end-of-candidates"))) {
      out.push_back ({ mline, g_str_has_prefix (l, "a=candidate:") ? l + 2 : "" });
      how.emplace_back (by_mid, m_seen);
    }
  }
  return out;
}

bool
check_candidate_line (const std::string &line, std::string &error)
{
  const char *c = line.c_str ();
  if (g_str_has_prefix (c, "a="))
    c += 2;
  if (!g_str_has_prefix (c, "candidate:")) {
    error = "it does not start with \"candidate:\"";
    return false;
  }
  if (line.size () > MAX_CANDIDATE_SIZE) {
    error = "longer than " + std::to_string (MAX_CANDIDATE_SIZE) + " bytes";
    return false;
  }
  for (const char *p = c; *p; p++) {
    if ((guchar)*p < 0x20 || *p == 0x7f) {
      error = "it holds control characters";
      return false;
    }
  }
  /* foundation component transport priority address port "typ" type [...] */
  g_auto (GStrv) f = g_strsplit (c + 10, " ", 10);
  if (g_strv_length (f) < 8) {
    error = "too few fields (foundation component transport priority address port typ type)";
    return false;
  }
  if (!*f[0] || strlen (f[0]) > 32
      || strspn (f[0], "0123456789abcdefghijklmnopqrstuvwxyz"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ+/")
             != strlen (f[0])) {
    error = "bad foundation";
    return false;
  }
  guint64 port = 0;
  if (!digits (f[1], 3) || !*f[2] || !digits (f[3], 10) || !*f[4]
      || !g_ascii_string_to_unsigned (f[5], 10, 0, 65535, &port, NULL) || !digits (f[5], 5)
      || strcmp (f[6], "typ") != 0 || !*f[7]) {
    error = "bad component, transport, priority, address, port or type";
    return false;
  }
  return true;
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
      if (!check_candidate_line (l, why)) {
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

PeerPeek
peek_peer (GSocket *sock)
{
  gchar byte;
  GInputVector v = { &byte, 1 };
  gint flags = G_SOCKET_MSG_PEEK;
  g_autoptr (GError) err = NULL;
  gssize n = g_socket_receive_message (sock, NULL, &v, 1, NULL, NULL, &flags, NULL, &err);
  if (n < 0 && g_error_matches (err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return PeerPeek::NOTHING;
  return n <= 0 ? PeerPeek::CLOSED : PeerPeek::DATA;
}

/* ---------------------------------------------------------- HTTP utilities */

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
method_not_allowed (SoupServerMessage *msg, const char *allow)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allow);
  g_autofree gchar *reason = g_strdup_printf ("method %s not allowed here (allowed: %s)",
                                              soup_server_message_get_method (msg), allow);
  respond (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, reason);
}

void
cors (SoupServerMessage *msg, bool expose)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Access-Control-Allow-Origin", "*");
  if (expose)
    soup_message_headers_replace (h, "Access-Control-Expose-Headers", "Location, Link");
}

void
preflight (SoupServerMessage *msg, const char *allow, const std::vector<std::string> *links)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  cors (msg, true);
  soup_message_headers_replace (h, "Access-Control-Allow-Methods", allow);
  soup_message_headers_replace (h, "Access-Control-Allow-Headers",
                                "Content-Type, Authorization, If-Match");
  soup_message_headers_replace (h, "Access-Control-Max-Age", "86400");
  soup_message_headers_replace (h, "Allow", allow);
  if (links) {
    soup_message_headers_replace (h, "Accept-Post", "application/sdp");
    for (const std::string &l : *links)
      soup_message_headers_append (h, "Link", l.c_str ());
  }
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

bool
has_content_type (SoupServerMessage *msg, const char *want)
{
  const char *ct
      = soup_message_headers_get_content_type (soup_server_message_get_request_headers (msg), NULL);
  return ct && g_ascii_strcasecmp (ct, want) == 0;
}

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

namespace {

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

} // namespace

bool
limit_body (SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CONTENT_LENGTH) {
    const bool expect = soup_message_headers_get_expectations (h) & SOUP_EXPECTATION_CONTINUE;
    const char *cl = soup_message_headers_get_list (h, "Content-Length");
    /* libsoup takes "-5" as a length (and warns when it reads the body),
     * and one of two lengths. */
    if (!cl || !*cl || strspn (cl, "0123456789") != strlen (cl)) {
      refuse_before_body (msg, SOUP_STATUS_BAD_REQUEST, "bad Content-Length");
      return true;
    }
    if (soup_message_headers_get_content_length (h) > MAX_DRAIN_SIZE && !expect) {
      refuse_before_body (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                          "request body too large (at most " + std::to_string (MAX_BODY_SIZE)
                              + " bytes)");
      return true;
    }
    if (soup_message_headers_get_content_length (h) > MAX_BODY_SIZE) {
      too_large (msg); /* read and dropped, then answered: the client is
                        * still sending it and would miss an earlier answer */
      return true;
    }
    return false;
  }
  g_object_set_data_full (G_OBJECT (msg), "gw-body-size", g_new0 (goffset, 1), g_free);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
  return false;
}

/* ----------------------------------------------------------------- endpoint */

/* A paused POST waiting for its session's answer. */
struct Post
{
  SoupServerMessage *msg = nullptr; /* ref held */
  std::string base, id;
  std::vector<std::string> links;
  std::weak_ptr<ReaderSession> session;
  bool created = false; /* create_session returned */
  bool paused = false;
  bool done = false;         /* a response was set */
  bool have_outcome = false; /* an outcome arrived before create_session returned */
  guint status = 0;
  std::string body; /* the answer (201) or the reason */
  gulong finished_id = 0;
  GSource *timer = nullptr;
  GSource *watch = nullptr; /* the client's socket, while paused */

  static void
  stop (GSource *&s)
  {
    if (s) {
      g_source_destroy (s);
      g_source_unref (s);
      s = nullptr;
    }
  }

  ~Post ()
  {
    stop (watch);
    stop (timer);
    if (msg && finished_id)
      g_signal_handler_disconnect (msg, finished_id);
    g_clear_object (&msg);
  }
};

/* A session resource (BASE/ID). */
struct Resource
{
  std::string id, base;
  std::vector<std::string> mids; /* of the client's offer, for PATCH */
  std::weak_ptr<ReaderSession> session;
};

namespace {

using WeakPost = std::weak_ptr<Post>;

void
free_weak_post (gpointer d)
{
  delete static_cast<WeakPost *> (d);
}

Endpoint *
endpoint_of (const std::shared_ptr<Post> &p)
{
  return static_cast<Endpoint *> (g_object_get_data (G_OBJECT (p->msg), ENDPOINT_KEY));
}

void
on_post_finished (SoupServerMessage *msg, gpointer user_data)
{
  auto p = static_cast<WeakPost *> (user_data)->lock ();
  if (!p)
    return;
  if (Endpoint *e = endpoint_of (p))
    e->forget (p);
}

/* A paused POST's socket is readable or hung up. libsoup does not read a
 * paused message's connection, so this is how a client that leaves before
 * its answer is noticed: its session is closed at once. */
gboolean
on_post_socket (GSocket *sock, GIOCondition cond, gpointer user_data)
{
  auto p = static_cast<WeakPost *> (user_data)->lock ();
  if (!p || p->done)
    return G_SOURCE_REMOVE;
  bool gone = (cond & (G_IO_HUP | G_IO_ERR)) != 0;
  if (!gone) {
    PeerPeek peek = peek_peer (sock);
    if (peek == PeerPeek::NOTHING)
      return G_SOURCE_CONTINUE;
    gone = peek == PeerPeek::CLOSED;
  }
  GSource *self = p->watch; /* keep it alive while it dispatches */
  p->watch = nullptr;
  Endpoint *e = endpoint_of (p);
  if (gone && e)
    e->client_gone (p);
  /* Not gone: the client sent more (a pipelined request); stop watching. */
  if (self)
    g_source_unref (self);
  return G_SOURCE_REMOVE;
}

gboolean
on_post_timeout (gpointer data)
{
  auto p = static_cast<WeakPost *> (data)->lock ();
  if (!p)
    return G_SOURCE_REMOVE;
  g_clear_pointer (&p->timer, g_source_unref);
  if (Endpoint *e = endpoint_of (p))
    e->timed_out (p);
  return G_SOURCE_REMOVE;
}

void
close_session (const std::weak_ptr<ReaderSession> &weak)
{
  if (auto s = weak.lock ())
    s->close ();
}

} // namespace

Endpoint::Endpoint (GMainContext *context)
    : context_ (context ? g_main_context_ref (context) : nullptr)
{
  init_debug ();
}

Endpoint::~Endpoint ()
{
  /* Sessions made here must not call back into it. */
  std::vector<std::weak_ptr<ReaderSession> > sessions;
  for (const auto &p : posts_)
    sessions.push_back (p->session);
  for (const auto &kv : resources_)
    sessions.push_back (kv.second->session);
  alive_.reset ();
  for (const auto &w : sessions) {
    if (auto s = w.lock ()) {
      s->events = SessionEvents ();
      s->close ();
    }
  }
  for (const auto &p : posts_)
    g_object_set_data (G_OBJECT (p->msg), ENDPOINT_KEY, NULL);
  auto old_posts = std::move (posts_);
  old_posts.clear ();
  if (context_)
    g_main_context_unref (context_);
}

void
Endpoint::serve (SoupServerMessage *msg, const std::string &base, const std::string &id,
                 SessionFactory &factory)
{
  const char *method = soup_server_message_get_method (msg);
  cors (msg, true);
  if (id.empty ()) {
    if (!strcmp (method, "POST"))
      return post (msg, base, factory);
    if (!strcmp (method, "OPTIONS")) {
      std::vector<std::string> links = factory.links ();
      return preflight (msg, WHEP_METHODS, &links);
    }
    return method_not_allowed (msg, WHEP_ALLOW);
  }
  if (!strcmp (method, "OPTIONS")) {
    std::vector<std::string> links = factory.links ();
    return preflight (msg, WHEP_METHODS, &links);
  }
  if (strcmp (method, "PATCH") && strcmp (method, "DELETE"))
    return method_not_allowed (msg, WHEP_RESOURCE_ALLOW);
  auto it = resources_.find (id);
  auto res = it == resources_.end () || it->second->base != base ? nullptr : it->second;
  if (!strcmp (method, "DELETE")) {
    if (!res) {
      respond (msg, SOUP_STATUS_NOT_FOUND, "unknown session");
      return;
    }
    resources_.erase (it);
    close_session (res->session);
    GST_INFO ("WHEP session %s on %s deleted", id.c_str (), base.c_str ());
    respond (msg, SOUP_STATUS_OK, "session closed");
    return;
  }
  patch (msg, res);
}

void
Endpoint::patch (SoupServerMessage *msg, const std::shared_ptr<Resource> &res)
{
  auto session = res ? res->session.lock () : nullptr;
  if (!session || session->closed ()) {
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
  auto mids = res->mids;
  for (const FragCandidate &c : frag_candidates (frag, mids)) {
    /* add_candidate may end the session. */
    if (session->closed ())
      break;
    session->add_candidate (c.mline, c.candidate);
  }
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

void
Endpoint::post (SoupServerMessage *msg, const std::string &base, SessionFactory &factory)
{
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

  auto p = std::make_shared<Post> ();
  p->msg = (SoupServerMessage *)g_object_ref (msg);
  p->base = base;
  p->links = factory.links ();
  posts_.insert (p);
  g_object_set_data (G_OBJECT (msg), ENDPOINT_KEY, this);
  p->finished_id = g_signal_connect_data (
      msg, "finished", G_CALLBACK (on_post_finished), new WeakPost (p),
      [] (gpointer d, GClosure *) { free_weak_post (d); }, (GConnectFlags)0);

  auto res = std::make_shared<Resource> ();
  res->base = base;
  res->mids = sdp_mids (offer);

  WeakPost wp = p;
  std::weak_ptr<int> alive_w = alive_;
  SessionEvents ev;
  ev.on_description = [this, wp, alive_w] (const std::string &sdp) {
    auto q = wp.lock ();
    if (q && !alive_w.expired ())
      finish (q, SOUP_STATUS_CREATED, sdp);
  };
  ev.on_error = [this, wp, alive_w] (guint status, const std::string &reason) {
    auto q = wp.lock ();
    if (q && !alive_w.expired ())
      finish (q, status >= 400 && status <= 599 ? status : 500, reason);
  };
  ev.on_closed = [this, wp, res, alive_w] () {
    if (alive_w.expired ())
      return;
    if (!res->id.empty ()) {
      auto it = resources_.find (res->id);
      if (it != resources_.end () && it->second == res)
        resources_.erase (it);
    }
    if (auto q = wp.lock ())
      finish (q, SOUP_STATUS_SERVICE_UNAVAILABLE, "the session ended before its answer");
  };

  guint status = 0;
  std::string reason;
  auto session = factory.create_session (msg, offer, ev, status, reason);
  p->created = true;
  if (!session) {
    if (!p->have_outcome)
      finish (p, status ? status : 500, reason.empty () ? "cannot create a session" : reason);
    write (p);
    return;
  }
  p->id = res->id = session->id ();
  p->session = res->session = session;
  if (!session->closed ())
    resources_[res->id] = res;
  if (p->have_outcome) {
    write (p);
    return;
  }
  GST_INFO ("WHEP session %s on %s: waiting for the answer", p->id.c_str (), base.c_str ());
  p->timer = g_timeout_source_new_seconds (ANSWER_GRACE_S + factory.answer_wait_s ());
  g_source_set_callback (p->timer, on_post_timeout, new WeakPost (p), free_weak_post);
  g_source_attach (p->timer, context_);
  p->paused = true;
  soup_server_message_pause (msg);
  if (GSocket *sock = soup_server_message_get_socket (msg)) {
    p->watch = g_socket_create_source (sock, (GIOCondition)(G_IO_IN | G_IO_HUP | G_IO_ERR), NULL);
    g_source_set_callback (p->watch, G_SOURCE_FUNC (on_post_socket), new WeakPost (p),
                           free_weak_post);
    g_source_attach (p->watch, context_);
  }
}

/* Records the outcome of a POST; it is written at once unless create_session
 * has not returned yet (then post writes it). First outcome wins. */
void
Endpoint::finish (const std::shared_ptr<Post> &p, guint status, const std::string &body)
{
  if (p->done || p->have_outcome)
    return;
  p->have_outcome = true;
  p->status = status;
  p->body = body;
  if (p->created)
    write (p);
}

void
Endpoint::write (const std::shared_ptr<Post> &p)
{
  if (p->done || !p->have_outcome)
    return;
  p->done = true;
  Post::stop (p->watch);
  Post::stop (p->timer);
  SoupServerMessage *msg = p->msg;
  if (p->status == SOUP_STATUS_CREATED && !p->id.empty ()) {
    SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
    std::string location = p->base + "/" + p->id;
    soup_message_headers_replace (h, "Location", location.c_str ());
    for (const std::string &l : p->links)
      soup_message_headers_append (h, "Link", l.c_str ());
    soup_server_message_set_status (msg, SOUP_STATUS_CREATED, NULL);
    soup_server_message_set_response (msg, "application/sdp", SOUP_MEMORY_COPY, p->body.data (),
                                      p->body.size ());
    GST_INFO ("WHEP session %s on %s answered", p->id.c_str (), p->base.c_str ());
  } else {
    guint status = p->status == SOUP_STATUS_CREATED ? 500 : p->status;
    respond (msg, status, p->body);
    GST_INFO ("WHEP POST on %s failed: %u %s", p->base.c_str (), status, p->body.c_str ());
  }
  if (p->paused) {
    p->paused = false;
    soup_server_message_unpause (msg);
  }
}

void
Endpoint::client_gone (const std::shared_ptr<Post> &p)
{
  GST_INFO ("WHEP client on %s went away before the answer", p->base.c_str ());
  auto session = p->session;
  finish (p, SOUP_STATUS_SERVICE_UNAVAILABLE, "the client went away");
  close_session (session);
}

void
Endpoint::timed_out (const std::shared_ptr<Post> &p)
{
  if (p->done)
    return;
  auto session = p->session;
  finish (p, SOUP_STATUS_GATEWAY_TIMEOUT, "no answer in time");
  close_session (session);
}

void
Endpoint::forget (const std::shared_ptr<Post> &p)
{
  if (!p->done) {
    GST_INFO ("WHEP client on %s went away before the answer", p->base.c_str ());
    p->done = true;
    close_session (p->session);
  }
  /* Released once libsoup is done emitting "finished" (the Post owns this
   * handler and a ref on the message). */
  posts_.erase (p);
  GSource *idle = g_idle_source_new ();
  g_source_set_callback (
      idle, [] (gpointer) -> gboolean { return G_SOURCE_REMOVE; }, new std::shared_ptr<Post> (p),
      [] (gpointer d) { delete static_cast<std::shared_ptr<Post> *> (d); });
  g_source_attach (idle, context_);
  g_source_unref (idle);
}

} // namespace whep
} // namespace gw
