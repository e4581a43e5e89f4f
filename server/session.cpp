#include "session.h"

#include "gwreaderbin.h"
#include "mainctx.h"
#include "path.h"

#include <gst/webrtc/webrtc.h>

namespace gw {

namespace {

/* A session that has not reached "connected" this long after it started, or
 * that stays disconnected this long, is a viewer that went away without
 * saying so: it is closed and its resources freed. */
constexpr gint64 CONNECT_LIMIT_US = 30 * G_USEC_PER_SEC;
constexpr gint64 DISCONNECT_LIMIT_US = 10 * G_USEC_PER_SEC;

const char *
state_name (int state)
{
  switch (state) {
  case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
    return "new";
  case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
    return "connecting";
  case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
    return "connected";
  case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
    return "disconnected";
  case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
    return "failed";
  case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
    return "closed";
  default:
    return "unknown";
  }
}

using WeakSession = std::weak_ptr<Session>;

void
free_weak (gpointer data, GClosure *)
{
  delete static_cast<WeakSession *> (data);
}

/* Runs @fn with the session on the main context, if it still exists. */
void
with_session (const WeakSession &weak, std::function<void (Session &)> fn)
{
  run_on_main ([weak, fn] () {
    if (auto s = weak.lock ())
      if (!s->closed ())
        fn (*s);
  });
}

} // namespace

struct SessionSignals
{
  static void
  on_candidate (GstElement *, guint mline, gchar *candidate, gpointer data)
  {
    std::string c (candidate ? candidate : "");
    with_session (*static_cast<WeakSession *> (data), [mline, c] (Session &s) {
      if (s.events.on_candidate)
        s.events.on_candidate (mline, c);
    });
  }

  static void
  on_error (GstElement *, GError *err, gpointer data)
  {
    std::string msg (err ? err->message : "reader failed");
    with_session (*static_cast<WeakSession *> (data), [msg] (Session &s) {
      g_info ("session %s: %s", s.id ().c_str (), msg.c_str ());
      s.fail (500, msg);
    });
  }

  static void
  on_state (GstElement *reader, GParamSpec *, gpointer data)
  {
    int state = 0;
    g_object_get (reader, "connection-state", &state, NULL);
    with_session (*static_cast<WeakSession *> (data),
                  [state] (Session &s) { s.on_connection_state (state); });
  }

  static void
  on_promise (GstPromise *promise, gpointer data)
  {
    const GstStructure *reply = gst_promise_get_reply (promise);
    GstStructure *copy = reply ? gst_structure_copy (reply) : NULL;
    /* The promise is not ours: whoever replies drops its own ref. */
    WeakSession weak = *static_cast<WeakSession *> (data);
    run_on_main ([weak, copy] () {
      auto s = weak.lock ();
      if (s && !s->closed ())
        s->on_reply (copy);
      if (copy)
        gst_structure_free (copy);
    });
  }
};

Session::Session (std::string id, std::string path, SessionRole role, std::string remote_offer)
    : id_ (std::move (id)), path_ (std::move (path)), role_ (role),
      remote_offer_ (std::move (remote_offer)), created_us_ (g_get_monotonic_time ())
{
}

Session::~Session ()
{
  if (watchdog_)
    g_source_remove (watchdog_);
  if (reader_)
    gst_object_unref (reader_);
}

bool
Session::attach (Path &path, GstElement *pipeline)
{
  const ServerConfig &srv = path.server ();
  GstElement *reader = gst_element_factory_make ("gwreaderbin", NULL);
  if (!reader) {
    fail (500, "the gw plugin is not available");
    return false;
  }
  std::string turns;
  for (const std::string &t : srv.turn_servers)
    turns += (turns.empty () ? "" : ",") + t;
  g_object_set (reader, "stun-server",
                srv.stun_servers.empty () ? NULL : srv.stun_servers[0].c_str (), "turn-servers",
                turns.empty () ? NULL : turns.c_str (), "ice-addresses",
                srv.ice_addresses.empty () ? NULL : srv.ice_addresses.c_str (), "min-port",
                srv.min_port, "max-port", srv.max_port, NULL);

  reader_ = GST_ELEMENT (gst_object_ref_sink (reader));
  path_ref_ = path.shared_from_this ();
  gst_bin_add (GST_BIN (pipeline), reader_);

  std::string reason;
  if (!path.link_reader (reader_, reason)) {
    fail (500, reason);
    return false;
  }
  connect_signals ();

  GstPromise *promise = gst_promise_new_with_change_func (
      SessionSignals::on_promise, new WeakSession (shared_from_this ()),
      [] (gpointer d) { delete static_cast<WeakSession *> (d); });
  if (role_ == SessionRole::Answerer)
    g_signal_emit_by_name (reader_, "handle-offer", remote_offer_.c_str (), promise);
  else
    g_signal_emit_by_name (reader_, "create-offer", promise);
  /* The reader keeps its own ref until it replies. */
  gst_promise_unref (promise);

  watchdog_ = g_timeout_add_seconds_full (
      G_PRIORITY_DEFAULT, 1, watchdog_cb, new WeakSession (shared_from_this ()),
      [] (gpointer d) { delete static_cast<WeakSession *> (d); });
  return true;
}

void
Session::connect_signals ()
{
  auto weak = [this] () { return (gpointer) new WeakSession (shared_from_this ()); };
  g_signal_connect_data (reader_, "ice-candidate", G_CALLBACK (SessionSignals::on_candidate),
                         weak (), free_weak, (GConnectFlags)0);
  g_signal_connect_data (reader_, "reader-error", G_CALLBACK (SessionSignals::on_error), weak (),
                         free_weak, (GConnectFlags)0);
  g_signal_connect_data (reader_, "notify::connection-state", G_CALLBACK (SessionSignals::on_state),
                         weak (), free_weak, (GConnectFlags)0);
}

void
Session::on_reply (GstStructure *reply)
{
  if (!reply) {
    fail (500, "negotiation was interrupted");
    return;
  }
  GError *err = NULL;
  if (gst_structure_get (reply, "error", G_TYPE_ERROR, &err, NULL)) {
    guint status = 500;
    if (err->domain == GW_READER_ERROR) {
      if (err->code == GW_READER_ERROR_BAD_SDP)
        status = 400;
      else if (err->code == GW_READER_ERROR_NO_COMMON_CODEC)
        status = 406;
    }
    std::string reason = err->message;
    g_error_free (err);
    fail (status, reason);
    return;
  }
  if (gst_structure_has_name (reply, "gw-result"))
    return; /* the answer to our offer was applied */
  const gchar *sdp = gst_structure_get_string (reply, "sdp");
  if (!sdp) {
    fail (500, "negotiation gave no description");
    return;
  }
  if (events.on_description)
    events.on_description (sdp);
}

void
Session::on_connection_state (int state)
{
  std::string name = state_name (state);
  if (name == state_)
    return;
  state_ = name;
  g_debug ("session %s: %s", id_.c_str (), name.c_str ());
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED)
    disconnected_since_ = g_get_monotonic_time ();
  else
    disconnected_since_ = 0;
  auto self = shared_from_this ();
  if (events.on_state)
    events.on_state (name);
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED
      || state == GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED)
    close ();
}

