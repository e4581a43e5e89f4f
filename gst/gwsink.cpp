/* gwsink: serves its encoded inputs to browsers over WebRTC (WHEP).
 *
 * Per sink pad:   ghost ─> [h264parse] ─> capsfilter ─> clocksync ─> tee (gwfanout) ─┬─> fakesink
 *                                                                     ├─> gwreaderbin (viewer 1)
 *                                                                     └─> gwreaderbin (viewer 2)
 * The capsfilter makes an upstream h264parse deliver byte-stream access
 * units; clocksync paces non-live inputs when "sync" is set; the fakesink
 * makes the bin a sink (EOS reaches the bus) and keeps the tee fed when
 * nobody watches.
 *
 * Threads: the HTTP endpoint (gwwhepserver.h) runs on its own thread and
 * main context, started on NULL→READY and stopped on READY→NULL. Viewers are
 * created, answered and removed on that thread only. gwreaderbin replies and
 * signals arrive on GStreamer threads and are marshalled to it as Jobs
 * holding a weak ref on the element.
 *
 * Locking: priv->lock protects the fields marked so. It is a leaf lock:
 * nothing is called while it is held except gw_whep_server_schedule (no
 * signal, no state change, no libsoup or GStreamer call).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsink.h"
#include "gwfanout.h"
#include "gwplayerpage.h"
#include "gwreaderbin.h"
#include "gwsdp.h"
#include "gwwhepserver.h"

#include <gst/webrtc/webrtc.h>
#include <libsoup/soup.h>
#include <string.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gw_sink_debug);
#define GST_CAT_DEFAULT gw_sink_debug

#define DEFAULT_ADDRESS "0.0.0.0"
#define DEFAULT_PORT 8889
#define ANSWER_TIMEOUT_MS (15 * 1000)
#define DISCONNECTED_GRACE_MS (5 * 1000)

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE (
    "video_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS ("video/x-h264, stream-format=(string)byte-stream, alignment=(string)au"));
static GstStaticPadTemplate audio_template
    = GST_STATIC_PAD_TEMPLATE ("audio_%u", GST_PAD_SINK, GST_PAD_REQUEST,
                               GST_STATIC_CAPS ("audio/x-opus; audio/x-mulaw; audio/x-alaw"));

namespace {

/* One sink pad and the elements behind it (refs held: the bin may drop its
 * own first, in dispose). */
struct Input
{
  std::string name;
  bool video = false;
  GstPad *ghost = nullptr;            /* the element's pad, borrowed */
  std::vector<GstElement *> elements; /* capsfilter, clocksync, fakesink, tee */
  GwFanout *fanout = nullptr;

  ~Input ()
  {
    gw_fanout_free (fanout);
    for (GstElement *e : elements)
      gst_object_unref (e);
  }
};
typedef std::shared_ptr<Input> InputPtr;

struct ViewerPad
{
  InputPtr input;
  GstPad *pad; /* the reader's request pad, ref */
};

/* One WHEP session. Apart from the immutable id and sink, its fields are
 * touched only on the HTTP thread, or by stop_server once that has ended. */
struct Viewer
{
  GwSink *sink = nullptr; /* borrowed: viewers go before the element */
  std::string id;
  std::string remote;
  GstElement *reader = nullptr; /* ref */
  std::vector<ViewerPad> pads;
  std::vector<std::string> mids; /* the offer's a=mid, by m-line */
  std::vector<gulong> reader_handlers;
  bool joined = false;
  /* The POST waiting for the answer, and whether its client left. */
  GwWhepPending *pending = nullptr;
  bool client_gone = false;
  GSource *answer_timer = nullptr;
  GSource *disconnect_timer = nullptr;

  ~Viewer ()
  {
    for (ViewerPad &p : pads)
      gst_object_unref (p.pad);
    if (reader)
      gst_object_unref (reader);
    gw_whep_pending_free (pending);
    for (GSource *s : { answer_timer, disconnect_timer }) {
      if (s) {
        g_source_destroy (s);
        g_source_unref (s);
      }
    }
  }
};
typedef std::shared_ptr<Viewer> ViewerPtr;

enum JobKind
{
  JOB_ANSWER,
  JOB_READER_ERROR,
  JOB_CONNECTION_STATE,
  JOB_CLIENT_GONE,
  JOB_ANSWER_TIMEOUT,
  JOB_DISCONNECT_TIMEOUT,
};

/* Work for the HTTP thread about one viewer. Also the user data of the
 * reader's signals and of the offer promise (which make new jobs from it). */
