/* gwsinkviewers: the viewers of a gwsink. Each is a shared reader session
 * (gwsession.h) made for a WHEP offer by the shared endpoint (gwwhep.h) on
 * gwsink's HTTP thread (gwwhepserver.h); Viewers is both the factory of
 * those sessions and the host that links each one's reader to every
 * input's fan-out. Also starting and stopping that HTTP server. The element
 * itself is in gwsink.cpp; shared declarations, the threads and the locking
 * rules in gwsink-private.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsink-private.h"

namespace gwsink {

static void
post_viewer_message (GwSink *self, const char *event, const std::string &id, guint viewers)
{
  GstStructure *s
      = gst_structure_new ("gwsink-viewer", "event", G_TYPE_STRING, event, "id", G_TYPE_STRING,
                           id.c_str (), "viewers", G_TYPE_UINT, viewers, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
  notify_property (self, PROP_VIEWERS);
}

/* The session factory and reader host of one serving period (start_server
 * to stop_server). Its methods run on the HTTP thread, or on the thread of
 * stop_server once that has ended. */
class Viewers : public gw::whep::SessionFactory,
                public gw::SessionHost,
                public std::enable_shared_from_this<Viewers>
{
public:
  explicit Viewers (GwSink *sink) : sink_ (sink) {}

  /* Set by stop_server: nothing streams any more, readers go at once. */
  bool live = true;
  GMainContext *context = nullptr; /* the HTTP thread's */

  std::shared_ptr<gw::ReaderSession> create_session (SoupServerMessage *msg,
                                                     const std::string &offer,
                                                     const gw::SessionEvents &events, guint &status,
                                                     std::string &reason) override;
  std::vector<std::string> links () override;
  bool link_reader (GstElement *reader, std::string &reason) override;
  void unlink_reader (GstElement *reader) override;
  void remove_reader (gw::ReaderSession *session) override;

private:
  GwSink *sink_; /* borrowed: the viewers go before the element */

  gw::ReaderSettings settings ();
  void joined (const std::string &id);
};

gw::ReaderSettings
Viewers::settings ()
{
  GwSinkPrivate *priv = sink_->priv;
  gw::ReaderSettings s;
  std::lock_guard<std::mutex> g (priv->lock);
  s.stun_server = priv->stun_server;
  s.turn_servers = priv->turn_servers;
  s.ice_addresses = priv->ice_addresses;
  s.min_port = priv->min_port;
  s.max_port = priv->max_port;
  return s;
}

std::vector<std::string>
Viewers::links ()
{
  gw::ReaderSettings s = settings ();
  std::vector<std::string> stun, turn;
  if (!s.stun_server.empty ())
    stun.push_back (s.stun_server);
  g_auto (GStrv) turns = g_strsplit (s.turn_servers.c_str (), ",", -1);
  for (guint i = 0; turns[i]; i++)
    if (*g_strstrip (turns[i]))
      turn.push_back (turns[i]);
  return gw::whep::ice_links (stun, turn);
}

/* POST /whep, on the HTTP thread. */
std::shared_ptr<gw::ReaderSession>
Viewers::create_session (SoupServerMessage *msg, const std::string &offer,
                         const gw::SessionEvents &events, guint &status, std::string &reason)
{
  GwSink *self = sink_;
  GwSinkPrivate *priv = self->priv;

  /* Refuse garbage before building anything. */
  GError *err = NULL;
  GstSDPMessage *sdp = gw_sdp_parse (offer.c_str (), &err);
  if (!sdp) {
    status = SOUP_STATUS_BAD_REQUEST;
    reason = std::string ("bad offer: ") + err->message;
    g_error_free (err);
    return nullptr;
  }
  gst_sdp_message_free (sdp);

  g_autofree gchar *id = gw_whep_new_session_id ();
  auto v = std::make_shared<Viewer> ();
  v->remote = GST_STR_NULL (soup_server_message_get_remote_host (msg));
  v->session
      = std::make_shared<gw::ReaderSession> (id, "", gw::SessionRole::Answerer, offer, context);
  /* The answer makes the viewer one that watches. */
  v->session->events = events;
  std::weak_ptr<Viewers> weak = shared_from_this ();
  std::string sid = id;
  v->session->events.on_description = [weak, sid, events] (const std::string &answer) {
    if (events.on_description)
      events.on_description (answer);
    if (auto viewers = weak.lock ())
      viewers->joined (sid);
  };

  guint max = 0;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    max = priv->max_viewers;
    if (!priv->accepting)
      reason = "the stream is stopping";
    else if (max && priv->viewers.size () >= max)
      reason = "this stream already has its maximum of " + std::to_string (max) + " viewers";
    else if (priv->inputs.empty ())
      reason = "no stream is linked to gwsink yet";
    else
      priv->viewers[sid] = v;
  }
  if (!reason.empty ()) {
    status = SOUP_STATUS_SERVICE_UNAVAILABLE;
    return nullptr;
  }

  GST_DEBUG_OBJECT (self, "viewer %s: negotiating with %s", id, v->remote.c_str ());
  GST_LOG_OBJECT (self, "viewer %s offer:\n%s", id, offer.c_str ());
  /* On failure the session reports it (on_error) and closes. */
  if (v->session->attach (shared_from_this (), GST_ELEMENT (self), settings ())) {
    std::lock_guard<std::mutex> g (priv->lock);
    v->reader = v->session->reader ();
  }
  return v->session;
}

