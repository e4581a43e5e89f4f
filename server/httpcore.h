/* Private to the HTTP layer (http.cpp, httpws.cpp): the server's state and
 * the pure helpers, declared here so both files and the tests can use them.
 * Not part of the gateway's API: use http.h. */
#pragma once

#include "connlimits.h"
#include "gwwhep.h"
#include "http.h"
#include "snapshot.h"
#include "wsproto.h"

#include <libsoup/soup.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN (gw_http_debug);

namespace gw {
namespace http {

/* The WHEP helpers (gwwhep.h), by the names this layer has always used. */
using whep::MAX_BODY_SIZE;
using whep::respond;
using whep::split_path;

/* A path name a request may name: valid_path_name() and no "..". */
bool good_name (const std::string &name);
/* A session id a request may name. */
bool good_id (const std::string &id);

/* The client's address and port of @msg ("192.0.2.7:51234",
 * "[2001:db8::7]:51234"), or "" if unknown. */
std::string remote_address (SoupServerMessage *msg);

/* A websocket close reason: at most 123 bytes, cut on a UTF-8 boundary. */
std::string close_reason (const std::string &reason);

/* Keeps @obj alive until the main loop is idle again, so an object can be
 * let go from inside a signal emission of something it owns. */
template <typename T>
void
defer_release (std::shared_ptr<T> obj)
{
  g_idle_add_full (
      G_PRIORITY_DEFAULT, [] (gpointer) -> gboolean { return G_SOURCE_REMOVE; },
      new std::shared_ptr<T> (std::move (obj)),
      [] (gpointer d) { delete static_cast<std::shared_ptr<T> *> (d); });
}

} // namespace http

/* One websocket client and its Offerer session. */
struct WsClient
{
  SoupWebsocketConnection *conn = nullptr; /* ref held */
  std::string path, id;
  bool offer_sent = false;
  bool answered = false;
  bool closing = false;
  std::vector<wsproto::Message> early_candidates; /* before the offer */
  std::vector<gulong> handlers;

  ~WsClient ()
  {
    for (gulong h : handlers)
      g_signal_handler_disconnect (conn, h);
    g_clear_object (&conn);
  }
};

/* The server's state; HttpServer::Impl is this (a named type so that the
 * libsoup callbacks of http.cpp and httpws.cpp can use it). */
struct HttpCore
{
  Manager &manager;
  SoupServer *server = nullptr;
  guint bound_port = 0;
  std::shared_ptr<int> alive = std::make_shared<int> (0);
  whep::Endpoint whep_endpoint; /* every path's /NAME/whep */
  std::map<SoupWebsocketConnection *, std::shared_ptr<WsClient> > ws;
  std::unique_ptr<http::ConnLimits> limits;
  Snapshots snapshots; /* every path's /NAME/snapshot.jpg */

  explicit HttpCore (Manager &m) : manager (m) {}
  ~HttpCore ();
  HttpCore (const HttpCore &) = delete;
  HttpCore &operator= (const HttpCore &) = delete;

  void dispatch (SoupServerMessage *msg, const char *raw_path);

  /* plain routes */
  void serve_index (SoupServerMessage *msg);
  void serve_page (SoupServerMessage *msg, const std::string &name);
  void serve_api (SoupServerMessage *msg, const std::string *name);
  /* GET /v1/sessions (@path and @id null), /v1/paths/NAME/sessions (@path),
   * GET and DELETE /v1/sessions/ID (@id). */
  void serve_sessions (SoupServerMessage *msg, const std::string *path, const std::string *id);
  void serve_metrics (SoupServerMessage *msg);

  /* GET /NAME/snapshot.jpg (httpsnapshot.cpp) */
  void serve_snapshot (SoupServerMessage *msg, const std::string &name);

  /* WHEP: /NAME/whep (@id empty) or /NAME/whep/ID */
  void serve_whep (SoupServerMessage *msg, const std::string &name, const std::string &id);

  /* websocket */
  void ws_upgrade (SoupServerMessage *msg, const std::string &name);
  void ws_accept (SoupWebsocketConnection *conn, const std::string &name,
                  const std::string &remote);
  void ws_message (WsClient *c, SoupWebsocketDataType type, GBytes *data);
  void ws_send (WsClient *c, const wsproto::Message &m);
  void ws_fail (WsClient *c, guint status, const std::string &reason, gushort code);
  void ws_closed (WsClient *c);
  std::shared_ptr<WsClient> ws_find (WsClient *c);
};

} // namespace gw