struct Job
{
  GWeakRef sink;
  std::string id;
  JobKind kind;
  GstStructure *reply = nullptr; /* JOB_ANSWER; NULL: no reply */
  GError *error = nullptr;       /* JOB_READER_ERROR */
  gint state = 0;                /* JOB_CONNECTION_STATE */

  Job (GwSink *self, const std::string &viewer_id, JobKind k) : id (viewer_id), kind (k)
  {
    g_weak_ref_init (&sink, self);
  }
  ~Job ()
  {
    g_weak_ref_clear (&sink);
    if (reply)
      gst_structure_free (reply);
    g_clear_error (&error);
  }
};

} /* namespace */

struct GwSinkPrivate
{
  /* Held for a whole pad request: gst-launch links the pads of a source
   * from several streaming threads at once, and two requests must not pick
   * the same free name (whose elements would then collide). Taken before
   * `lock`, never while it is held. */
  std::recursive_mutex request_lock;
  std::mutex lock;

  /* Properties, under lock. */
  std::string address = DEFAULT_ADDRESS;
  guint port = DEFAULT_PORT;
  std::string stun_server, turn_servers, ice_addresses;
  guint min_port = 0, max_port = 0, max_viewers = 0;
  bool sync = false;

  /* Under lock. */
  std::vector<InputPtr> inputs;
  std::map<std::string, ViewerPtr> viewers; /* pending and joined */
  guint n_joined = 0;
  guint bound_port = 0;
  GwWhepServer *http = nullptr; /* while serving: set and cleared by start/stop */
  bool accepting = false;
};

struct _GwSink
{
  GstBin parent;
  GwSinkPrivate *priv;
};

G_DEFINE_TYPE (GwSink, gw_sink, GST_TYPE_BIN)

enum
{
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_BOUND_PORT,
  PROP_STUN_SERVER,
  PROP_TURN_SERVERS,
  PROP_ICE_ADDRESSES,
  PROP_MIN_PORT,
  PROP_MAX_PORT,
  PROP_MAX_VIEWERS,
  PROP_VIEWERS,
  PROP_SYNC,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

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
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEWERS]);
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
static GSource *
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
    detached |= gw_fanout_detach (p.input->fanout, p.pad, live ? v->reader : NULL) != FALSE;
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
    if (!gw_fanout_attach (p.input->fanout, p.pad))
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

static gboolean
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
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BOUND_PORT]);
  return TRUE;
}

static void
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
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BOUND_PORT]);
  GST_INFO_OBJECT (self, "HTTP server stopped");
}

/* ------------------------------------------------------------ element */

