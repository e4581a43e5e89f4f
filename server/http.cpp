/* The gateway's HTTP layer: one SoupServer on the main context.
 *
 * Routing lives in one place, HttpCore::dispatch (so auth can be added there):
 *   GET  /                     index of the paths (HTML, api.cpp)
 *   GET  /metrics              Prometheus text (metrics.cpp)
 *   GET  /v1/paths[/NAME]      JSON API (api.cpp)
 *   GET  /v1/paths/NAME/sessions, /v1/sessions[/ID]
 *   DELETE /v1/sessions/ID     the sessions API (api.cpp)
 *   GET  /NAME                 301 to /NAME/
 *   GET  /NAME/                the player page
 *   *    /NAME/whep[/ID]       WHEP (POST, PATCH, DELETE, OPTIONS)
 *   GET  /NAME/ws              the websocket signalling (docs/websocket.md)
 *   GET  /NAME/snapshot.jpg    a JPEG of the kept keyframe (httpsnapshot.cpp)
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
#include "httpcore.h"

#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <string.h>

GST_DEBUG_CATEGORY (gw_http_debug);
#define GST_CAT_DEFAULT gw_http_debug

namespace gw {

using namespace http;

namespace {

constexpr const char *GET_ALLOW = "GET, HEAD";
constexpr const char *SESSION_ALLOW = "GET, HEAD, DELETE";
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

/* Whether the request carries credentials that @creds accept for @path
 * (NULL: the index, API and metrics); if not, sets the challenge for @realm
 * and says why in @why. */
bool
authorized (SoupServerMessage *msg, const Credentials &creds, const char *path,
            const std::string &realm, std::string &why)
{
  if (creds.open ())
    return true;
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  g_autofree gchar *token = NULL;
  g_autofree gchar *jwt = NULL;
  if (const char *query = g_uri_get_query (soup_server_message_get_uri (msg))) {
    GHashTable *params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL);
    if (params) {
      token = g_strdup ((const char *)g_hash_table_lookup (params, "token"));
      jwt = g_strdup ((const char *)g_hash_table_lookup (params, "jwt"));
      g_hash_table_unref (params);
    }
  }
  AuthRefusal refusal
      = authenticate (creds, header, token, jwt, path, g_get_real_time () / G_USEC_PER_SEC);
  if (!refusal)
    return true;
  why = refusal;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "WWW-Authenticate",
                                auth_challenge (creds, realm).c_str ());
  return false;
}

} // namespace

