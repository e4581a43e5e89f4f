/* gwreaderbin: one WebRTC viewer. See gwreaderbin.h for the contract.
 *
 * Per request pad:  ghost ─> queue (leaky) ─> gwkeyframegate ─> payloader ─> webrtcbin
 * Attached by a stream object (gwstream.h), the ghost gets the stream's
 * events only; once connected, either the stream's shared sender sends the
 * packets and this path stays idle, or the stream's tee feeds the ghost.
 * The payloader and its webrtcbin pad are added when the session is
 * negotiated, once the input caps are known; the gate stays closed until the
 * peer connection is up, then lets the stream start on a keyframe.
 *
 * This file holds the element: its type, request pads, properties and
 * signals, the peer-connection state, and the bin overrides. Payloading and
 * the answer/offer flows are in gwreadernegotiate.cpp, the hand-over to the
 * shared sender or the stream's tee once connected in gwreadershared.cpp, the
 * ICE settings in gwreaderice.cpp; what they share, which calls which, and
 * the locking rules, in gwreaderbin-private.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwreaderbin-private.h"

GST_DEBUG_CATEGORY_STATIC (gw_reader_bin_debug);

GstDebugCategory *
gw_reader_bin_debug_category (void)
{
  return gw_reader_bin_debug;
}

/* The quark's name is stringified: clang-format must not space it out. */
/* clang-format off */
G_DEFINE_QUARK (gw-reader-error-quark, gw_reader_error)
/* clang-format on */

#define DEFAULT_MAX_QUEUE_TIME (500 * GST_MSECOND)
#define DEFAULT_GATHER_TIMEOUT 1500
#define DEFAULT_CAPS_TIMEOUT 10000

enum
{
  PROP_0,
  PROP_STUN_SERVER,
  PROP_TURN_SERVERS,
  PROP_ICE_ADDRESSES,
  PROP_MIN_PORT,
  PROP_MAX_PORT,
  PROP_MAX_QUEUE_TIME,
  PROP_GATHER_TIMEOUT,
  PROP_CAPS_TIMEOUT,
  PROP_SHARED_SENDER,
  PROP_CONNECTION_STATE,
};

enum
{
  SIGNAL_HANDLE_OFFER,
  SIGNAL_CREATE_OFFER,
  SIGNAL_SET_ANSWER,
  SIGNAL_ADD_ICE_CANDIDATE,
  SIGNAL_ICE_CANDIDATE,
  SIGNAL_READER_ERROR,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GwReaderBin, gw_reader_bin, GST_TYPE_BIN)

/* ---------------------------------------------------------------- streams */

static void
stream_free (gpointer data)
{
  Stream *st = static_cast<Stream *> (data);
  g_free (st->name);
  gst_clear_caps (&st->caps);
  gst_clear_caps (&st->rtp_caps);
  gst_clear_object (&st->webrtc_pad);
  gst_clear_object (&st->queue);
  gst_clear_object (&st->gate);
  gst_clear_object (&st->pay);
  if (st->sender)
    gw_sender_unref (st->sender);
  if (st->stream)
    gw_stream_unref (st->stream);
  g_free (st);
}