static GstPad *
gw_sink_request_new_pad (GstElement *element, GstPadTemplate *templ, const gchar *req_name,
                         const GstCaps *caps)
{
  GwSink *self = GW_SINK (element);
  GwSinkPrivate *priv = self->priv;
  std::lock_guard<std::recursive_mutex> serialise (priv->request_lock);
  const bool video = g_str_equal (GST_PAD_TEMPLATE_NAME_TEMPLATE (templ), "video_%u");
  bool sync;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    sync = priv->sync;
  }

  std::string name;
  if (req_name) {
    name = req_name;
  } else {
    for (guint i = 0; i < 10000 && name.empty (); i++) {
      std::string candidate = std::string (video ? "video_" : "audio_") + std::to_string (i);
      GstPad *existing = gst_element_get_static_pad (element, candidate.c_str ());
      if (existing)
        gst_object_unref (existing);
      else
        name = candidate;
    }
  }
  GstPad *existing = gst_element_get_static_pad (element, name.c_str ());
  if (name.empty () || existing) {
    if (existing)
      gst_object_unref (existing);
    GST_WARNING_OBJECT (self, "pad %s already exists", name.c_str ());
    return NULL;
  }

  auto input = std::make_shared<Input> ();
  input->name = name;
  input->video = video;
  const char *factories[] = { "capsfilter", "clocksync", "fakesink" };
  GstElement *made[3];
  for (int i = 0; i < 3; i++) {
    std::string ename = name + "_" + factories[i];
    made[i] = gst_element_factory_make (factories[i], ename.c_str ());
    if (!made[i]) {
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("element %s is missing", factories[i]),
                         (NULL));
      for (int j = 0; j < i; j++)
        gst_object_unref (gst_object_ref_sink (made[j]));
      return NULL;
    }
  }
  GstElement *capsfilter = made[0], *clocksync = made[1], *fakesink = made[2];
  g_autoptr (GstCaps) tcaps = gst_pad_template_get_caps (templ);
  g_object_set (capsfilter, "caps", tcaps, NULL);
  g_object_set (clocksync, "sync", sync, NULL);
  g_object_set (fakesink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, "qos", FALSE,
                NULL);
  gst_bin_add_many (GST_BIN (self), capsfilter, clocksync, fakesink, NULL);
  gst_element_link (capsfilter, clocksync);
  /* Video gets its own h264parse repeating SPS/PPS before every keyframe:
   * an upstream parser with its default config-interval sends them once,
   * and a viewer joining later could never decode. */
  GstElement *parser = NULL;
  if (video) {
    std::string pname = name + "_h264parse";
    parser = gst_element_factory_make ("h264parse", pname.c_str ());
    if (parser) {
      g_object_set (parser, "config-interval", -1, NULL);
      gst_bin_add (GST_BIN (self), parser);
      gst_element_link (parser, capsfilter);
    }
  }

  std::string tee_name = name + "_tee";
  g_autoptr (GstPad) upstream = gst_element_get_static_pad (clocksync, "src");
  input->fanout = gw_fanout_new (GST_BIN (self), upstream, tee_name.c_str ());
  GstElement *tee = gst_bin_get_by_name (GST_BIN (self), tee_name.c_str ());
  for (GstElement *e : { capsfilter, clocksync, fakesink })
    input->elements.push_back (GST_ELEMENT (gst_object_ref (e)));
  if (parser)
    input->elements.push_back (GST_ELEMENT (gst_object_ref (parser)));
  if (tee)
    input->elements.push_back (tee); /* the ref from get_by_name */
  if (!input->fanout) {
    for (GstElement *e : input->elements) {
      if (gst_object_has_as_parent (GST_OBJECT (e), GST_OBJECT (self)))
        gst_bin_remove (GST_BIN (self), e);
    }
    return NULL;
  }

  gst_element_sync_state_with_parent (fakesink);
  g_autoptr (GstPad) fakesink_pad = gst_element_get_static_pad (fakesink, "sink");
  gw_fanout_attach (input->fanout, fakesink_pad);
  gst_element_sync_state_with_parent (clocksync);
  gst_element_sync_state_with_parent (capsfilter);
  if (parser)
    gst_element_sync_state_with_parent (parser);

  g_autoptr (GstPad) target = gst_element_get_static_pad (parser ? parser : capsfilter, "sink");
  GstPad *ghost = gst_ghost_pad_new_from_template (name.c_str (), target, templ);
  input->ghost = ghost;
  GST_OBJECT_LOCK (element);
  const bool running
      = GST_STATE (element) > GST_STATE_NULL || GST_STATE_PENDING (element) > GST_STATE_NULL;
  GST_OBJECT_UNLOCK (element);
  if (running)
    gst_pad_set_active (ghost, TRUE);
  {
    std::lock_guard<std::mutex> g (priv->lock);
    priv->inputs.push_back (input);
  }
  gst_element_add_pad (element, ghost);
  GST_DEBUG_OBJECT (self, "new input %s", name.c_str ());
  return ghost;
}

static void
gw_sink_release_pad (GstElement *element, GstPad *pad)
{
  GwSink *self = GW_SINK (element);
  InputPtr input;
  {
    std::lock_guard<std::mutex> g (self->priv->lock);
    auto &inputs = self->priv->inputs;
    for (auto it = inputs.begin (); it != inputs.end (); ++it) {
      if ((*it)->ghost == pad) {
        input = *it;
        inputs.erase (it);
        break;
      }
    }
  }
  if (input) {
    /* Viewers already watching lose this stream; later viewers never see it. */
    for (GstElement *e : input->elements) {
      gst_element_set_state (e, GST_STATE_NULL);
      if (gst_object_has_as_parent (GST_OBJECT (e), GST_OBJECT (self)))
        gst_bin_remove (GST_BIN (self), e);
    }
  }
  gst_element_remove_pad (element, pad);
}

/* A reader's trouble stays with that viewer: never on the pipeline's bus. */
static void
gw_sink_handle_message (GstBin *bin, GstMessage *message)
{
  GwSink *self = GW_SINK (bin);
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
    GstObject *child = GST_MESSAGE_SRC (message);
    while (child && GST_OBJECT_PARENT (child) && GST_OBJECT_PARENT (child) != GST_OBJECT (bin))
      child = GST_OBJECT_PARENT (child);
    if (child && GW_IS_READER_BIN (child)) {
      std::string id;
      {
        std::lock_guard<std::mutex> g (self->priv->lock);
        for (auto &it : self->priv->viewers)
          if (it.second->reader == GST_ELEMENT (child))
            id = it.first;
      }
      GError *err = NULL;
      gst_message_parse_error (message, &err, NULL);
      GST_WARNING_OBJECT (self, "error in viewer %s: %s", id.c_str (), err->message);
      if (!id.empty ()) {
        Job *job = new Job (self, id, JOB_READER_ERROR);
        job->error = g_steal_pointer (&err);
        post_job (self, job, 0, false);
      }
      g_clear_error (&err);
      gst_message_unref (message);
      return;
    }
  }
  GST_BIN_CLASS (gw_sink_parent_class)->handle_message (bin, message);
}

