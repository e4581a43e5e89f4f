/* gwsinkviewers: the viewers of a gwsink. The WHEP handlers (POST offer,
 * PATCH trickle, DELETE), one gwreaderbin per viewer attached to every
 * input's fan-out, the jobs that bring each reader's replies and signals to
 * the HTTP thread, and starting and stopping that HTTP server. The element
 * itself is in gwsink.cpp; shared declarations, the threads and the locking
 * rules in gwsink-private.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsink-private.h"

#define ANSWER_TIMEOUT_MS (15 * 1000)
#define DISCONNECTED_GRACE_MS (5 * 1000)

namespace gwsink {

static void remove_viewer (GwSink *self, const ViewerPtr &v, guint status, const char *reason);

/* ------------------------------------------------------------ helpers */

static ViewerPtr
find_viewer (GwSink *self, const std::string &id)
{
  std::lock_guard<std::mutex> g (self->priv->lock);
  auto it = self->priv->viewers.find (id);
  return it == self->priv->viewers.end () ? nullptr : it->second;
}

static void
post_viewer_message (GwSink *self, const char *event, const std::string &id, guint viewers)
{
  GstStructure *s
      = gst_structure_new ("gwsink-viewer", "event", G_TYPE_STRING, event, "id", G_TYPE_STRING,
                           id.c_str (), "viewers", G_TYPE_UINT, viewers, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
  notify_property (self, PROP_VIEWERS);
}

/* ------------------------------------------------------------ jobs */

static gboolean run_job (gpointer data);

static void
free_job (gpointer data)
{
  delete static_cast<Job *> (data);
}

/* Runs @job (taken) on the HTTP thread after @delay_ms (0: soon). Returns a
 * ref on the source when @keep, for cancelling; NULL if the server is not
 * running (the job is dropped). */
GSource *
post_job (GwSink *self, Job *job, guint delay_ms, bool keep)
{
  GSource *src = NULL;
  {
    std::lock_guard<std::mutex> g (self->priv->lock);
    if (self->priv->http)
      src = gw_whep_server_schedule (self->priv->http, delay_ms, run_job, job, free_job);
  }
  if (!src)
    delete job;
  else if (!keep)
    g_clear_pointer (&src, g_source_unref);
  return src;
}

/* From a GStreamer thread: queues @job for the element behind @ref. */
static void
post_job_for (Job *ref, JobKind kind, GstStructure *reply, GError *error, gint state)
{
  GwSink *self = GW_SINK (g_weak_ref_get (&ref->sink));
  if (!self) {
    if (reply)
      gst_structure_free (reply);
    g_clear_error (&error);
    return;
  }
  Job *job = new Job (self, ref->id, kind);
  job->reply = reply;
  job->error = error;
  job->state = state;
  post_job (self, job, 0, false);
  gst_object_unref (self);
}

static guint
status_for_error (const GError *err)
{
  if (err && err->domain == GW_READER_ERROR) {
    if (err->code == GW_READER_ERROR_BAD_SDP)
      return SOUP_STATUS_BAD_REQUEST;
    if (err->code == GW_READER_ERROR_NO_COMMON_CODEC)
      return SOUP_STATUS_NOT_ACCEPTABLE;
  }
  return SOUP_STATUS_INTERNAL_SERVER_ERROR;
}

static void
on_answer_job (GwSink *self, const ViewerPtr &v, const GstStructure *reply)
{
  if (!v->pending || v->client_gone) {
    /* Nobody can learn about this session any more. */
    remove_viewer (self, v, 0, NULL);
    return;
  }
  const gchar *sdp = reply ? gst_structure_get_string (reply, "sdp") : NULL;
  if (!sdp) {
    GError *err = NULL;
    if (reply)
      gst_structure_get (reply, "error", G_TYPE_ERROR, &err, NULL);
    GST_INFO_OBJECT (self, "viewer %s refused: %s", v->id.c_str (),
                     err ? err->message : "no answer");
    remove_viewer (self, v, status_for_error (err),
                   err ? err->message : "the viewer ended before answering");
    g_clear_error (&err);
    return;
  }

  if (v->answer_timer) {
    g_source_destroy (v->answer_timer);
    g_clear_pointer (&v->answer_timer, g_source_unref);
  }
  GST_LOG_OBJECT (self, "viewer %s answer:\n%s", v->id.c_str (), sdp);
  gw_whep_pending_answer (v->pending, v->id.c_str (), sdp);
  v->pending = NULL;

  guint n;
  {
    std::lock_guard<std::mutex> g (self->priv->lock);
    if (self->priv->viewers.count (v->id) == 0)
      return;
    v->joined = true;
    n = ++self->priv->n_joined;
  }
  GST_INFO_OBJECT (self, "viewer %s joined from %s (%u watching)", v->id.c_str (),
                   v->remote.c_str (), n);
  post_viewer_message (self, "joined", v->id, n);
}

static void
on_connection_state_job (GwSink *self, const ViewerPtr &v, gint state)
{
  switch (state) {
  case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
  case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
    GST_INFO_OBJECT (self, "viewer %s: connection %s", v->id.c_str (),
                     state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED ? "failed" : "closed");
    remove_viewer (self, v, SOUP_STATUS_INTERNAL_SERVER_ERROR, "the connection ended");
    break;
  case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
    if (!v->disconnect_timer)
      v->disconnect_timer = post_job (self, new Job (self, v->id, JOB_DISCONNECT_TIMEOUT),
                                      DISCONNECTED_GRACE_MS, true);
    break;
  case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
    GST_INFO_OBJECT (self, "viewer %s connected", v->id.c_str ());
    if (v->disconnect_timer) {
      g_source_destroy (v->disconnect_timer);
      g_clear_pointer (&v->disconnect_timer, g_source_unref);
    }
    break;
  default:
    break;
  }
}

static gboolean
run_job (gpointer data)
{
  Job *job = static_cast<Job *> (data);
  GwSink *self = GW_SINK (g_weak_ref_get (&job->sink));
  if (!self)
    return G_SOURCE_REMOVE;
  ViewerPtr v = find_viewer (self, job->id);
  if (v) {
    switch (job->kind) {
    case JOB_ANSWER:
      on_answer_job (self, v, job->reply);
      break;
    case JOB_READER_ERROR:
      GST_WARNING_OBJECT (self, "viewer %s failed: %s", v->id.c_str (),
                          job->error ? job->error->message : "unknown error");
      remove_viewer (self, v, status_for_error (job->error),
                     job->error ? job->error->message : "the viewer failed");
      break;
    case JOB_CONNECTION_STATE:
      on_connection_state_job (self, v, job->state);
      break;
    case JOB_CLIENT_GONE:
      GST_INFO_OBJECT (self, "viewer %s: client left before the answer", v->id.c_str ());
      remove_viewer (self, v, 0, NULL);
      break;
    case JOB_ANSWER_TIMEOUT:
      g_clear_pointer (&v->answer_timer, g_source_unref);
      if (v->pending) {
        GST_WARNING_OBJECT (self, "viewer %s: no answer in time", v->id.c_str ());
        remove_viewer (self, v, SOUP_STATUS_SERVICE_UNAVAILABLE,
                       "no answer in time (is the stream running?)");
      }
      break;
    case JOB_DISCONNECT_TIMEOUT: {
      g_clear_pointer (&v->disconnect_timer, g_source_unref);
      GstWebRTCPeerConnectionState state = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
      g_object_get (v->reader, "connection-state", &state, NULL);
      if (state == GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED) {
        GST_INFO_OBJECT (self, "viewer %s: disconnected for too long", v->id.c_str ());
        remove_viewer (self, v, 0, NULL);
      }
      break;
    }
    }
  }
  gst_object_unref (self);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------ viewers */

static void
on_reader_error (GstElement *reader, GError *error, gpointer user_data)
{
  post_job_for (static_cast<Job *> (user_data), JOB_READER_ERROR, NULL,
                error ? g_error_copy (error) : NULL, 0);
}

static void
on_reader_connection_state (GObject *reader, GParamSpec *pspec, gpointer user_data)
{
  GstWebRTCPeerConnectionState state = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
  g_object_get (reader, "connection-state", &state, NULL);
  post_job_for (static_cast<Job *> (user_data), JOB_CONNECTION_STATE, NULL, NULL, state);
}

static void
on_answer_promise (GstPromise *promise, gpointer user_data)
{
  GstStructure *reply = NULL;
  if (gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED && gst_promise_get_reply (promise))
    reply = gst_structure_copy (gst_promise_get_reply (promise));
  post_job_for (static_cast<Job *> (user_data), JOB_ANSWER, reply, NULL, 0);
}

static void
free_job_closure (gpointer data, GClosure *closure)
{
  free_job (data);
}

/* HTTP thread: the client of a pending POST went away. */
static void
on_post_client_gone (gpointer user_data)
{
  Viewer *v = static_cast<Viewer *> (user_data);
  v->client_gone = true;
  post_job (v->sink, new Job (v->sink, v->id, JOB_CLIENT_GONE), 0, false);
}

/* Undoes what create_viewer did. @v is already out of the table. With
 * @live, the reader is detached from the streaming fan-outs (which remove it
 * once idle); otherwise nothing streams and it is removed at once. */
static void
teardown_viewer (GwSink *self, Viewer *v, guint status, const char *reason, bool live)
{
  if (v->pending && live)
    gw_whep_pending_fail (v->pending, status ? status : (guint)SOUP_STATUS_SERVICE_UNAVAILABLE,
                          reason ? reason : "the session ended");
  else
    gw_whep_pending_free (v->pending);
  v->pending = NULL;
  for (GSource **s : { &v->answer_timer, &v->disconnect_timer }) {
    if (*s) {
      g_source_destroy (*s);
      g_clear_pointer (s, g_source_unref);
    }
  }
  if (!v->reader)
    return;
  for (gulong id : v->reader_handlers)
    g_signal_handler_disconnect (v->reader, id);
  v->reader_handlers.clear ();

  bool detached = false;
  for (ViewerPad &p : v->pads)
    detached |= gw_stream_detach (p.input->fanout, p.pad, live ? v->reader : NULL) != FALSE;
  if (!detached || !live) {
    gst_element_set_state (v->reader, GST_STATE_NULL);
    if (gst_object_has_as_parent (GST_OBJECT (v->reader), GST_OBJECT (self)))
      gst_bin_remove (GST_BIN (self), v->reader);
  }
}

/* HTTP thread: takes @v out and undoes it; answers its pending POST with
 * @status/@reason (0/NULL: 503). */
static void
remove_viewer (GwSink *self, const ViewerPtr &v, guint status, const char *reason)
{
  bool found = false;
  guint n = 0;
  {
    std::lock_guard<std::mutex> g (self->priv->lock);
    auto it = self->priv->viewers.find (v->id);
    if (it != self->priv->viewers.end () && it->second == v) {
      self->priv->viewers.erase (it);
      found = true;
      if (v->joined)
        self->priv->n_joined--;
      n = self->priv->n_joined;
    }
  }
  if (!found)
    return;
  teardown_viewer (self, v.get (), status, reason, true);
  if (v->joined) {
    GST_INFO_OBJECT (self, "viewer %s left (%u watching)", v->id.c_str (), n);
    post_viewer_message (self, "left", v->id, n);
  }
}

/* Builds the reader of @v and attaches it to every input. Returns an error
 * text on failure. */
static const char *
setup_reader (GwSink *self, Viewer *v, const std::vector<InputPtr> &inputs)
{
  GwSinkPrivate *priv = self->priv;
  std::string stun, turn, ice;
  guint min_port, max_port;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    stun = priv->stun_server;
    turn = priv->turn_servers;
    ice = priv->ice_addresses;
    min_port = priv->min_port;
    max_port = priv->max_port;
  }
  GstElement *reader = GST_ELEMENT (g_object_new (
      GW_TYPE_READER_BIN, "stun-server", stun.empty () ? NULL : stun.c_str (), "turn-servers",
      turn.empty () ? NULL : turn.c_str (), "ice-addresses", ice.empty () ? NULL : ice.c_str (),
      "min-port", min_port, "max-port", max_port, NULL));
  v->reader = GST_ELEMENT (gst_object_ref_sink (reader));
  if (!gst_bin_add (GST_BIN (self), reader))
    return "cannot add the viewer";

  for (const InputPtr &in : inputs) {
    GstPad *pad = gst_element_request_pad_simple (reader, in->video ? "video_%u" : "audio_%u");
    if (!pad) {
      GST_WARNING_OBJECT (self, "viewer %s: no pad for %s", v->id.c_str (), in->name.c_str ());
      continue;
    }
    v->pads.push_back ({ in, pad });
  }
  if (v->pads.empty ())
    return "the viewer cannot take any of the streams";

  /* The branch runs before it is linked: a tee pushing into a branch that is
   * not yet PLAYING gets FLUSHING back and stalls the source. */
  if (!gst_element_sync_state_with_parent (reader))
    return "cannot start the viewer";
  for (ViewerPad &p : v->pads) {
    if (!gw_stream_attach (p.input->fanout, p.pad))
      GST_WARNING_OBJECT (self, "viewer %s: cannot attach %s", v->id.c_str (),
                          p.input->name.c_str ());
  }

  v->reader_handlers.push_back (g_signal_connect_data (
      reader, "reader-error", G_CALLBACK (on_reader_error), new Job (self, v->id, JOB_ANSWER),
      free_job_closure, (GConnectFlags)0));
  v->reader_handlers.push_back (g_signal_connect_data (
      reader, "notify::connection-state", G_CALLBACK (on_reader_connection_state),
      new Job (self, v->id, JOB_ANSWER), free_job_closure, (GConnectFlags)0));
  return NULL;
}

/* ------------------------------------------------------------ WHEP */

/* POST /whep, on the HTTP thread. */
static void
on_offer (gpointer user_data, SoupServerMessage *msg, const gchar *sdp)
{
  GwSink *self = GW_SINK (user_data);
  GwSinkPrivate *priv = self->priv;

  /* Refuse garbage before building anything. */
  GError *err = NULL;
  GstSDPMessage *offer = gw_sdp_parse (sdp, &err);
  if (!offer) {
    g_autofree gchar *reason = g_strdup_printf ("bad offer: %s", err->message);
    g_error_free (err);
    gw_whep_respond (msg, SOUP_STATUS_BAD_REQUEST, reason);
    return;
  }
  ViewerPtr v = std::make_shared<Viewer> ();
  v->sink = self;
  g_autofree gchar *id = gw_whep_new_session_id ();
  v->id = id;
  v->remote = GST_STR_NULL (soup_server_message_get_remote_host (msg));
  for (guint i = 0; i < gst_sdp_message_medias_len (offer); i++) {
    const gchar *mid
        = gst_sdp_media_get_attribute_val (gst_sdp_message_get_media (offer, i), "mid");
    v->mids.push_back (mid ? mid : "");
  }
  gst_sdp_message_free (offer);

  std::vector<InputPtr> inputs;
  guint refused = 0, max = 0;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    max = priv->max_viewers;
    if (!priv->accepting)
      refused = 1;
    else if (max && priv->viewers.size () >= max)
      refused = 2;
    else if (priv->inputs.empty ())
      refused = 3;
    else {
      inputs = priv->inputs;
      priv->viewers[v->id] = v;
    }
  }
  if (refused) {
    g_autofree gchar *reason
        = refused == 1 ? g_strdup ("the stream is stopping")
          : refused == 2
              ? g_strdup_printf ("this stream already has its maximum of %u viewers", max)
              : g_strdup ("no stream is linked to gwsink yet");
    gw_whep_respond (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, reason);
    return;
  }

  const char *failure = setup_reader (self, v.get (), inputs);
  if (failure) {
    GST_WARNING_OBJECT (self, "viewer %s: %s", v->id.c_str (), failure);
    remove_viewer (self, v, 0, NULL);
    gw_whep_respond (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, failure);
    return;
  }

  GST_DEBUG_OBJECT (self, "viewer %s: negotiating with %s", v->id.c_str (), v->remote.c_str ());
  GST_LOG_OBJECT (self, "viewer %s offer:\n%s", v->id.c_str (), sdp);
  v->pending = gw_whep_pending_new (msg, on_post_client_gone, v.get ());
  v->answer_timer
      = post_job (self, new Job (self, v->id, JOB_ANSWER_TIMEOUT), ANSWER_TIMEOUT_MS, true);

  /* The reply may come at once (on this thread) or later on a GStreamer
   * thread: either way it is handled as a job, after this returns. */
  GstPromise *promise = gst_promise_new_with_change_func (
      on_answer_promise, new Job (self, v->id, JOB_ANSWER), free_job);
  g_signal_emit_by_name (v->reader, "handle-offer", sdp, promise);
  gst_promise_unref (promise);
}