gboolean
Session::watchdog_cb (gpointer data)
{
  auto s = static_cast<WeakSession *> (data)->lock ();
  if (!s || s->closed ()) {
    if (s)
      s->watchdog_ = 0;
    return G_SOURCE_REMOVE;
  }
  gint64 now = g_get_monotonic_time ();
  bool stale = false;
  if (s->state_ != "connected" && s->disconnected_since_ == 0
      && now - s->created_us_ > CONNECT_LIMIT_US)
    stale = true;
  if (s->disconnected_since_ && now - s->disconnected_since_ > DISCONNECT_LIMIT_US)
    stale = true;
  if (stale) {
    g_info ("session %s: viewer gone (%s), closing", s->id_.c_str (), s->state_.c_str ());
    s->watchdog_ = 0;
    s->close ();
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

bool
Session::set_answer (const std::string &sdp, std::string &reason)
{
  if (closed_ || role_ != SessionRole::Offerer || !reader_) {
    reason = "no offer is waiting for an answer";
    return false;
  }
  GstPromise *promise = gst_promise_new_with_change_func (
      SessionSignals::on_promise, new WeakSession (shared_from_this ()),
      [] (gpointer d) { delete static_cast<WeakSession *> (d); });
  /* The reply ("gw-result") carries only an error, if any: on_reply turns an
   * sdp-less success into nothing. */
  g_signal_emit_by_name (reader_, "set-answer", sdp.c_str (), promise);
  gst_promise_unref (promise);
  return true;
}

void
Session::add_candidate (guint mline, const std::string &candidate)
{
  if (closed_ || !reader_)
    return;
  g_signal_emit_by_name (reader_, "add-ice-candidate", mline, candidate.c_str ());
}

void
Session::fail (guint status, const std::string &reason)
{
  if (closed_)
    return;
  auto self = shared_from_this ();
  if (events.on_error)
    events.on_error (status, reason);
  close ();
}

void
Session::close ()
{
  if (closed_)
    return;
  closed_ = true;
  auto self = shared_from_this ();
  if (watchdog_) {
    g_source_remove (watchdog_);
    watchdog_ = 0;
  }
  auto path = path_ref_.lock ();
  if (reader_) {
    g_signal_handlers_disconnect_matched (reader_, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                          (gpointer)SessionSignals::on_candidate, NULL);
    g_signal_handlers_disconnect_matched (reader_, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                          (gpointer)SessionSignals::on_error, NULL);
    g_signal_handlers_disconnect_matched (reader_, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                          (gpointer)SessionSignals::on_state, NULL);
    if (path)
      path->unlink_reader (reader_);
  }
  if (path)
    path->remove_reader (this);
  g_debug ("session %s closed", id_.c_str ());
  if (events.on_closed)
    events.on_closed ();
  events = SessionEvents ();
  if (auto ended = std::move (on_ended)) {
    on_ended = nullptr;
    ended (*this);
  }
}

} // namespace gw