/* The peer connection is gone: every gate closes (the gates are atomic). */
static void
close_gates (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  for (guint i = 0; i < self->streams->len; i++) {
    Stream *st = static_cast<Stream *> (g_ptr_array_index (self->streams, i));
    if (st->pay)
      gw_keyframe_gate_set_mode (GW_KEYFRAME_GATE (st->gate), GW_GATE_CLOSED);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
on_queue_overrun (GstElement *queue, gpointer user_data)
{
  /* The viewer is slower than the stream: what follows the dropped data
   * cannot be decoded, so restart this stream on the next keyframe. */
  GwKeyframeGate *gate = GW_KEYFRAME_GATE (user_data);
  if (gw_keyframe_gate_get_mode (gate) == GW_GATE_OPEN) {
    GST_INFO_OBJECT (queue, "viewer too slow, dropping until the next keyframe");
    gw_keyframe_gate_set_mode (gate, GW_GATE_WAITING);
  }
}

static void
negotiate_async (GstElement *element, gpointer user_data)
{
  gw_reader_bin_try_negotiate (GW_READER_BIN (element));
}

static GstPadProbeReturn
on_input_event (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;

  Stream *st = static_cast<Stream *> (user_data);
  GwReaderBin *self = st->self;
  GstCaps *caps;
  gst_event_parse_caps (event, &caps);

  GST_OBJECT_LOCK (self);
  gst_caps_replace (&st->caps, caps);
  gboolean waiting = self->neg == NEG_WAIT_CAPS;
  GST_OBJECT_UNLOCK (self);

  /* Never negotiate on the streaming thread. */
  if (waiting)
    gst_element_call_async (GST_ELEMENT (self), negotiate_async, NULL, NULL);
  return GST_PAD_PROBE_OK;
}

static GstPad *
gw_reader_bin_request_new_pad (GstElement *element, GstPadTemplate *templ, const gchar *name,
                               const GstCaps *caps)
{
  GwReaderBin *self = GW_READER_BIN (element);
  gboolean video = g_str_equal (GST_PAD_TEMPLATE_NAME_TEMPLATE (templ), "video_%u");

  GST_OBJECT_LOCK (self);
  if (self->neg != NEG_IDLE && self->neg != NEG_WAIT_CAPS) {
    GST_OBJECT_UNLOCK (self);
    GST_WARNING_OBJECT (self, "cannot add a stream once the session is negotiated");
    return NULL;
  }
  g_autofree gchar *pad_name = name ? g_strdup (name)
                                    : g_strdup_printf ("%s_%u", video ? "video" : "audio",
                                                       video ? self->next_video : self->next_audio);
  if (video)
    self->next_video++;
  else
    self->next_audio++;
  guint64 max_time = self->max_queue_time;
  GST_OBJECT_UNLOCK (self);

  GstElement *queue = gst_element_factory_make ("queue", NULL);
  GstElement *gate = GST_ELEMENT (g_object_new (GW_TYPE_KEYFRAME_GATE, NULL));
  if (!queue) {
    gst_object_unref (gst_object_ref_sink (gate));
    return NULL;
  }
  /* Leaky downstream: a slow viewer loses old data, the tee never waits. */
  g_object_set (queue, "leaky", 2, "max-size-buffers", 0, "max-size-bytes", 0, "max-size-time",
                max_time, "silent", FALSE, NULL);
  g_signal_connect_object (queue, "overrun", G_CALLBACK (on_queue_overrun), gate, (GConnectFlags)0);
  g_mutex_lock (&self->structure_lock);
  gst_bin_add_many (GST_BIN (self), queue, gate, NULL);
  gst_element_link (queue, gate);

  g_autoptr (GstPad) target = gst_element_get_static_pad (queue, "sink");
  GstPad *ghost = gst_ghost_pad_new_from_template (pad_name, target, templ);
  Stream *st = g_new0 (Stream, 1);
  st->self = self;
  st->name = g_strdup (pad_name);
  st->video = video;
  st->ghost = ghost;
  st->queue = GST_ELEMENT (gst_object_ref (queue));
  st->gate = GST_ELEMENT (gst_object_ref (gate));
  gst_pad_add_probe (target, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_input_event, st, NULL);
  /* A stream object attaching us asks first (gwstream.h). */
  gst_pad_add_probe (ghost, GST_PAD_PROBE_TYPE_QUERY_BOTH, gw_reader_bin_on_input_query, st, NULL);
  GST_OBJECT_LOCK (self);
  g_ptr_array_add (self->streams, st);
  GST_OBJECT_UNLOCK (self);

  gst_element_sync_state_with_parent (gate);
  gst_element_sync_state_with_parent (queue);
  g_mutex_unlock (&self->structure_lock);
  gst_pad_set_active (ghost, TRUE);
  gst_element_add_pad (element, ghost);
  GST_DEBUG_OBJECT (self, "new stream %s", pad_name);
  return ghost;
}

static void
gw_reader_bin_release_pad (GstElement *element, GstPad *pad)
{
  GwReaderBin *self = GW_READER_BIN (element);
  Stream *st = NULL;

  GST_OBJECT_LOCK (self);
  for (guint i = 0; i < self->streams->len; i++) {
    Stream *s = static_cast<Stream *> (g_ptr_array_index (self->streams, i));
    if (s->ghost == pad) {
      st = static_cast<Stream *> (g_ptr_array_steal_index (self->streams, i));
      break;
    }
  }
  GST_OBJECT_UNLOCK (self);
  if (!st)
    return;

  if (st->sender_id && st->sender)
    gw_sender_remove (st->sender, st->sender_id);
  st->sender_id = 0;

  GstElement *elements[] = { st->queue, st->gate, st->pay };
  for (GstElement *e : elements) {
    if (!e || !gst_object_has_as_parent (GST_OBJECT (e), GST_OBJECT (self)))
      continue;
    gst_element_set_locked_state (e, TRUE);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (self), e);
  }
  if (st->webrtc_pad
      && gst_object_has_as_parent (GST_OBJECT (st->webrtc_pad), GST_OBJECT (self->webrtcbin)))
    gst_element_release_request_pad (self->webrtcbin, st->webrtc_pad);
  gst_pad_set_active (pad, FALSE);
  gst_element_remove_pad (element, pad);
  stream_free (st);
}

/* ---------------------------------------------------------------- ICE */

void
gw_reader_bin_prepare (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    /* webrtcbin's DTLS elements share one generated certificate per
     * process, made when the first of them is created. */
    GstElement *dec = gst_element_factory_make ("dtlsdec", NULL);
    if (dec)
      gst_object_unref (gst_object_ref_sink (dec));
    GST_DEBUG ("DTLS certificate ready");
    g_once_init_leave (&once, 1);
  }
}

