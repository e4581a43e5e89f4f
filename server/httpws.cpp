/* The websocket signalling adapter of the HTTP layer (docs/websocket.md):
 * one Offerer session per socket, messages coded by wsproto. Routed from
 * HttpCore::dispatch (http.cpp) for GET /NAME/ws.
 *
 * The upgrade is done with soup_websocket_server_process_handshake and
 * soup_server_message_steal_connection rather than
 * soup_server_add_websocket_handler: a libsoup websocket handler shares its
 * path's normal handler and tries a handshake on every request that handler
 * leaves without a status, which would break the paused WHEP POSTs (one
 * handler serves every path since path names are dynamic). */
#include "httpcore.h"

#define GST_CAT_DEFAULT gw_http_debug

namespace gw {

using namespace http;

namespace {

constexpr guint WS_KEEPALIVE_S = 15;

struct UpgradeData
{
  HttpCore *impl;
  std::weak_ptr<int> alive;
  std::string name;
  std::string remote;
};

void
on_ws_wrote_informational (SoupServerMessage *msg, gpointer user_data)
{
  auto *d = static_cast<UpgradeData *> (user_data);
  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS
      || d->alive.expired ())
    return;
  g_object_ref (msg);
  /* The connection stays counted while the websocket is open. */
  GSocket *sock = d->impl->limits ? d->impl->limits->hand_over (msg) : nullptr;
  GIOStream *stream = soup_server_message_steal_connection (msg);
  SoupWebsocketConnection *owner = nullptr;
  if (stream) {
    SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
    SoupWebsocketConnection *conn = soup_websocket_connection_new (
        stream, soup_server_message_get_uri (msg), SOUP_WEBSOCKET_CONNECTION_SERVER,
        soup_message_headers_get_one (req, "Origin"), NULL, NULL);
    g_object_unref (stream);
    owner = conn;
    if (d->impl->limits)
      d->impl->limits->hand_over_to (sock, G_OBJECT (conn));
    d->impl->ws_accept (conn, d->name, d->remote);
    g_object_unref (conn);
  }
  if (!owner && d->impl->limits)
    d->impl->limits->hand_over_to (sock, nullptr);
  g_object_unref (msg);
}

void
on_ws_message (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
  auto *c = static_cast<WsClient *> (user_data);
  auto *impl = static_cast<HttpCore *> (g_object_get_data (G_OBJECT (conn), "gw-impl"));
  if (impl)
    impl->ws_message (c, (SoupWebsocketDataType)type, message);
}

void
on_ws_closed (SoupWebsocketConnection *conn, gpointer user_data)
{
  auto *impl = static_cast<HttpCore *> (g_object_get_data (G_OBJECT (conn), "gw-impl"));
  if (impl)
    impl->ws_closed (static_cast<WsClient *> (user_data));
}

} // namespace

void
HttpCore::ws_upgrade (SoupServerMessage *msg, const std::string &name)
{
  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL)) {
    /* libsoup set 400 (or 403) with its reason; give it a text body. */
    if (soup_server_message_get_status (msg) == 0)
      respond (msg, SOUP_STATUS_BAD_REQUEST, "not a websocket handshake");
    else
      respond (msg, soup_server_message_get_status (msg),
               "websocket handshake expected (see docs/websocket.md)");
    return;
  }
  auto *d = new UpgradeData{ this, alive, name, remote_address (msg) };
  g_signal_connect_data (
      msg, "wrote-informational", G_CALLBACK (on_ws_wrote_informational), d,
      [] (gpointer data, GClosure *) { delete static_cast<UpgradeData *> (data); },
      (GConnectFlags)0);
}

