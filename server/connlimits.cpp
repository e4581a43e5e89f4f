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
}

ConnLimits::~ConnLimits ()
{
  g_signal_handler_disconnect (server_, started_id_);
  g_signal_handler_disconnect (server_, read_id_);
  for (auto &kv : conns_) {
    if (kv.second->timer)
      g_source_remove (kv.second->timer);
    g_object_weak_unref (G_OBJECT (kv.first), on_socket_gone, kv.second.get ());
  }
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
  if (!c) {
    /* A new connection. */
    auto conn = std::make_unique<Conn> ();
    conn->self = self;
    conn->sock = sock;
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
      if (self->waiting_refusals_ >= MAX_WAITING_REFUSALS) {
        /* Too many to even answer: close it now. */
        GST_DEBUG ("closing a connection from %s unanswered", conn->address.c_str ());
        g_socket_shutdown (sock, TRUE, TRUE, NULL);
        return;
      }
      self->waiting_refusals_++;
      GST_DEBUG ("connection from %s over the %s limit", conn->address.c_str (),
                 conn->refusal == SOUP_STATUS_SERVICE_UNAVAILABLE ? "global" : "per-address");
    } else {
      from_address++;
      self->admitted_++;
    }
    g_object_weak_ref (G_OBJECT (sock), on_socket_gone, conn.get ());
    c = conn.get ();
    self->conns_[sock] = std::move (conn);
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

void
ConnLimits::forget (Conn &c)
{
  if (c.timer)
    g_source_remove (c.timer);
  if (c.refusal) {
    waiting_refusals_--;
  } else {
    admitted_--;
    auto it = per_address_.find (c.address);
    if (it != per_address_.end () && --it->second == 0)
      per_address_.erase (it);
  }
}

void
ConnLimits::on_socket_gone (gpointer data, GObject *where_the_socket_was)
{
  auto *c = static_cast<Conn *> (data);
  ConnLimits *self = c->self;
  self->forget (*c);
  self->conns_.erase ((GSocket *)where_the_socket_was); /* frees c */
}

} // namespace http
} // namespace gw