static void
on_ice_candidate (GstElement *webrtc, guint mline, gchar *candidate, GwReaderBin *self)
{
  g_signal_emit (self, signals[SIGNAL_ICE_CANDIDATE], 0, mline, candidate);
}

static void
on_connection_state (GstElement *webrtc, GParamSpec *pspec, GwReaderBin *self)
{
  GstWebRTCPeerConnectionState state;
  g_object_get (webrtc, "connection-state", &state, NULL);
  GST_OBJECT_LOCK (self);
  gboolean changed = self->connection_state != state;
  self->connection_state = state;
  GST_OBJECT_UNLOCK (self);
  if (!changed)
    return;
  GST_INFO_OBJECT (self, "peer connection %d", state);

  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) {
    gw_reader_bin_start_sending (self);
  } else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED
             || state == GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED) {
    gw_reader_bin_stop_shared (self);
    close_gates (self);
  }

  g_object_notify (G_OBJECT (self), "connection-state");

  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
    GError *err = g_error_new (GW_READER_ERROR, GW_READER_ERROR_CONNECTION,
                               "the peer connection failed (ICE or DTLS)");
    g_signal_emit (self, signals[SIGNAL_READER_ERROR], 0, err);
    g_error_free (err);
  }
}

/* ---------------------------------------------------------------- bin */

/* webrtcbin puts a clocksync (sync=true) in front of each send stream: it
 * would hold every packet until its running time plus the pipeline latency
 * (2 s behind an rtspsrc with its default latency), overflowing our queue
 * and adding delay to a relay that should send what it gets at once. */
static void
free_weak_ref (gpointer data, GClosure *closure)
{
  GWeakRef *ref = static_cast<GWeakRef *> (data);
  g_weak_ref_clear (ref);
  g_free (ref);
}

