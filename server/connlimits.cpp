#include "connlimits.h"

#include "httpcore.h"

#define GST_CAT_DEFAULT gw_http_debug

namespace gw {
namespace http {

/* RFC 6585; libsoup 3.2 has no name for it. */
constexpr guint STATUS_TOO_MANY_REQUESTS = 429;

ConnLimits::ConnLimits (SoupServer *server, const ServerConfig &conf)
    : server_ (server), conf_ (conf)
{
  started_id_ = g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), this);
  read_id_ = g_signal_connect (server, "request-read", G_CALLBACK (on_request_read), this);
  finished_id_ = g_signal_connect (server, "request-finished", G_CALLBACK (on_request_done), this);
  aborted_id_ = g_signal_connect (server, "request-aborted", G_CALLBACK (on_request_done), this);
}

ConnLimits::~ConnLimits ()
{
  g_signal_handler_disconnect (server_, started_id_);
  g_signal_handler_disconnect (server_, read_id_);
  g_signal_handler_disconnect (server_, finished_id_);
  g_signal_handler_disconnect (server_, aborted_id_);
  alive_.reset ();
  if (sweep_)
    g_source_remove (sweep_);
  while (!conns_.empty ())
    forget (conns_.begin ()->first);
}

ConnLimits::Conn *
ConnLimits::find (SoupServerMessage *msg)
{
  GSocket *sock = soup_server_message_get_socket (msg);
  auto it = sock ? conns_.find (sock) : conns_.end ();
  return it == conns_.end () ? nullptr : it->second.get ();
}

void
ConnLimits::arm (Conn &c, guint seconds)
{
  if (c.timer)
    g_source_remove (c.timer);
  c.timer = seconds ? g_timeout_add_seconds (seconds, on_timeout, &c) : 0;
}

void
ConnLimits::on_request_started (SoupServer *, SoupServerMessage *msg, gpointer data)
{
  auto *self = static_cast<ConnLimits *> (data);
  GSocket *sock = soup_server_message_get_socket (msg);
  if (!sock)
    return;
  Conn *c = self->find (msg);
  if (c && c->watch) {
    g_source_destroy (c->watch);
    g_source_unref (c->watch);
    c->watch = nullptr;
  }
  bool drop = false;
  if (!c) {
    /* A new connection. */
    auto conn = std::make_unique<Conn> ();
    conn->self = self;
    conn->sock = (GSocket *)g_object_ref (sock);
    const char *host = soup_server_message_get_remote_host (msg);
    conn->address = host ? host : "";
    guint &from_address = self->per_address_[conn->address];
    if (self->admitted_ >= self->conf_.max_connections)
      conn->refusal = SOUP_STATUS_SERVICE_UNAVAILABLE;
    else if (from_address >= self->conf_.max_connections_per_address)
      conn->refusal = STATUS_TOO_MANY_REQUESTS;
    if (conn->refusal) {
      if (from_address == 0)
        self->per_address_.erase (conn->address);
      if (conn->refusal == SOUP_STATUS_SERVICE_UNAVAILABLE)
        self->refused_global_++;
      else
        self->refused_addr_++;
      /* Too many to even answer: closed at once (still known, so that a
       * request read before the end is refused too). */
      drop = self->waiting_refusals_ >= MAX_WAITING_REFUSALS;
      self->waiting_refusals_++;
      GST_DEBUG ("connection from %s over the %s limit", conn->address.c_str (),
                 conn->refusal == SOUP_STATUS_SERVICE_UNAVAILABLE ? "global" : "per-address");
    } else {
      from_address++;
      self->admitted_++;
    }
    c = conn.get ();
    self->conns_[sock] = std::move (conn);
    if (!self->sweep_)
      self->sweep_ = g_timeout_add_seconds (1, sweep, self);
  }
  /* After a disconnect the message no longer knows its socket. */
  g_signal_connect_data (
      msg, "disconnected", G_CALLBACK (on_disconnected), new Watch{ self, self->alive_, sock },
      [] (gpointer d, GClosure *) { delete static_cast<Watch *> (d); }, (GConnectFlags)0);
  if (drop) {
    GST_DEBUG ("closing a connection from %s unanswered", c->address.c_str ());
    g_socket_shutdown (sock, TRUE, TRUE, NULL);
    return;
  }
  self->arm (*c, c->refusal ? REFUSE_GRACE_S : self->conf_.request_timeout);
}

void
ConnLimits::on_request_read (SoupServer *, SoupServerMessage *msg, gpointer data)
{
  auto *self = static_cast<ConnLimits *> (data);
  if (Conn *c = self->find (msg))
    self->arm (*c, 0);
}

bool
ConnLimits::refuse (SoupServerMessage *msg)
{
  Conn *c = find (msg);
  if (!c || !c->refusal)
    return false;
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Retry-After", std::to_string (RETRY_AFTER_S).c_str ());
  soup_message_headers_replace (h, "Connection", "close");
  respond (msg, c->refusal,
           c->refusal == STATUS_TOO_MANY_REQUESTS
               ? "too many connections from your address; close some and retry"
               : "the server has too many connections; retry later");
  if (c->refusal == STATUS_TOO_MANY_REQUESTS)
    soup_server_message_set_status (msg, c->refusal, "Too Many Requests");
  return true;
}