namespace http {

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

std::string
html_escape (const std::string &s)
{
  g_autofree gchar *e = g_markup_escape_text (s.c_str (), -1);
  return e;
}

std::string
remote_address (SoupServerMessage *msg)
{
  GSocketAddress *sa = soup_server_message_get_remote_address (msg);
  if (!sa || !G_IS_INET_SOCKET_ADDRESS (sa))
    return "";
  GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS (sa);
  g_autofree gchar *addr = g_inet_address_to_string (g_inet_socket_address_get_address (isa));
  std::string port = std::to_string (g_inet_socket_address_get_port (isa));
  if (g_inet_address_get_family (g_inet_socket_address_get_address (isa)) == G_SOCKET_FAMILY_IPV6)
    return std::string ("[") + addr + "]:" + port;
  return std::string (addr) + ":" + port;
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

} // namespace http

namespace {

using whep::cors;
using whep::method_not_allowed;

void
on_early (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
  auto *core = static_cast<HttpCore *> (user_data);
  if (core->limits && core->limits->refuse (msg))
    return;
  whep::limit_body (msg);
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
  std::string why;
  if (fixed_route && !authorized (msg, manager.server ().api, nullptr, "webrtc-gateway", why)) {
    respond (msg, SOUP_STATUS_UNAUTHORIZED, why);
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
  if (seg.size () == 4 && seg[0] == "v1" && seg[1] == "paths" && seg[3] == "sessions") {
    if (!good_name (seg[2])) {
      respond (msg, SOUP_STATUS_NOT_FOUND, "unknown path");
      return;
    }
    if (!is_get (method))
      return method_not_allowed (msg, GET_ALLOW);
    return serve_sessions (msg, &seg[2], nullptr);
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
  if (seg.size () == 2 && seg[0] == "v1" && seg[1] == "sessions") {
    if (!is_get (method))
      return method_not_allowed (msg, GET_ALLOW);
    return serve_sessions (msg, nullptr, nullptr);
  }
  if (seg.size () == 3 && seg[0] == "v1" && seg[1] == "sessions") {
    if (!good_id (seg[2])) {
      respond (msg, SOUP_STATUS_NOT_FOUND, "unknown session");
      return;
    }
    if (!is_get (method) && !is (method, "DELETE"))
      return method_not_allowed (msg, SESSION_ALLOW);
    return serve_sessions (msg, nullptr, &seg[2]);
  }

  /* Per-path routes: /NAME, /NAME/, /NAME/whep[/ID], /NAME/ws */
  const std::string &name = seg[0];
  auto path = good_name (name) ? manager.find_path (name) : nullptr;
  if (!path) {
    respond (msg, SOUP_STATUS_NOT_FOUND, "unknown path");
    return;
  }
  if (!is (method, "OPTIONS") && !authorized (msg, path->conf ().read, name.c_str (), name, why)) {
    cors (msg, true);
    respond (msg, SOUP_STATUS_UNAUTHORIZED, why);
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
  if (seg.size () == 2 && seg[1] == "whep")
    return serve_whep (msg, name, "");
  if (seg.size () == 3 && seg[1] == "whep" && good_id (seg[2]))
    return serve_whep (msg, name, seg[2]);
  if (seg.size () == 2 && seg[1] == "snapshot.jpg") {
    if (!is_get (method))
      return method_not_allowed (msg, GET_ALLOW);
    return serve_snapshot (msg, name);
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

namespace {

/* Sessions for /NAME/whep: the manager's, on path NAME. */
class PathSessions : public whep::SessionFactory
{
public:
  PathSessions (Manager &manager, const std::string &name) : manager_ (manager), name_ (name) {}

  std::shared_ptr<ReaderSession>
  create_session (SoupServerMessage *msg, const std::string &offer, const SessionEvents &events,
                  guint &status, std::string &reason) override
  {
    return manager_.create_session (name_, SessionRole::Answerer, offer, remote_address (msg),
                                    events, status, reason);
  }
  guint
  answer_wait_s () override
  {
    auto path = manager_.find_path (name_);
    return path ? path->conf ().start_timeout : 0;
  }
  std::vector<std::string>
  links () override
  {
    const ServerConfig &conf = manager_.server ();
    return whep::ice_links (conf.stun_servers, conf.turn_servers);
  }

private:
  Manager &manager_;
  const std::string &name_;
};

} // namespace

void
HttpCore::serve_whep (SoupServerMessage *msg, const std::string &name, const std::string &id)
{
  PathSessions sessions (manager, name);
  whep_endpoint.serve (msg, "/" + name + "/whep", id, sessions);
}

/* ------------------------------------------------------------------ server */

HttpCore::~HttpCore ()
{
  /* Sessions this server made must not call back into it (the WHEP ones:
   * the endpoint's destructor, after this). */
  std::vector<std::string> ids;
  for (const auto &kv : ws)
    if (!kv.second->id.empty ())
      ids.push_back (kv.second->id);
  alive.reset ();
  for (const std::string &id : ids) {
    if (auto s = manager.find_session (id))
      s->events = SessionEvents ();
    manager.close_session (id);
  }
  for (const auto &kv : ws) {
    g_object_set_data (G_OBJECT (kv.first), "gw-impl", NULL);
    if (soup_websocket_connection_get_state (kv.first) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (kv.first, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                       "server shutting down");
  }
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