/* PATCH /whep/<id>, on the HTTP thread. */
static gboolean
on_trickle (gpointer user_data, const gchar *id, const GwTrickleCandidate *candidates,
            guint n_candidates)
{
  GwSink *self = GW_SINK (user_data);
  ViewerPtr v = find_viewer (self, id);
  if (!v)
    return FALSE;
  for (guint i = 0; i < n_candidates; i++) {
    const GwTrickleCandidate *c = &candidates[i];
    /* The m-line: by mid if the offer had it, else by position. */
    guint mline = c->section > 0 ? (guint)c->section : 0;
    for (size_t m = 0; c->mid && m < v->mids.size (); m++)
      if (v->mids[m] == c->mid)
        mline = (guint)m;
    g_signal_emit_by_name (v->reader, "add-ice-candidate", mline, c->candidate);
  }
  GST_DEBUG_OBJECT (self, "viewer %s: %u trickled candidates", id, n_candidates);
  return TRUE;
}

/* DELETE /whep/<id>, on the HTTP thread. */
static gboolean
on_remove (gpointer user_data, const gchar *id)
{
  GwSink *self = GW_SINK (user_data);
  ViewerPtr v = find_viewer (self, id);
  if (!v)
    return FALSE;
  remove_viewer (self, v, SOUP_STATUS_SERVICE_UNAVAILABLE, "the session was deleted");
  return TRUE;
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
  static const GwWhepHandlers handlers = { on_offer, on_trickle, on_remove };
  GError *err = NULL;
  GwWhepServer *http = gw_whep_server_new (address.c_str (), port, &handlers, self, &err);
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
  guint bound = gw_whep_server_get_port (http);
  {
    std::lock_guard<std::mutex> g (priv->lock);
    priv->http = http;
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
  {
    std::lock_guard<std::mutex> g (priv->lock);
    priv->accepting = false;
    http = priv->http;
  }
  if (!http)
    return;
  /* After this no handler or job runs: the viewers are ours alone. */
  gw_whep_server_stop (http);

  std::map<std::string, ViewerPtr> viewers;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    viewers.swap (priv->viewers);
    priv->n_joined = 0;
    priv->bound_port = 0;
    priv->http = NULL;
  }
  for (auto &it : viewers) {
    teardown_viewer (self, it.second.get (), 0, NULL, false);
    if (it.second->joined)
      post_viewer_message (self, "left", it.first, 0);
  }
  viewers.clear ();
  gw_whep_server_free (http);
  notify_property (self, PROP_BOUND_PORT);
  GST_INFO_OBJECT (self, "HTTP server stopped");
}

} /* namespace gwsink */
