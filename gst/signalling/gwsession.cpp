/* ReaderSession: see gwsession.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsession.h"

#include "gwreaderbin.h"

#include <gst/webrtc/webrtc.h>

GST_DEBUG_CATEGORY_STATIC (gw_session_debug);
#define GST_CAT_DEFAULT gw_session_debug

namespace gw {

namespace {

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

/* What a reader callback holds: the session, weakly, and its context (the
 * session may be gone when the callback runs). */
struct WeakSession
{
  std::weak_ptr<ReaderSession> session;
  GMainContext *context;

  explicit WeakSession (const std::shared_ptr<ReaderSession> &s, GMainContext *c)
      : session (s), context (c ? g_main_context_ref (c) : nullptr)
  {
  }
  ~WeakSession ()
  {
    if (context)
      g_main_context_unref (context);
  }
};

void
free_weak (gpointer data, GClosure *)
{
  delete static_cast<WeakSession *> (data);
}

/* Runs @fn with the session on its main context, if it still exists. */
void
with_session (const WeakSession &weak, std::function<void (ReaderSession &)> fn)
{
  std::weak_ptr<ReaderSession> w = weak.session;
  ReaderSession::invoke (weak.context, [w, fn] () {
    if (auto s = w.lock ())
      if (!s->closed ())
        fn (*s);
  });
}

struct Call
{
  std::function<void ()> fn;
};

} // namespace

void
ReaderSession::log (GLogLevelFlags level, const std::string &message) const
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    GST_WARNING ("%s", message.c_str ());
  else if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    GST_INFO ("%s", message.c_str ());
  else
    GST_DEBUG ("%s", message.c_str ());
}

void
ReaderSession::invoke (GMainContext *context, std::function<void ()> fn)
{
  g_main_context_invoke_full (
      context, G_PRIORITY_DEFAULT,
      [] (gpointer d) -> gboolean {
        static_cast<Call *> (d)->fn ();
        return G_SOURCE_REMOVE;
      },
      new Call{ std::move (fn) }, [] (gpointer d) { delete static_cast<Call *> (d); });
}

struct SessionSignals
{
  static void
  on_candidate (GstElement *, guint mline, gchar *candidate, gpointer data)
  {
    std::string c (candidate ? candidate : "");
    with_session (*static_cast<WeakSession *> (data), [mline, c] (ReaderSession &s) {
      if (s.events.on_candidate)
        s.events.on_candidate (mline, c);
    });
  }

  static void
  on_error (GstElement *, GError *err, gpointer data)
  {
    std::string msg (err ? err->message : "reader failed");
    with_session (*static_cast<WeakSession *> (data), [msg] (ReaderSession &s) {
      s.log (G_LOG_LEVEL_INFO, "session " + s.id () + ": " + msg);
      s.fail (500, msg);
    });
  }

  static void
  on_state (GstElement *reader, GParamSpec *, gpointer data)
  {
    int state = 0;
    g_object_get (reader, "connection-state", &state, NULL);
    with_session (*static_cast<WeakSession *> (data),
                  [state] (ReaderSession &s) { s.on_connection_state (state); });
  }

  static void
  on_promise (GstPromise *promise, gpointer data)
  {
    const GstStructure *reply = gst_promise_get_reply (promise);
    GstStructure *copy = reply ? gst_structure_copy (reply) : NULL;
    /* The promise is not ours: whoever replies drops its own ref. */
    auto *weak = static_cast<WeakSession *> (data);
    std::weak_ptr<ReaderSession> w = weak->session;
    ReaderSession::invoke (weak->context, [w, copy] () {
      auto s = w.lock ();
      if (s && !s->closed ())
        s->on_reply (copy);
      if (copy)
        gst_structure_free (copy);
    });
  }
};

ReaderSession::ReaderSession (std::string id, std::string path, SessionRole role,
                              std::string remote_offer, GMainContext *context)
    : id_ (std::move (id)), path_ (std::move (path)), role_ (role),
      remote_offer_ (std::move (remote_offer)),
      context_ (context ? g_main_context_ref (context) : nullptr),
      created_us_ (g_get_monotonic_time ())
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_session_debug, "gwsession", 0, "reader sessions");
    g_once_init_leave (&once, 1);
  }
}

ReaderSession::~ReaderSession ()
{
  if (watchdog_) {
    g_source_destroy (watchdog_);
    g_source_unref (watchdog_);
  }
  if (reader_)
    gst_object_unref (reader_);
  if (context_)
    g_main_context_unref (context_);
}

