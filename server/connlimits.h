/* Connection limits of the gateway's HTTP server, so that one client opening
 * many connections cannot take it down (docs/security.md):
 *
 * - every TCP connection is counted from the moment it is accepted until its
 *   socket is gone: idle keep-alive connections, requests waiting for an
 *   answer and websockets count while they are open;
 * - a connection beyond max-connections-per-address from one address gets
 *   429 Too Many Requests, beyond max-connections in all 503 Service
 *   Unavailable, both with Retry-After, on its first request; then it is
 *   closed. One that sends no request is closed after a short grace;
 * - a connection that takes longer than request-timeout seconds to send a
 *   complete request (headers and body), or stays idle that long between
 *   keep-alive requests, is closed (slow and idle clients hold nothing).
 *
 * libsoup 3 emits SoupServer::request-started as soon as it accepts a
 * connection (before any byte is read) and, on a keep-alive connection, when
 * the first bytes of each next request arrive; request-read once a request
 * is read in full and request-finished once it is answered. A connection is
 * known by its GSocket (a reference is held: libsoup 3.2 leaks accepted
 * GSockets, later versions free them). It ends when a message of it emits
 * "disconnected", when the websocket that took its stream is finalized, or,
 * for a keep-alive connection between requests, when its peer closes it
 * (libsoup 3.2 then leaves the descriptor open: it is closed here). A sweep
 * every second lets go of any connection whose socket was closed otherwise.
 * Runs on the main context. */
#pragma once

#include "gwwhep.h"
#include "conf.h"

#include <libsoup/soup.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gw {
namespace http {

class ConnLimits
{
public:
  /* @conf is read at each new connection (a reload applies new limits to
   * connections that arrive afterwards). */
  ConnLimits (SoupServer *server, const ServerConfig &conf);
  ~ConnLimits ();
  ConnLimits (const ConnLimits &) = delete;
  ConnLimits &operator= (const ConnLimits &) = delete;

  /* For the early handler: if @msg's connection is over a limit, answers it
   * (429 or 503, Retry-After, Connection: close) and returns true. */
  bool refuse (SoupServerMessage *msg);

  /* A websocket upgrade: call before soup_server_message_steal_connection
   * (which emits "disconnected"), then hand_over_to() with the object that
   * owns the stream from then on (nullptr if none): the connection counts
   * until that object is finalized. */
  GSocket *hand_over (SoupServerMessage *msg);
  void hand_over_to (GSocket *sock, GObject *owner);

  guint
  open () const
  {
    return admitted_;
  }
  guint64
  refused_per_address () const
  {
    return refused_addr_;
  }
  guint64
  refused_global () const
  {
    return refused_global_;
  }
  guint64
  timed_out () const
  {
    return timed_out_;
  }

  /* Seconds a refused connection has to send its request before it is
   * closed without an answer; at most this many wait at once. */
  static constexpr guint REFUSE_GRACE_S = 2;
  static constexpr guint MAX_WAITING_REFUSALS = 256;
  static constexpr guint RETRY_AFTER_S = 5;

private:
  struct Conn
  {
    ConnLimits *self = nullptr;
    GSocket *sock = nullptr; /* ref held */
    std::string address;
    guint refusal = 0; /* 0: admitted, else 429 or 503 */
    guint timer = 0;
    bool handed_over = false;
    GSource *watch = nullptr; /* while idle between keep-alive requests */
    GObject *owner = nullptr; /* weak */
  };
  struct Watch
  {
    ConnLimits *self;
    std::weak_ptr<int> alive;
    GSocket *sock;
  };

  static void on_request_started (SoupServer *, SoupServerMessage *msg, gpointer self);
  static void on_request_read (SoupServer *, SoupServerMessage *msg, gpointer self);
  static void on_request_done (SoupServer *, SoupServerMessage *msg, gpointer self);
  static gboolean sweep (gpointer self);
  static gboolean on_idle_readable (GSocket *sock, GIOCondition, gpointer conn);
  static void on_disconnected (SoupServerMessage *msg, gpointer watch);
  static void on_owner_gone (gpointer conn, GObject *where_the_owner_was);
  static gboolean on_timeout (gpointer conn);

  Conn *find (SoupServerMessage *msg);
  void arm (Conn &c, guint seconds);
  void forget (GSocket *sock);

  std::shared_ptr<int> alive_ = std::make_shared<int> (0);
  SoupServer *server_;
  const ServerConfig &conf_;
  gulong started_id_ = 0, read_id_ = 0, finished_id_ = 0, aborted_id_ = 0;
  guint sweep_ = 0;
  std::map<GSocket *, std::unique_ptr<Conn> > conns_;
  std::map<std::string, guint> per_address_; /* admitted connections */
  guint admitted_ = 0, waiting_refusals_ = 0;
  guint64 refused_addr_ = 0, refused_global_ = 0, timed_out_ = 0;
};

/* A one-byte peek at a connection's socket (gwwhep.h). */
using whep::peek_peer;
using whep::PeerPeek;

} // namespace http
} // namespace gw