static GstStateChangeReturn
gw_sink_change_state (GstElement *element, GstStateChange transition)
{
  GwSink *self = GW_SINK (element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY)
    gw_reader_bin_prepare ();
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !start_server (self))
    return GST_STATE_CHANGE_FAILURE;

  GstStateChangeReturn ret
      = GST_ELEMENT_CLASS (gw_sink_parent_class)->change_state (element, transition);

  if ((transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE)
      || transition == GST_STATE_CHANGE_READY_TO_NULL)
    stop_server (self);
  return ret;
}

static void
gw_sink_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GwSink *self = GW_SINK (object);
  GwSinkPrivate *priv = self->priv;
  std::vector<GstElement *> clocksyncs;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    const char *s = G_VALUE_HOLDS_STRING (value) ? g_value_get_string (value) : NULL;
    switch (prop_id) {
    case PROP_ADDRESS:
      priv->address = s ? s : DEFAULT_ADDRESS;
      break;
    case PROP_PORT:
      priv->port = g_value_get_uint (value);
      break;
    case PROP_STUN_SERVER:
      priv->stun_server = s ? s : "";
      break;
    case PROP_TURN_SERVERS:
      priv->turn_servers = s ? s : "";
      break;
    case PROP_ICE_ADDRESSES:
      priv->ice_addresses = s ? s : "";
      break;
    case PROP_MIN_PORT:
      priv->min_port = g_value_get_uint (value);
      break;
    case PROP_MAX_PORT:
      priv->max_port = g_value_get_uint (value);
      break;
    case PROP_MAX_VIEWERS:
      priv->max_viewers = g_value_get_uint (value);
      break;
    case PROP_SYNC:
      priv->sync = g_value_get_boolean (value);
      for (const InputPtr &in : priv->inputs)
        clocksyncs.push_back (GST_ELEMENT (gst_object_ref (in->elements[1])));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  }
  for (GstElement *c : clocksyncs) {
    g_object_set (c, "sync", g_value_get_boolean (value), NULL);
    gst_object_unref (c);
  }
}