bool
ReaderSession::attach (const std::shared_ptr<SessionHost> &host, GstElement *bin,
                       const ReaderSettings &settings)
{
  GstElement *reader = gst_element_factory_make ("gwreaderbin", NULL);
  if (!reader) {
    fail (500, "the gw plugin is not available");
    return false;
  }
  const ReaderSettings &s = settings;
  g_object_set (reader, "stun-server", s.stun_server.empty () ? NULL : s.stun_server.c_str (),
                "turn-servers", s.turn_servers.empty () ? NULL : s.turn_servers.c_str (),
                "ice-addresses", s.ice_addresses.empty () ? NULL : s.ice_addresses.c_str (),
                "min-port", s.min_port, "max-port", s.max_port, NULL);

  reader_ = GST_ELEMENT (gst_object_ref_sink (reader));
  host_ = host;
  if (!gst_bin_add (GST_BIN (bin), reader_)) {
    fail (500, "cannot add the reader");
    return false;
  }

  std::string reason;
  if (!host->link_reader (reader_, reason)) {
    fail (500, reason);
    return false;
  }
  connect_signals ();

  GstPromise *promise = gst_promise_new_with_change_func (
      SessionSignals::on_promise, new WeakSession (shared_from_this (), context_),
      [] (gpointer d) { delete static_cast<WeakSession *> (d); });
  if (role_ == SessionRole::Answerer)
    g_signal_emit_by_name (reader_, "handle-offer", remote_offer_.c_str (), promise);
  else
    g_signal_emit_by_name (reader_, "create-offer", promise);
  /* The reader keeps its own ref until it replies. */
  gst_promise_unref (promise);

  /* The reply may have closed the session already. */
  if (!closed_) {
    watchdog_ = g_timeout_source_new_seconds (1);
    g_source_set_callback (watchdog_, watchdog_cb, new WeakSession (shared_from_this (), context_),
                           [] (gpointer d) { delete static_cast<WeakSession *> (d); });
    g_source_attach (watchdog_, context_);
  }
  return true;
}

void
ReaderSession::connect_signals ()
{
  auto weak = [this] () { return (gpointer) new WeakSession (shared_from_this (), context_); };
  g_signal_connect_data (reader_, "ice-candidate", G_CALLBACK (SessionSignals::on_candidate),
                         weak (), free_weak, (GConnectFlags)0);
  g_signal_connect_data (reader_, "reader-error", G_CALLBACK (SessionSignals::on_error), weak (),
                         free_weak, (GConnectFlags)0);
  g_signal_connect_data (reader_, "notify::connection-state", G_CALLBACK (SessionSignals::on_state),
                         weak (), free_weak, (GConnectFlags)0);
}

void
ReaderSession::on_reply (GstStructure *reply)
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
  /* Streams the viewer cannot have: said, never silently left out. */
  g_auto (GStrv) dropped = NULL;
  if (gst_structure_get (reply, "dropped", G_TYPE_STRV, &dropped, NULL))
    for (guint i = 0; dropped[i]; i++)
      log (G_LOG_LEVEL_WARNING,
           "session " + id_ + (path_.empty () ? "" : " on " + path_) + ": " + dropped[i]);
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
ReaderSession::on_connection_state (int state)
{
  std::string name = state_name (state);
  if (name == state_)
    return;
  state_ = name;
  log (G_LOG_LEVEL_DEBUG, "session " + id_ + ": " + name);
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
ReaderSession::watchdog_cb (gpointer data)
{
  auto s = static_cast<WeakSession *> (data)->session.lock ();
  if (!s || s->closed ())
    return G_SOURCE_REMOVE;
  gint64 now = g_get_monotonic_time ();
  bool stale = false;
  if (s->state_ != "connected" && s->disconnected_since_ == 0
      && now - s->created_us_ > SESSION_CONNECT_LIMIT_S * G_USEC_PER_SEC)
    stale = true;
  if (s->disconnected_since_
      && now - s->disconnected_since_ > SESSION_DISCONNECT_LIMIT_S * G_USEC_PER_SEC)
    stale = true;
  if (stale) {
    s->log (G_LOG_LEVEL_INFO, "session " + s->id_ + ": viewer gone (" + s->state_ + "), closing");
    s->close ();
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

bool
ReaderSession::set_answer (const std::string &sdp, std::string &reason)
{
  if (closed_ || role_ != SessionRole::Offerer || !reader_) {
    reason = "no offer is waiting for an answer";
    return false;
  }
  GstPromise *promise = gst_promise_new_with_change_func (
      SessionSignals::on_promise, new WeakSession (shared_from_this (), context_),
      [] (gpointer d) { delete static_cast<WeakSession *> (d); });
  /* The reply ("gw-result") carries an error, or the streams the answer
   * does not receive: on_reply warns of those, and turns an sdp-less
   * success into nothing else. */
  g_signal_emit_by_name (reader_, "set-answer", sdp.c_str (), promise);
  gst_promise_unref (promise);
  return true;
}

void
ReaderSession::add_candidate (guint mline, const std::string &candidate)
{
  if (closed_ || !reader_)
    return;
  g_signal_emit_by_name (reader_, "add-ice-candidate", mline, candidate.c_str ());
}

void
ReaderSession::fail (guint status, const std::string &reason)
{
  if (closed_)
    return;
  auto self = shared_from_this ();
  if (events.on_error)
    events.on_error (status, reason);
  close ();
}

void
ReaderSession::close ()
{
  if (closed_)
    return;
  closed_ = true;
  auto self = shared_from_this ();
  if (watchdog_) {
    g_source_destroy (watchdog_);
    g_clear_pointer (&watchdog_, g_source_unref);
  }
  auto host = host_.lock ();
  if (reader_) {
    g_signal_handlers_disconnect_matched (reader_, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                          (gpointer)SessionSignals::on_candidate, NULL);
    g_signal_handlers_disconnect_matched (reader_, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                          (gpointer)SessionSignals::on_error, NULL);
    g_signal_handlers_disconnect_matched (reader_, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                          (gpointer)SessionSignals::on_state, NULL);
    if (host)
      host->unlink_reader (reader_);
  }
  if (host)
    host->remove_reader (this);
  closing ();
  log (G_LOG_LEVEL_DEBUG, "session " + id_ + " closed");
  if (events.on_closed)
    events.on_closed ();
  events = SessionEvents ();
}

} // namespace gw