gboolean
ConnLimits::on_timeout (gpointer data)
{
  auto *c = static_cast<Conn *> (data);
  c->timer = 0;
  if (!c->refusal) {
    c->self->timed_out_++;
    GST_INFO ("closing a connection from %s: no complete request in %u s", c->address.c_str (),
              c->self->conf_.request_timeout);
  }
  /* libsoup reads the end of the stream and lets the connection go. */
  g_socket_shutdown (c->sock, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

/* A keep-alive connection waits for its next request: libsoup emits
 * request-started for it only when its first bytes arrive. */
void
ConnLimits::on_request_done (SoupServer *, SoupServerMessage *msg, gpointer data)
{
  auto *self = static_cast<ConnLimits *> (data);
  if (Conn *c = self->find (msg)) {
    if (!c->handed_over) {
      self->arm (*c, c->refusal ? REFUSE_GRACE_S : self->conf_.request_timeout);
      if (!c->watch) {
        c->watch
            = g_socket_create_source (c->sock, (GIOCondition)(G_IO_IN | G_IO_HUP | G_IO_ERR), NULL);
        g_source_set_callback (c->watch, G_SOURCE_FUNC (on_idle_readable), c, NULL);
        g_source_attach (c->watch, NULL);
      }
    }
  }
}

/* Whether the peer of an idle connection has closed it (or reset it). */
static bool
peer_gone (GSocket *sock)
{
  return g_socket_condition_check (sock, (GIOCondition)(G_IO_IN | G_IO_HUP | G_IO_ERR))
         && peek_peer (sock) == PeerPeek::CLOSED;
}

/* An idle keep-alive connection is readable: the next request, or its end.
 * libsoup 3.2 reads the end of a keep-alive connection between requests but
 * never closes it (its descriptor would stay open for good), so it is closed
 * here. libsoup reads it no more, and a closed GSocket refuses any use. */
gboolean
ConnLimits::on_idle_readable (GSocket *sock, GIOCondition, gpointer data)
{
  auto *c = static_cast<Conn *> (data);
  ConnLimits *self = c->self;
  g_source_unref (c->watch);
  c->watch = nullptr;
  if (peer_gone (sock)) {
    GST_DEBUG ("closing an idle connection from %s that its peer closed", c->address.c_str ());
    g_socket_close (sock, NULL);
    self->forget (sock);
  }
  return G_SOURCE_REMOVE;
}

/* A safety net: every second, connections whose socket was closed without a
 * signal we saw (a websocket's stream closed while its owner lives on) are
 * let go. */
gboolean
ConnLimits::sweep (gpointer data)
{
  auto *self = static_cast<ConnLimits *> (data);
  std::vector<GSocket *> closed;
  for (auto &kv : self->conns_) {
    if (g_socket_is_closed (kv.first))
      closed.push_back (kv.first);
  }
  for (GSocket *s : closed)
    self->forget (s);
  if (!self->conns_.empty ())
    return G_SOURCE_CONTINUE;
  self->sweep_ = 0;
  return G_SOURCE_REMOVE;
}

void
ConnLimits::forget (GSocket *sock)
{
  auto it = conns_.find (sock);
  if (it == conns_.end ())
    return;
  Conn &c = *it->second;
  if (c.timer)
    g_source_remove (c.timer);
  if (c.watch) {
    g_source_destroy (c.watch);
    g_source_unref (c.watch);
  }
  if (c.owner)
    g_object_weak_unref (c.owner, on_owner_gone, &c);
  if (c.refusal) {
    waiting_refusals_--;
  } else {
    admitted_--;
    auto a = per_address_.find (c.address);
    if (a != per_address_.end () && --a->second == 0)
      per_address_.erase (a);
  }
  std::unique_ptr<Conn> gone = std::move (it->second);
  conns_.erase (it);
  g_object_unref (gone->sock);
}

void
ConnLimits::on_disconnected (SoupServerMessage *msg, gpointer data)
{
  auto *w = static_cast<Watch *> (data);
  if (w->alive.expired ())
    return;
  auto it = w->self->conns_.find (w->sock);
  if (it != w->self->conns_.end () && !it->second->handed_over)
    w->self->forget (w->sock);
}

GSocket *
ConnLimits::hand_over (SoupServerMessage *msg)
{
  Conn *c = find (msg);
  if (!c)
    return nullptr;
  c->handed_over = true;
  arm (*c, 0);
  return c->sock;
}

void
ConnLimits::hand_over_to (GSocket *sock, GObject *owner)
{
  auto it = sock ? conns_.find (sock) : conns_.end ();
  if (it == conns_.end ())
    return;
  if (!owner) {
    forget (sock);
    return;
  }
  it->second->owner = owner;
  g_object_weak_ref (owner, on_owner_gone, it->second.get ());
}

void
ConnLimits::on_owner_gone (gpointer data, GObject *)
{
  auto *c = static_cast<Conn *> (data);
  c->owner = nullptr;
  c->self->forget (c->sock);
}

} // namespace http
} // namespace gw
