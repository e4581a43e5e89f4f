/* gwsink: serves its encoded inputs to browsers over WebRTC (WHEP).
 *
 * Per sink pad:   ghost ─> [parser] ─> capsfilter ─> clocksync ─> tee (gwstream) ─┬─> fakesink
 *                                                                     ├─> gwreaderbin (viewer 1)
 *                                                                     └─> gwreaderbin (viewer 2)
 * The parser is the input codec's when its row says so (h264parse,
 * h265parse), chosen by the caps the pad is requested with or, without
 * them, by what the pad is linked to. The capsfilter makes an upstream
 * parser deliver byte-stream access units; clocksync paces non-live inputs when "sync" is set; the
 * fakesink makes the bin a sink (EOS reaches the bus) and keeps the tee fed when nobody watches.
 *
 * This file holds the element: its type, request pads and the elements
 * behind them, properties, state changes and bus filtering. The viewers and
 * the HTTP server are in gwsinkviewers.cpp; what both share, the threads and
 * the locking rules are in gwsink-private.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsink-private.h"

using namespace gwsink;

GST_DEBUG_CATEGORY_STATIC (gw_sink_debug);

GstDebugCategory *
gw_sink_debug_category (void)
{
  return gw_sink_debug;
}

G_DEFINE_TYPE (GwSink, gw_sink, GST_TYPE_BIN)

static GParamSpec *properties[N_PROPS];

void
gwsink::notify_property (GwSink *self, guint prop_id)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

/* ------------------------------------------------------------ element */

/* The codec of an input whose caps are @caps (those it was requested
 * with, or what its peer can produce): the one codec of the pad's kind
 * they name, or NULL if they name none or several. */
static const GwCodecInfo *
input_codec (bool video, const GstCaps *caps)
{
  const GwCodecInfo *found = NULL;
  for (guint i = 0; caps && !gst_caps_is_any (caps) && i < gst_caps_get_size (caps); i++) {
    GstCaps *one = gst_caps_copy_nth (caps, i);
    const GwCodecInfo *codec = gw_codec_from_caps (one);
    gst_caps_unref (one);
    if (!codec || codec->video != video)
      continue;
    if (found && found != codec)
      return NULL;
    found = codec;
  }
  return found;
}

/* The first codec of the pad's kind in the table: an input whose codec
 * nothing tells. */
static const GwCodecInfo *
first_codec (bool video)
{
  for (int c = GW_CODEC_NONE + 1; c < GW_N_CODECS; c++) {
    const GwCodecInfo *codec = gw_codec_info ((GwCodec)c);
    if (codec && codec->video == video)
      return codec;
  }
  return NULL;
}

/* @codec's parser for input @name, added to the bin, if the codec's row
 * says its inputs are parsed again: e.g. H.264's and H.265's repeat their
 * parameter sets before every keyframe (an upstream parser with its
 * default config-interval sends them once, and a viewer joining later
 * could never decode). NULL otherwise. */
static GstElement *
add_input_parser (GwSink *self, const std::string &name, const GwCodecInfo *codec)
{
  if (!codec || !codec->parse_inputs)
    return NULL;
  GstElement *parser = gw_codec_make_parser (codec);
  if (!parser)
    return NULL;
  std::string pname = name + "_" + codec->parser;
  gst_element_set_name (parser, pname.c_str ());
  gst_bin_add (GST_BIN (self), parser);
  return parser;
}

/* An input requested without caps gets its parser when it is linked, from
 * what its peer can produce (H.264 and H.265 both come to video_%u), or
 * the first codec of its kind if that does not tell. Unlocked pads: the
 * ghost pad is retargeted to the parser. */
static GstPadLinkReturn
input_link (GstPad *pad, GstObject *parent, GstPad *peer)
{
  GwSink *self = GW_SINK (parent);
  GwSinkPrivate *priv = self->priv;
  std::lock_guard<std::recursive_mutex> serialise (priv->request_lock);
  InputPtr input;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    for (auto &i : priv->inputs)
      if (i->ghost == pad)
        input = i;
  }
  if (!input || input->parser_chosen)
    return GST_PAD_LINK_OK;
  input->parser_chosen = true;

  GstCaps *peer_caps = gst_pad_query_caps (peer, NULL);
  const GwCodecInfo *codec = input_codec (input->video, peer_caps);
  gst_caps_unref (peer_caps);
  if (!codec)
    codec = first_codec (input->video);
  GstElement *parser = add_input_parser (self, input->name, codec);
  if (!parser)
    return GST_PAD_LINK_OK;
  GstElement *capsfilter = input->elements[0];
  g_autoptr (GstPad) parser_sink = gst_element_get_static_pad (parser, "sink");
  g_autoptr (GstPad) filter_sink = gst_element_get_static_pad (capsfilter, "sink");
  if (!gst_ghost_pad_set_target (GST_GHOST_PAD (pad), parser_sink)
      || !gst_element_link (parser, capsfilter)) {
    GST_WARNING_OBJECT (self, "%s: cannot put %s in front", input->name.c_str (), codec->parser);
    gst_ghost_pad_set_target (GST_GHOST_PAD (pad), filter_sink);
    gst_bin_remove (GST_BIN (self), parser);
    return GST_PAD_LINK_REFUSED;
  }
  input->elements.push_back (GST_ELEMENT (gst_object_ref (parser)));
  gst_element_sync_state_with_parent (parser);
  GST_DEBUG_OBJECT (self, "%s: %s input, parsed by %s", input->name.c_str (), codec->name,
                    codec->parser);
  return GST_PAD_LINK_OK;
}

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
  /* The input's parser now if the caps it is requested with name its
   * codec, else when it is linked (input_link). */
  const GwCodecInfo *codec = input_codec (video, caps);
  input->parser_chosen = codec != NULL;
  GstElement *parser = add_input_parser (self, name, codec);
  if (parser)
    gst_element_link (parser, capsfilter);

  std::string tee_name = name + "_tee";
  g_autoptr (GstPad) upstream = gst_element_get_static_pad (clocksync, "src");
  input->fanout = gw_stream_new (GST_BIN (self), upstream, tee_name.c_str ());
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
  gw_stream_attach (input->fanout, fakesink_pad);
  gst_element_sync_state_with_parent (clocksync);
  gst_element_sync_state_with_parent (capsfilter);
  if (parser)
    gst_element_sync_state_with_parent (parser);

  g_autoptr (GstPad) target = gst_element_get_static_pad (parser ? parser : capsfilter, "sink");
  GstPad *ghost = gst_ghost_pad_new_from_template (name.c_str (), target, templ);
  input->ghost = ghost;
  if (!input->parser_chosen)
    gst_pad_set_link_function (ghost, input_link);
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
      GError *err = NULL;
      gst_message_parse_error (message, &err, NULL);
      fail_viewer (self, GST_ELEMENT (child), err);
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

  /* The pads take what the codec table can send. */
  gst_element_class_add_pad_template (element_class,
                                      gw_codec_pad_template (TRUE, GST_PAD_SINK, GST_PAD_REQUEST));
  gst_element_class_add_pad_template (element_class,
                                      gw_codec_pad_template (FALSE, GST_PAD_SINK, GST_PAD_REQUEST));
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