/* ... and its DTLS-SRTP encoder tells when the keys the shared sender needs
 * are set ("on-key-set", emitted on the DTLS thread). */
static void
gw_reader_bin_deep_element_added (GstBin *bin, GstBin *sub_bin, GstElement *child)
{
  GstElementFactory *factory = gst_element_get_factory (child);
  if (factory && g_str_equal (GST_OBJECT_NAME (factory), "clocksync"))
    g_object_set (child, "sync", FALSE, NULL);
  if (g_signal_lookup ("on-key-set", G_OBJECT_TYPE (child))) {
    GWeakRef *ref = g_new0 (GWeakRef, 1);
    g_weak_ref_init (ref, bin);
    g_signal_connect_data (child, "on-key-set", G_CALLBACK (gw_reader_bin_on_key_set), ref,
                           free_weak_ref, (GConnectFlags)0);
  }
  GST_BIN_CLASS (gw_reader_bin_parent_class)->deep_element_added (bin, sub_bin, child);
}

static void
gw_reader_bin_handle_message (GstBin *bin, GstMessage *message)
{
  GwReaderBin *self = GW_READER_BIN (bin);
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
    /* One viewer's trouble is that viewer's: report it on our signal and
     * keep it off the pipeline's bus, which would stop every viewer. */
    GError *err = NULL;
    g_autofree gchar *dbg = NULL;
    gst_message_parse_error (message, &err, &dbg);
    GST_WARNING_OBJECT (self, "error from %s: %s (%s)", GST_MESSAGE_SRC_NAME (message),
                        err->message, GST_STR_NULL (dbg));
    GError *out = g_error_new (GW_READER_ERROR, GW_READER_ERROR_CONNECTION, "%s", err->message);
    g_signal_emit (self, signals[SIGNAL_READER_ERROR], 0, out);
    g_error_free (out);
    g_error_free (err);
    gst_message_unref (message);
    return;
  }
  GST_BIN_CLASS (gw_reader_bin_parent_class)->handle_message (bin, message);
}