static void
gw_sink_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GwSink *self = GW_SINK (object);
  GwSinkPrivate *priv = self->priv;
  std::lock_guard<std::mutex> g (priv->lock);
  auto str = [] (const std::string &s) { return s.empty () ? NULL : s.c_str (); };
  switch (prop_id) {
  case PROP_ADDRESS:
    g_value_set_string (value, priv->address.c_str ());
    break;
  case PROP_PORT:
    g_value_set_uint (value, priv->port);
    break;
  case PROP_BOUND_PORT:
    g_value_set_uint (value, priv->bound_port);
    break;
  case PROP_STUN_SERVER:
    g_value_set_string (value, str (priv->stun_server));
    break;
  case PROP_TURN_SERVERS:
    g_value_set_string (value, str (priv->turn_servers));
    break;
  case PROP_ICE_ADDRESSES:
    g_value_set_string (value, str (priv->ice_addresses));
    break;
  case PROP_MIN_PORT:
    g_value_set_uint (value, priv->min_port);
    break;
  case PROP_MAX_PORT:
    g_value_set_uint (value, priv->max_port);
    break;
  case PROP_MAX_VIEWERS:
    g_value_set_uint (value, priv->max_viewers);
    break;
  case PROP_VIEWERS:
    g_value_set_uint (value, priv->n_joined);
    break;
  case PROP_SYNC:
    g_value_set_boolean (value, priv->sync);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gw_sink_dispose (GObject *object)
{
  stop_server (GW_SINK (object));
  G_OBJECT_CLASS (gw_sink_parent_class)->dispose (object);
}

static void
gw_sink_finalize (GObject *object)
{
  delete GW_SINK (object)->priv;
  G_OBJECT_CLASS (gw_sink_parent_class)->finalize (object);
}

static void
gw_sink_class_init (GwSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBinClass *bin_class = GST_BIN_CLASS (klass);

  gobject_class->set_property = gw_sink_set_property;
  gobject_class->get_property = gw_sink_get_property;
  gobject_class->dispose = gw_sink_dispose;
  gobject_class->finalize = gw_sink_finalize;
  element_class->request_new_pad = gw_sink_request_new_pad;
  element_class->release_pad = gw_sink_release_pad;
  element_class->change_state = gw_sink_change_state;
  bin_class->handle_message = gw_sink_handle_message;

  const GParamFlags rw = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags ro = (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  const GParamFlags rw_live = (GParamFlags)(rw | GST_PARAM_MUTABLE_PLAYING);

  properties[PROP_ADDRESS] = g_param_spec_string (
      "address", "Listen address",
      "Local IP address the HTTP server (player page and WHEP) listens on: 0.0.0.0 for "
      "every IPv4 interface, :: for every interface, 127.0.0.1 for this host only. "
      "Read when the element starts (NULL to READY)",
      DEFAULT_ADDRESS, rw);
  properties[PROP_PORT] = g_param_spec_uint (
      "port", "HTTP port",
      "TCP port of the HTTP server; open http://HOST:PORT/ to watch. 0 picks a free port "
      "(read it back from bound-port). Read when the element starts; a port in use "
      "fails the start with an error",
      0, 65535, DEFAULT_PORT, rw);
  properties[PROP_BOUND_PORT] = g_param_spec_uint (
      "bound-port", "Bound port",
      "The TCP port the HTTP server listens on while the element is READY or above "
      "(0 when stopped)",
      0, 65535, 0, ro);
  properties[PROP_STUN_SERVER] = g_param_spec_string (
      "stun-server", "STUN server",
      "STUN server as stun://host:port, so viewers behind NAT learn this host's public "
      "address (unset: host candidates only). Applies to viewers that join afterwards",
      NULL, rw_live);
  properties[PROP_TURN_SERVERS] = g_param_spec_string (
      "turn-servers", "TURN servers",
      "Comma-separated TURN relays as turn(s)://user:password@host:port, for viewers "
      "that cannot reach this host directly. Applies to viewers that join afterwards",
      NULL, rw_live);
  properties[PROP_ICE_ADDRESSES] = g_param_spec_string (
      "ice-addresses", "ICE addresses",
      "Comma-separated local IP addresses offered to viewers for media (unset or empty: "
      "every non-loopback address). Applies to viewers that join afterwards",
      NULL, rw_live);
  properties[PROP_MIN_PORT] = g_param_spec_uint (
      "min-port", "Minimum UDP port",
      "Lowest local UDP port for media, e.g. to match a firewall rule (0: any). Applies "
      "to viewers that join afterwards",
      0, 65535, 0, rw_live);
  properties[PROP_MAX_PORT] = g_param_spec_uint (
      "max-port", "Maximum UDP port",
      "Highest local UDP port for media (0: any). Applies to viewers that join "
      "afterwards",
      0, 65535, 0, rw_live);
  properties[PROP_MAX_VIEWERS] = g_param_spec_uint (
      "max-viewers", "Maximum viewers",
      "Most viewers at once, counting those still connecting; one more gets HTTP 503 "
      "(0: no limit)",
      0, G_MAXUINT, 0, rw_live);
  properties[PROP_VIEWERS]
      = g_param_spec_uint ("viewers", "Viewers",
                           "Viewers that received an answer and have not left (see also the "
                           "\"gwsink-viewer\" element messages)",
                           0, G_MAXUINT, 0, ro);
  properties[PROP_SYNC] = g_param_spec_boolean (
      "sync", "Sync",
      "Send each buffer at its clock time. Turn on for non-live inputs such as files, "
      "which are otherwise sent as fast as they are read; leave off for live inputs "
      "(cameras, is-live=true), which are paced already and would only be delayed",
      FALSE, rw_live);
  g_object_class_install_properties (gobject_class, N_PROPS, properties);

  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  gst_element_class_set_static_metadata (
      element_class, "WebRTC (WHEP) server sink", "Sink/Network/WebRTC",
      "Serves its encoded inputs (H.264 on video_%u; Opus, mu-law or A-law on audio_%u) "
      "to browsers over WebRTC without re-encoding. Open http://HOST:PORT/ for the player "
      "page; WHEP clients POST an SDP offer to /whep (201 + answer, session at the "
      "Location; PATCH trickles ICE, DELETE ends it). Posts \"gwsink-viewer\" element "
      "messages (event=joined/left, id, viewers); a failing viewer never stops the "
      "pipeline",
      "gst-webrtc-gateway");
  GST_DEBUG_CATEGORY_INIT (gw_sink_debug, "gwsink", 0, "gw WebRTC (WHEP) server sink");
}

static void
gw_sink_init (GwSink *self)
{
  self->priv = new GwSinkPrivate ();
}
