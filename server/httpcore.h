/* Private to the HTTP layer (http.cpp, httpws.cpp): the server's state and
 * the pure helpers, declared here so both files and the tests can use them.
 * Not part of the gateway's API: use http.h. */
#pragma once

#include "connlimits.h"
#include "http.h"
#include "wsproto.h"

#include <libsoup/soup.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN (gw_http_debug);

namespace gw {
namespace http {

/* Largest request body, in bytes (more: 413). */
constexpr goffset MAX_BODY_SIZE = 64 * 1024;

/* Splits a raw (percent-encoded) request path into decoded segments.
 * "/" -> {""}, "/a/" -> {"a", ""}, "/a/b" -> {"a", "b"}. False if it does
 * not start with '/', or a segment has a bad escape or an encoded '/'. */
bool split_path (const char *raw, std::vector<std::string> &out);
/* A path name a request may name: valid_path_name() and no "..". */
bool good_name (const std::string &name);
/* A session id a request may name. */
bool good_id (const std::string &id);

/* RFC 9725 Link header values for the configured ICE servers:
 * <stun:host:port>; rel="ice-server", plus username, credential and
 * credential-type="password" for TURN. */
std::vector<std::string> ice_links (const ServerConfig &conf);

/* The a=mid of each m-line of @sdp, in order ("" when an m-line has none). */
std::vector<std::string> sdp_mids (const std::string &sdp);

struct FragCandidate
{
  guint mline;
  std::string candidate; /* "candidate:..." or "" (end of candidates) */
};

/* The candidates of an RFC 8840 trickle-ICE SDP fragment. The m-line index
 * of each is found from the preceding a=mid: (looked up in @mids, the
 * offer's, else taken as a number), else the order of the m= lines, else 0. */
std::vector<FragCandidate> frag_candidates (const std::string &frag,
                                            const std::vector<std::string> &mids);

/* Whether @frag is a trickle-ICE fragment we can use: only SDP lines
 * ("x=..."), every a=candidate well formed (wsproto::check_candidate_line),
 * and at least one a=candidate or a=end-of-candidates. On failure sets
 * @error to a short reason naming the line. */
bool check_frag (const std::string &frag, std::string &error);

/* A websocket close reason: at most 123 bytes, cut on a UTF-8 boundary. */
std::string close_reason (const std::string &reason);

/* Sets @status and a short text/plain body. */
void respond (SoupServerMessage *msg, guint status, const std::string &reason);

/* Allows any origin; with @expose, lets scripts read Location and Link. */
void cors (SoupServerMessage *msg, bool expose);

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

/* A paused WHEP POST waiting for its session's answer. */
struct WhepPost
{
  SoupServerMessage *msg = nullptr; /* ref held */
  std::string path, id;
  bool created = false; /* create_session returned */
  bool paused = false;
  bool done = false;         /* a response was set */
  bool have_outcome = false; /* an outcome arrived before create_session returned */
  guint status = 0;
  std::string body; /* the answer (201) or the reason */
  gulong finished_id = 0;
  guint timer = 0;
  GSource *watch = nullptr; /* the client's socket, while paused */

  void
  stop_watch ()
  {
    if (watch) {
      g_source_destroy (watch);
      g_source_unref (watch);
      watch = nullptr;
    }
  }

  ~WhepPost ()
  {
    stop_watch ();
    if (timer)
      g_source_remove (timer);
    if (msg && finished_id)
      g_signal_handler_disconnect (msg, finished_id);
    g_clear_object (&msg);
  }
};

/* A WHEP session resource (/NAME/whep/ID). */
struct WhepResource
{
  std::string id, path;
  std::vector<std::string> mids; /* of the client's offer, for PATCH */
};

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
  std::set<std::shared_ptr<WhepPost> > posts;
  std::map<std::string, std::shared_ptr<WhepResource> > whep;
  std::map<SoupWebsocketConnection *, std::shared_ptr<WsClient> > ws;
  std::unique_ptr<http::ConnLimits> limits;

  explicit HttpCore (Manager &m) : manager (m) {}
  ~HttpCore ();
  HttpCore (const HttpCore &) = delete;
  HttpCore &operator= (const HttpCore &) = delete;

  void dispatch (SoupServerMessage *msg, const char *raw_path);

  /* plain routes */
  void serve_index (SoupServerMessage *msg);
  void serve_page (SoupServerMessage *msg, const std::string &name);
  void serve_api (SoupServerMessage *msg, const std::string *name);
  void serve_metrics (SoupServerMessage *msg);

  /* WHEP */
  void whep_post (SoupServerMessage *msg, const std::string &name);
  void whep_patch (SoupServerMessage *msg, const std::string &name, const std::string &id);
  void whep_delete (SoupServerMessage *msg, const std::string &name, const std::string &id);
  void whep_options (SoupServerMessage *msg, const char *allow);
  void whep_finish (const std::shared_ptr<WhepPost> &p, guint status, const std::string &body);
  void whep_respond (const std::shared_ptr<WhepPost> &p);

  /* websocket */
  void ws_upgrade (SoupServerMessage *msg, const std::string &name);
  void ws_accept (SoupWebsocketConnection *conn, const std::string &name);
  void ws_message (WsClient *c, SoupWebsocketDataType type, GBytes *data);
  void ws_send (WsClient *c, const wsproto::Message &m);
  void ws_fail (WsClient *c, guint status, const std::string &reason, gushort code);
  void ws_closed (WsClient *c);
  std::shared_ptr<WsClient> ws_find (WsClient *c);
};

} // namespace gw