static void
gw_reader_bin_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GwReaderBin *self = GW_READER_BIN (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_STUN_SERVER:
    g_free (self->stun_server);
    self->stun_server = g_value_dup_string (value);
    break;
  case PROP_TURN_SERVERS:
    g_free (self->turn_servers);
    self->turn_servers = g_value_dup_string (value);
    break;
  case PROP_ICE_ADDRESSES:
    g_free (self->ice_addresses);
    self->ice_addresses = g_value_dup_string (value);
    break;
  case PROP_MIN_PORT:
    self->min_port = g_value_get_uint (value);
    break;
  case PROP_MAX_PORT:
    self->max_port = g_value_get_uint (value);
    break;
  case PROP_MAX_QUEUE_TIME:
    self->max_queue_time = g_value_get_uint64 (value);
    break;
  case PROP_GATHER_TIMEOUT:
    self->gather_timeout = g_value_get_uint (value);
    break;
  case PROP_CAPS_TIMEOUT:
    self->caps_timeout = g_value_get_uint (value);
    break;
  case PROP_SHARED_SENDER:
    self->shared_sender = g_value_get_boolean (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gw_reader_bin_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GwReaderBin *self = GW_READER_BIN (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_STUN_SERVER:
    g_value_set_string (value, self->stun_server);
    break;
  case PROP_TURN_SERVERS:
    g_value_set_string (value, self->turn_servers);
    break;
  case PROP_ICE_ADDRESSES:
    g_value_set_string (value, self->ice_addresses);
    break;
  case PROP_MIN_PORT:
    g_value_set_uint (value, self->min_port);
    break;
  case PROP_MAX_PORT:
    g_value_set_uint (value, self->max_port);
    break;
  case PROP_MAX_QUEUE_TIME:
    g_value_set_uint64 (value, self->max_queue_time);
    break;
  case PROP_GATHER_TIMEOUT:
    g_value_set_uint (value, self->gather_timeout);
    break;
  case PROP_CAPS_TIMEOUT:
    g_value_set_uint (value, self->caps_timeout);
    break;
  case PROP_SHARED_SENDER:
    g_value_set_boolean (value, self->shared_sender);
    break;
  case PROP_CONNECTION_STATE:
    g_value_set_enum (value, self->connection_state);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* Before webrtcbin closes its sockets, the senders stop using them. The
 * children are never linked while GstBin walks them (see structure_lock). */
static GstStateChangeReturn
gw_reader_bin_change_state (GstElement *element, GstStateChange transition)
{
  GwReaderBin *self = GW_READER_BIN (element);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    if (!gw_reader_bin_close_calls (self, 2 * G_USEC_PER_SEC))
      GST_WARNING_OBJECT (self, "stopping with a webrtcbin call unanswered after 2 s");
    gw_reader_bin_stop_shared (self);
  }
  g_mutex_lock (&self->structure_lock);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    self->stopping = TRUE;
  GstStateChangeReturn ret
      = GST_ELEMENT_CLASS (gw_reader_bin_parent_class)->change_state (element, transition);
  g_mutex_unlock (&self->structure_lock);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    gw_reader_bin_stop_negotiation (self);
  else if (transition == GST_STATE_CHANGE_READY_TO_NULL)
    gw_reader_bin_release_calls (self);
  return ret;
}

static void
gw_reader_bin_dispose (GObject *object)
{
  GwReaderBin *self = GW_READER_BIN (object);
  gw_reader_bin_stop_shared (self);
  gw_reader_bin_cancel_timer (self);
  if (self->webrtcbin)
    g_signal_handlers_disconnect_by_data (self->webrtcbin, self);
  GST_OBJECT_LOCK (self);
  gst_clear_object (&self->keyed_encoder);
  GST_OBJECT_UNLOCK (self);
  G_OBJECT_CLASS (gw_reader_bin_parent_class)->dispose (object);
}

/* Readers alive in the process, for gw_reader_bin_wait_all_gone. */
static GMutex alive_lock;
static GCond alive_cond;
static guint alive;

gboolean
gw_reader_bin_wait_all_gone (gint64 timeout_us)
{
  gint64 end = g_get_monotonic_time () + timeout_us;
  g_mutex_lock (&alive_lock);
  while (alive > 0 && g_cond_wait_until (&alive_cond, &alive_lock, end))
    ;
  gboolean gone = alive == 0;
  g_mutex_unlock (&alive_lock);
  return gone;
}

static void
gw_reader_bin_finalize (GObject *object)
{
  GwReaderBin *self = GW_READER_BIN (object);
  if (self->promise) {
    /* Nobody will answer any more: tell the caller. */
    gst_promise_expire (self->promise);
    gst_promise_unref (self->promise);
  }
  if (self->pending_offer)
    gst_sdp_message_free (self->pending_offer);
  g_ptr_array_unref (self->streams);
  g_ptr_array_unref (self->dropped);
  gw_reader_bin_release_calls (self);
  g_ptr_array_unref (self->calls);
  g_cond_clear (&self->calls_cond);
  gst_clear_object (&self->webrtcbin);
  g_mutex_clear (&self->structure_lock);
  g_free (self->stun_server);
  g_free (self->turn_servers);
  g_free (self->ice_addresses);
  G_OBJECT_CLASS (gw_reader_bin_parent_class)->finalize (object);
  g_mutex_lock (&alive_lock);
  if (--alive == 0)
    g_cond_broadcast (&alive_cond);
  g_mutex_unlock (&alive_lock);
}

static void
gw_reader_bin_class_init (GwReaderBinClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBinClass *bin_class = GST_BIN_CLASS (klass);

  gobject_class->set_property = gw_reader_bin_set_property;
  gobject_class->get_property = gw_reader_bin_get_property;
  gobject_class->dispose = gw_reader_bin_dispose;
  gobject_class->finalize = gw_reader_bin_finalize;
  element_class->request_new_pad = gw_reader_bin_request_new_pad;
  element_class->change_state = gw_reader_bin_change_state;
  element_class->release_pad = gw_reader_bin_release_pad;
  bin_class->handle_message = gw_reader_bin_handle_message;
  bin_class->deep_element_added = gw_reader_bin_deep_element_added;

  const GParamFlags rw
      = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  g_object_class_install_property (
      gobject_class, PROP_STUN_SERVER,
      g_param_spec_string (
          "stun-server", "STUN server",
          "STUN server as stun://host:port, used to find this host's public address "
          "(unset: host candidates only)",
          NULL, rw));
  g_object_class_install_property (
      gobject_class, PROP_TURN_SERVERS,
      g_param_spec_string (
          "turn-servers", "TURN servers",
          "Comma-separated TURN servers as turn(s)://user:password@host:port, relays for "
          "viewers behind strict NATs",
          NULL, rw));
  g_object_class_install_property (
      gobject_class, PROP_ICE_ADDRESSES,
      g_param_spec_string ("ice-addresses", "ICE addresses",
                           "Comma-separated local IP addresses ICE may offer to the viewer "
                           "(unset or empty: every non-loopback address of the host)",
                           NULL, rw));
  g_object_class_install_property (gobject_class, PROP_MIN_PORT,
                                   g_param_spec_uint ("min-port", "Minimum UDP port",
                                                      "Lowest local UDP port for media (0: any)", 0,
                                                      65535, 0, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_PORT,
                                   g_param_spec_uint ("max-port", "Maximum UDP port",
                                                      "Highest local UDP port for media (0: any)",
                                                      0, 65535, 0, rw));
  g_object_class_install_property (
      gobject_class, PROP_MAX_QUEUE_TIME,
      g_param_spec_uint64 (
          "max-queue-time", "Maximum queue time",
          "Most media (ns) buffered for a slow viewer; older data is dropped and the "
          "viewer restarts on the next keyframe",
          10 * GST_MSECOND, 10 * GST_SECOND, DEFAULT_MAX_QUEUE_TIME, rw));
  g_object_class_install_property (
      gobject_class, PROP_GATHER_TIMEOUT,
      g_param_spec_uint ("gather-timeout", "ICE gathering timeout",
                         "Milliseconds an answer waits for ICE gathering to complete before it is "
                         "sent with the candidates found so far",
                         0, 60000, DEFAULT_GATHER_TIMEOUT, rw));
  g_object_class_install_property (
      gobject_class, PROP_CAPS_TIMEOUT,
      g_param_spec_uint (
          "caps-timeout", "Stream start timeout",
          "Milliseconds negotiation waits for the input streams to start (have caps) "
          "before it fails",
          0, 600000, DEFAULT_CAPS_TIMEOUT, rw));
  g_object_class_install_property (
      gobject_class, PROP_SHARED_SENDER,
      g_param_spec_boolean (
          "shared-sender", "Shared sender",
          "When attached to a gw stream object (gwsink, the gateway), let the stream's shared "
          "sender packetize, encrypt and send this viewer's packets once connected, instead of "
          "our own queue, payloader and webrtcbin send path (much less CPU per viewer). Set "
          "before the pads are linked",
          TRUE, rw));
  g_object_class_install_property (
      gobject_class, PROP_CONNECTION_STATE,
      g_param_spec_enum ("connection-state", "Connection state",
                         "The peer connection state (watch notify::connection-state)",
                         GST_TYPE_WEBRTC_PEER_CONNECTION_STATE,
                         GST_WEBRTC_PEER_CONNECTION_STATE_NEW,
                         (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  signals[SIGNAL_HANDLE_OFFER] = g_signal_new_class_handler (
      "handle-offer", G_TYPE_FROM_CLASS (klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK (gw_reader_bin_handle_offer),
      NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, GST_TYPE_PROMISE);
  signals[SIGNAL_CREATE_OFFER] = g_signal_new_class_handler (
      "create-offer", G_TYPE_FROM_CLASS (klass),
      (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION), G_CALLBACK (gw_reader_bin_create_offer),
      NULL, NULL, NULL, G_TYPE_NONE, 1, GST_TYPE_PROMISE);
  signals[SIGNAL_SET_ANSWER] = g_signal_new_class_handler (
      "set-answer", G_TYPE_FROM_CLASS (klass), (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK (gw_reader_bin_set_answer), NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING,
      GST_TYPE_PROMISE);
  signals[SIGNAL_ADD_ICE_CANDIDATE]
      = g_signal_new_class_handler ("add-ice-candidate", G_TYPE_FROM_CLASS (klass),
                                    (GSignalFlags)(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                                    G_CALLBACK (gw_reader_bin_add_ice_candidate), NULL, NULL, NULL,
                                    G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
  signals[SIGNAL_ICE_CANDIDATE]
      = g_signal_new ("ice-candidate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
  signals[SIGNAL_READER_ERROR]
      = g_signal_new ("reader-error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);

  /* The pads take what the codec table can send. */
  gst_element_class_add_pad_template (element_class,
                                      gw_codec_pad_template (TRUE, GST_PAD_SINK, GST_PAD_REQUEST));
  gst_element_class_add_pad_template (element_class,
                                      gw_codec_pad_template (FALSE, GST_PAD_SINK, GST_PAD_REQUEST));
  gst_element_class_set_static_metadata (
      element_class, "gw WebRTC reader", "Sink/Network/WebRTC",
      "One WebRTC viewer of shared encoded streams: leaky queue, keyframe gate, payloader "
      "configured from the SDP, webrtcbin. Signalling through action signals "
      "(handle-offer, create-offer, set-answer, add-ice-candidate) and signals "
      "(ice-candidate, reader-error)",
      "gst-webrtc-gateway");
  GST_DEBUG_CATEGORY_INIT (gw_reader_bin_debug, "gwreaderbin", 0, "gw WebRTC reader");
}

static void
gw_reader_bin_init (GwReaderBin *self)
{
  g_mutex_init (&self->structure_lock);
  g_mutex_lock (&alive_lock);
  alive++;
  g_mutex_unlock (&alive_lock);
  self->streams = g_ptr_array_new_with_free_func (stream_free);
  self->dropped = g_ptr_array_new_with_free_func (g_free);
  self->calls = g_ptr_array_new ();
  g_cond_init (&self->calls_cond);
  self->max_queue_time = DEFAULT_MAX_QUEUE_TIME;
  self->gather_timeout = DEFAULT_GATHER_TIMEOUT;
  self->caps_timeout = DEFAULT_CAPS_TIMEOUT;
  self->shared_sender = TRUE;
  self->connection_state = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;

  self->webrtcbin = gst_element_factory_make ("webrtcbin", "webrtcbin");
  if (!self->webrtcbin) {
    GST_ERROR_OBJECT (self, "webrtcbin is missing (gstreamer1.0-plugins-bad, gstreamer1.0-nice)");
    return;
  }
  g_object_set (self->webrtcbin, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency", 0,
                NULL);
  gst_object_ref_sink (self->webrtcbin);
  gst_bin_add (GST_BIN (self), self->webrtcbin);
  g_signal_connect (self->webrtcbin, "on-ice-candidate", G_CALLBACK (on_ice_candidate), self);
  g_signal_connect (self->webrtcbin, "notify::connection-state", G_CALLBACK (on_connection_state),
                    self);
  g_signal_connect (self->webrtcbin, "notify::ice-gathering-state",
                    G_CALLBACK (gw_reader_bin_on_gathering_state), self);
}