void
Viewers::joined (const std::string &id)
{
  GwSinkPrivate *priv = sink_->priv;
  guint n;
  std::string remote;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    auto it = priv->viewers.find (id);
    if (it == priv->viewers.end () || it->second->joined)
      return;
    it->second->joined = true;
    remote = it->second->remote;
    n = ++priv->n_joined;
  }
  GST_INFO_OBJECT (sink_, "viewer %s joined from %s (%u watching)", id.c_str (), remote.c_str (),
                   n);
  post_viewer_message (sink_, "joined", id, n);
}

/* Requests one pad per input and attaches it to the input's fan-out. */
bool
Viewers::link_reader (GstElement *reader, std::string &reason)
{
  std::vector<InputPtr> inputs;
  {
    std::lock_guard<std::mutex> g (sink_->priv->lock);
    inputs = sink_->priv->inputs;
  }
  std::vector<std::pair<InputPtr, GstPad *> > pads;
  for (const InputPtr &in : inputs) {
    GstPad *pad = gst_element_request_pad_simple (reader, in->video ? "video_%u" : "audio_%u");
    if (!pad) {
      GST_WARNING_OBJECT (sink_, "a viewer has no pad for %s", in->name.c_str ());
      continue;
    }
    pads.emplace_back (in, pad);
  }
  if (pads.empty ()) {
    reason = "the viewer cannot take any of the streams";
    return false;
  }
  /* The branch runs before it is linked: a tee pushing into a branch that is
   * not yet PLAYING gets FLUSHING back and stalls the source. */
  bool ok = gst_element_sync_state_with_parent (reader);
  for (auto &p : pads) {
    if (ok && !gw_stream_attach (p.first->fanout, p.second))
      GST_WARNING_OBJECT (sink_, "a viewer cannot attach %s", p.first->name.c_str ());
    gst_object_unref (p.second);
  }
  if (!ok)
    reason = "cannot start the viewer";
  return ok;
}

/* While live, the reader is detached from the streaming fan-outs (which
 * remove it once idle); otherwise nothing streams and it goes at once. */
void
Viewers::unlink_reader (GstElement *reader)
{
  std::vector<InputPtr> inputs;
  {
    std::lock_guard<std::mutex> g (sink_->priv->lock);
    inputs = sink_->priv->inputs;
  }
  bool detached = false;
  GstIterator *it = gst_element_iterate_sink_pads (reader);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstPad *pad = GST_PAD (g_value_get_object (&item));
    for (const InputPtr &in : inputs) {
      if (gw_stream_detach (in->fanout, pad, live ? reader : NULL)) {
        detached = true;
        break;
      }
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  if (!detached || !live) {
    gst_element_set_state (reader, GST_STATE_NULL);
    if (gst_object_has_as_parent (GST_OBJECT (reader), GST_OBJECT (sink_)))
      gst_bin_remove (GST_BIN (sink_), reader);
  }
}

/* The session is closing: out of the table, and "left" if it watched. */
void
Viewers::remove_reader (gw::ReaderSession *session)
{
  GwSinkPrivate *priv = sink_->priv;
  bool was_joined = false;
  guint n = 0;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    auto it = priv->viewers.find (session->id ());
    if (it == priv->viewers.end () || it->second->session.get () != session)
      return;
    was_joined = it->second->joined;
    if (was_joined)
      priv->n_joined--;
    n = priv->n_joined;
    priv->viewers.erase (it);
  }
  if (was_joined) {
    GST_INFO_OBJECT (sink_, "viewer %s left (%u watching)", session->id ().c_str (), n);
    post_viewer_message (sink_, "left", session->id (), n);
  }
}