void
HttpCore::ws_accept (SoupWebsocketConnection *conn, const std::string &name,
                     const std::string &remote)
{
  auto c = std::make_shared<WsClient> ();
  c->conn = (SoupWebsocketConnection *)g_object_ref (conn);
  c->path = name;
  ws[conn] = c;
  g_object_set_data (G_OBJECT (conn), "gw-impl", this);
  /* Bigger than the protocol's limit, so an oversized frame gets a proper
   * error message (libsoup itself would close with "too big"). */
  soup_websocket_connection_set_max_incoming_payload_size (conn, 4 * wsproto::MAX_FRAME_SIZE);
  soup_websocket_connection_set_keepalive_interval (conn, WS_KEEPALIVE_S);
  c->handlers.push_back (g_signal_connect (conn, "message", G_CALLBACK (on_ws_message), c.get ()));
  c->handlers.push_back (g_signal_connect (conn, "closed", G_CALLBACK (on_ws_closed), c.get ()));

  std::weak_ptr<WsClient> w = c;
  std::weak_ptr<int> alive_w = alive;
  SessionEvents ev;
  ev.on_description = [this, w, alive_w] (const std::string &sdp) {
    auto cl = w.lock ();
    if (!cl || alive_w.expired () || cl->closing || cl->offer_sent)
      return;
    cl->offer_sent = true;
    ws_send (cl.get (), wsproto::Message::offer (sdp));
    for (const auto &m : cl->early_candidates)
      ws_send (cl.get (), m);
    cl->early_candidates.clear ();
  };
  ev.on_candidate = [this, w, alive_w] (guint mline, const std::string &cand) {
    auto cl = w.lock ();
    if (!cl || alive_w.expired () || cl->closing)
      return;
    std::string text = g_str_has_prefix (cand.c_str (), "a=") ? cand.substr (2) : cand;
    auto m = wsproto::Message::make_candidate (mline, text);
    if (cl->offer_sent)
      ws_send (cl.get (), m);
    else if (cl->early_candidates.size () < 256)
      cl->early_candidates.push_back (m);
  };
  ev.on_state = [this, w, alive_w] (const std::string &state) {
    auto cl = w.lock ();
    if (cl && !alive_w.expired () && !cl->closing)
      ws_send (cl.get (), wsproto::Message::make_state (state));
  };
  ev.on_error = [this, w, alive_w] (guint status, const std::string &reason) {
    auto cl = w.lock ();
    if (!cl || alive_w.expired () || cl->closing)
      return;
    gushort code = status == 503   ? 1013 /* try again later */
                   : status >= 500 ? SOUP_WEBSOCKET_CLOSE_SERVER_ERROR
                                   : SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION;
    ws_fail (cl.get (), status, reason, code);
  };
  ev.on_closed = [this, w, alive_w] () {
    auto cl = w.lock ();
    if (!cl || alive_w.expired () || cl->closing)
      return;
    cl->closing = true;
    if (soup_websocket_connection_get_state (cl->conn) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (cl->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, "session closed");
  };

  guint status = 0;
  std::string reason;
  auto session
      = manager.create_session (name, SessionRole::Offerer, "", remote, ev, status, reason);
  if (!session) {
    if (!c->closing) {
      gushort code = status == 503   ? 1013
                     : status >= 500 ? SOUP_WEBSOCKET_CLOSE_SERVER_ERROR
                                     : SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION;
      ws_fail (c.get (), status ? status : 500,
               reason.empty () ? "cannot create a session" : reason, code);
    }
    return;
  }
  c->id = session->id ();
  GST_INFO ("websocket session %s on %s", c->id.c_str (), name.c_str ());
  /* The session may have ended while being created. */
  if (c->closing || session->closed ())
    manager.close_session (c->id);
}

void
HttpCore::ws_send (WsClient *c, const wsproto::Message &m)
{
  if (soup_websocket_connection_get_state (c->conn) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  std::string text = wsproto::serialise (m);
  soup_websocket_connection_send_text (c->conn, text.c_str ());
}

/* Sends an error message, closes the socket with @code and the session. */
void
HttpCore::ws_fail (WsClient *c, guint status, const std::string &reason, gushort code)
{
  if (c->closing)
    return;
  GST_INFO ("websocket on %s: %u %s", c->path.c_str (), status, reason.c_str ());
  ws_send (c, wsproto::Message::error (status, reason));
  c->closing = true;
  if (soup_websocket_connection_get_state (c->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (c->conn, code, close_reason (reason).c_str ());
  if (!c->id.empty ())
    manager.close_session (c->id);
}

void
HttpCore::ws_message (WsClient *c, SoupWebsocketDataType type, GBytes *data)
{
  if (c->closing)
    return;
  auto keep = ws_find (c); /* c stays valid whatever the session does */
  if (!keep)
    return;
  const gushort policy = SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION;
  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    return ws_fail (c, 400, "binary frames are not part of the protocol", policy);
  gsize len = 0;
  const char *text = (const char *)g_bytes_get_data (data, &len);
  wsproto::Message m;
  std::string error;
  if (!wsproto::parse (text, len, m, error))
    return ws_fail (c, 400, error, policy);

  auto session = c->id.empty () ? nullptr : manager.find_session (c->id);
  switch (m.type) {
  case wsproto::Type::Answer: {
    if (!c->offer_sent)
      return ws_fail (c, 400, "answer before the offer", policy);
    if (c->answered)
      return ws_fail (c, 400, "second answer", policy);
    c->answered = true;
    if (!session || session->closed ())
      return ws_fail (c, 410, "the session has ended", SOUP_WEBSOCKET_CLOSE_NORMAL);
    std::string reason;
    if (!session->set_answer (m.sdp, reason))
      return ws_fail (c, 400, reason.empty () ? "the answer was refused" : reason, policy);
    session->set_remote_answer (m.sdp);
    break;
  }
  case wsproto::Type::Candidate:
    if (!c->offer_sent)
      return ws_fail (c, 400, "candidate before the offer", policy);
    if (session && !session->closed ())
      session->add_candidate (m.mline, m.candidate);
    break;
  case wsproto::Type::Close:
    c->closing = true;
    soup_websocket_connection_close (c->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, "closed by client");
    if (!c->id.empty ())
      manager.close_session (c->id);
    break;
  case wsproto::Type::Offer:
  case wsproto::Type::State:
  case wsproto::Type::Error:
    return ws_fail (c, 400,
                    std::string ("\"") + wsproto::type_name (m.type) + "\" is a server message",
                    policy);
  }
}

std::shared_ptr<WsClient>
HttpCore::ws_find (WsClient *c)
{
  auto it = ws.find (c->conn);
  return it != ws.end () && it->second.get () == c ? it->second : nullptr;
}

void
HttpCore::ws_closed (WsClient *c)
{
  auto keep = ws_find (c);
  if (!keep)
    return;
  c->closing = true;
  GST_INFO ("websocket on %s closed (code %u)", c->path.c_str (),
            soup_websocket_connection_get_close_code (c->conn));
  ws.erase (c->conn);
  if (!c->id.empty ())
    manager.close_session (c->id);
  /* Drop it (and its signal handlers, and the connection) once libsoup is
   * done emitting "closed". */
  defer_release (keep);
}

} // namespace gw