/* ------------------------------------------------------------ element */

void
fail_viewer (GwSink *self, GstElement *reader, const GError *error)
{
  std::weak_ptr<gw::ReaderSession> weak;
  std::string id;
  GMainContext *context = nullptr;
  {
    std::lock_guard<std::mutex> g (self->priv->lock);
    for (auto &it : self->priv->viewers)
      if (it.second->reader == reader) {
        weak = it.second->session;
        id = it.first;
      }
    if (self->priv->http_context)
      context = g_main_context_ref (self->priv->http_context);
  }
  std::string message = error ? error->message : "the viewer failed";
  GST_WARNING_OBJECT (self, "error in viewer %s: %s", id.c_str (), message.c_str ());
  if (id.empty () || !context) {
    if (context)
      g_main_context_unref (context);
    return;
  }
  gw::ReaderSession::invoke (context, [weak, message] () {
    if (auto s = weak.lock ())
      s->fail (SOUP_STATUS_INTERNAL_SERVER_ERROR, message);
  });
  g_main_context_unref (context);
}

gboolean
start_server (GwSink *self)
{
  GwSinkPrivate *priv = self->priv;
  std::string address;
  guint port;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    address = priv->address;
    port = priv->port;
  }
  auto viewers = std::make_shared<Viewers> (self);
  GError *err = NULL;
  GwWhepServer *http = gw_whep_server_new (address.c_str (), port, viewers.get (), &err);
  if (!http) {
    if (g_error_matches (err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", err->message), (NULL));
    else
      GST_ELEMENT_ERROR (
          self, RESOURCE, OPEN_READ_WRITE,
          ("Could not listen for HTTP on %s port %u: %s", address.c_str (), port, err->message),
          ("is another program (or gwsink) using the port? set port=0 for any free port"));
    g_error_free (err);
    return FALSE;
  }
  viewers->context = gw_whep_server_get_context (http);
  guint bound = gw_whep_server_get_port (http);
  {
    std::lock_guard<std::mutex> g (priv->lock);
    priv->http = http;
    priv->http_context = g_main_context_ref (viewers->context);
    priv->sessions = viewers;
    priv->bound_port = bound;
    priv->accepting = true;
  }
  GST_INFO_OBJECT (self, "serving http://%s:%u/ (WHEP at /whep)", address.c_str (), bound);
  notify_property (self, PROP_BOUND_PORT);
  return TRUE;
}

void
stop_server (GwSink *self)
{
  GwSinkPrivate *priv = self->priv;
  GwWhepServer *http;
  std::shared_ptr<Viewers> viewers;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    priv->accepting = false;
    http = priv->http;
    viewers = priv->sessions;
  }
  if (!http)
    return;
  /* After this nothing runs on the HTTP thread: the viewers are ours. */
  gw_whep_server_stop (http);
  viewers->live = false;

  /* Freeing the server closes the sessions its endpoint made (answered or
   * not); any other is closed here. */
  gw_whep_server_free (http);
  std::map<std::string, ViewerPtr> left;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    left = priv->viewers;
  }
  for (auto &it : left) {
    it.second->session->events = gw::SessionEvents ();
    it.second->session->close ();
  }
  left.clear ();
  {
    std::lock_guard<std::mutex> g (priv->lock);
    priv->viewers.clear ();
    priv->n_joined = 0;
    priv->bound_port = 0;
    priv->http = NULL;
    g_clear_pointer (&priv->http_context, g_main_context_unref);
    priv->sessions.reset ();
  }
  notify_property (self, PROP_BOUND_PORT);
  GST_INFO_OBJECT (self, "HTTP server stopped");
}

} /* namespace gwsink */
