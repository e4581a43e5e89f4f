/* One connection attempt of gwsourcebin (see gwsourceattempt.h).
 *
 * Timestamps: the inner pipeline runs on the outer pipeline's clock. The
 * first buffer of an attempt is mapped onto the outer running time "now" (or
 * just after everything the outputs already pushed, whichever is later); the
 * rest of the attempt keeps the source's own spacing. A buffer that would
 * still land at or before what its output pushed in an earlier attempt is
 * moved just after it, so downstream time never goes back.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsourceattempt.h"

#include <gst/app/app.h>

#include <algorithm>
#include <cstring>

GstDebugCategory *gw_source_bin_debug_category (void); /* gwsourcebin.cpp */
#define GST_CAT_DEFAULT gw_source_bin_debug_category ()

namespace gw {

/* ---- codecs -------------------------------------------------------------- */

const char *
stream_kind_name (StreamKind kind)
{
  return kind == StreamKind::VIDEO ? "video" : "audio";
}

StreamKind
stream_kind_of (const GwCodecInfo &codec)
{
  return codec.video ? StreamKind::VIDEO : StreamKind::AUDIO;
}

const GwCodecInfo *
codec_find (const GstCaps *caps, bool *rtp)
{
  const GwCodecInfo *codec = gw_codec_from_rtp_caps (caps);
  *rtp = codec != nullptr;
  return codec ? codec : gw_codec_from_caps (caps);
}

std::string
caps_describe (const GstCaps *caps)
{
  if (!caps || gst_caps_is_empty (caps) || gst_caps_is_any (caps))
    return "unknown";
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const gchar *enc = gst_structure_get_string (s, "encoding-name");
  const gchar *media = gst_structure_get_string (s, "media");
  if (enc)
    return std::string (media ? media : "RTP") + " " + enc;
  return gst_structure_get_name (s);
}

std::string
describe_error (const GError *err, const gchar *debug)
{
  std::string text = err ? err->message : "unknown error";
  /* the debug string is "file(line): function (): /path[:\ndetails]" */
  const gchar *nl = debug ? strchr (debug, '\n') : nullptr;
  if (nl && nl[1])
    text += std::string (" (") + (nl + 1) + ")";
  return text;
}

static const gchar depayloader_key[] = "gw-depayloader";

bool
is_depayloader_packet_error (GstMessage *msg)
{
  if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ERROR || !GST_MESSAGE_SRC (msg)
      || !g_object_get_data (G_OBJECT (GST_MESSAGE_SRC (msg)), depayloader_key))
    return false;
  GError *err = nullptr;
  gst_message_parse_error (msg, &err, nullptr);
  bool packet = err && err->domain == GST_STREAM_ERROR;
  g_clear_error (&err);
  return packet;
}

/* ---- pipeline descriptions ----------------------------------------------- */

GstElement *
parse_description (const std::string &description, GError **error)
{
  GError *err = nullptr;
  GstElement *bin = gst_parse_bin_from_description_full (description.c_str (), FALSE, nullptr,
                                                         GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (bin)
    g_clear_error (&err); /* with a bin, a recoverable warning */
  else
    g_propagate_error (error, err);
  return bin;
}

static bool
has_sometimes_src (GstElement *e)
{
  for (const GList *l = gst_element_class_get_pad_template_list (GST_ELEMENT_GET_CLASS (e)); l;
       l = l->next) {
    GstPadTemplate *t = GST_PAD_TEMPLATE (l->data);
    if (GST_PAD_TEMPLATE_DIRECTION (t) == GST_PAD_SRC
        && GST_PAD_TEMPLATE_PRESENCE (t) == GST_PAD_SOMETIMES)
      return true;
  }
  return false;
}

void
collect_unlinked (GstBin *bin, std::vector<GstPad *> *pads, std::vector<GstElement *> *dynamic)
{
  std::vector<GstElement *> elements;
  GstIterator *it = gst_bin_iterate_elements (bin);
  GValue v = G_VALUE_INIT;
  /* the bin lists its children last-added first */
  while (gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
    elements.insert (elements.begin (), GST_ELEMENT (g_value_dup_object (&v)));
    g_value_reset (&v);
  }
  g_value_unset (&v);
  gst_iterator_free (it);

  for (GstElement *e : elements) {
    GST_OBJECT_LOCK (e);
    for (GList *l = e->srcpads; l; l = l->next)
      if (!GST_PAD_PEER (l->data))
        pads->push_back (GST_PAD (gst_object_ref (l->data)));
    GST_OBJECT_UNLOCK (e);
    if (has_sometimes_src (e))
      dynamic->push_back (GST_ELEMENT (gst_object_ref (e)));
    gst_object_unref (e);
  }
}

/* ---- the attempt --------------------------------------------------------- */

struct Attempt::Stream
{
  Attempt *attempt;
  Output *out;
};

Attempt::Attempt (AttemptHost &host, OutputSet &outputs, guint id, const AttemptConfig &config)
    : host_ (host), outputs_ (outputs), id_ (id), generation_ (outputs.generation), config_ (config)
{
  if (config_.clock)
    gst_object_ref (config_.clock);
  start_us_ = g_get_monotonic_time ();
  std::lock_guard<std::mutex> g (outputs_.lock);
  for (Output *o : outputs_.list) {
    o->floor = o->max_ts;
    o->discont = true;
  }
}

Attempt::~Attempt ()
{
  cancelled_ = true;
  if (bus_source_) {
    g_source_destroy (bus_source_);
    g_source_unref (bus_source_);
  }
  if (pipeline_) {
    gint64 t0 = g_get_monotonic_time ();
    gst_element_set_state (pipeline_, GST_STATE_NULL);
    GST_DEBUG_OBJECT (config_.owner, "connection %u stopped in %" G_GINT64_FORMAT " ms", id_,
                      (g_get_monotonic_time () - t0) / 1000);
    gst_object_unref (pipeline_);
  }
  for (Stream *s : streams_)
    delete s;
  gst_clear_object (&config_.clock);
}

bool
Attempt::start (GMainContext *ctx, GstBusFunc func, gpointer data, std::string *error)
{
  pipeline_ = gst_pipeline_new (config_.name.c_str ());
  if (config_.clock)
    gst_pipeline_use_clock (GST_PIPELINE (pipeline_), config_.clock);
  bool ok = config_.pipeline.empty () ? build_rtsp (error) : build_from_description (error);
  if (!ok)
    return false;

  GstBus *bus = gst_element_get_bus (pipeline_);
  bus_source_ = gst_bus_create_watch (bus);
  g_source_set_callback (bus_source_, (GSourceFunc)(void (*) (void))func, data, nullptr);
  g_source_attach (bus_source_, ctx);

  GstStateChangeReturn ret = gst_element_set_state (pipeline_, GST_STATE_PAUSED);
  if (ret != GST_STATE_CHANGE_FAILURE) {
    /* A live source is pushed on as it comes; a file, say, is paced in real
     * time by the appsinks. */
    live_ = ret == GST_STATE_CHANGE_NO_PREROLL ? 1 : 0;
    GST_DEBUG_OBJECT (config_.owner, "connection %u: the source is %slive", id_,
                      live_ ? "" : "not ");
    GstIterator *it = gst_bin_iterate_sinks (GST_BIN (pipeline_));
    GValue v = G_VALUE_INIT;
    while (gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
      if (GST_IS_APP_SINK (g_value_get_object (&v)))
        g_object_set (g_value_get_object (&v), "sync", live_ == 0, nullptr);
      g_value_reset (&v);
    }
    g_value_unset (&v);
    gst_iterator_free (it);
  }
  if (ret != GST_STATE_CHANGE_FAILURE)
    ret = gst_element_set_state (pipeline_, GST_STATE_PLAYING);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    *error = "the source failed to start";
    /* prefer what the failing element said */
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg) {
      GError *err = nullptr;
      gchar *debug = nullptr;
      gst_message_parse_error (msg, &err, &debug);
      *error = describe_error (err, debug);
      g_clear_error (&err);
      g_free (debug);
      gst_message_unref (msg);
    }
  }
  gst_object_unref (bus);
  return ret != GST_STATE_CHANGE_FAILURE;
}

/* Before the parser, behind our depayloader: access units the codec's check
 * refuses (broken ones, garbage from the camera) are dropped, as lost
 * packets would be. */
GstPadProbeReturn
Attempt::drop_broken_au (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Stream *stream = static_cast<Stream *> (data);
  Attempt *self = stream->attempt;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return GST_PAD_PROBE_DROP;
  bool sane = gw_codec_au_is_sane (stream->out->codec, map.data, map.size);
  gst_buffer_unmap (buf, &map);
  if (sane)
    return GST_PAD_PROBE_OK;
  guint n = ++self->broken_aus_;
  if (n == 1 || n % 100 == 0)
    GST_WARNING_OBJECT (self->config_.owner,
                        "connection %u: dropped %u broken %s access units from the camera",
                        self->id_, n, stream->out->codec->name);
  return GST_PAD_PROBE_DROP;
}

/* Builds [depay !] [parse !] appsink for @src, bound to an output. A stream
 * that is not supported or cannot be bound goes to a fakesink, so it never
 * stops the others. */
void
Attempt::attach_stream (GstPad *src)
{
  GstCaps *caps = gst_pad_get_current_caps (src);
  if (!caps)
    caps = gst_pad_query_caps (src, nullptr);
  bool rtp = false;
  const GwCodecInfo *codec = codec_find (caps, &rtp);
  Output *out = nullptr;
  std::vector<GstElement *> chain;

  if (codec) {
    if (rtp)
      chain.push_back (gw_codec_make_depayloader (codec));
    if (codec->parser)
      chain.push_back (gw_codec_make_parser (codec));
    chain.push_back (gst_element_factory_make ("appsink", nullptr));
    if (std::find (chain.begin (), chain.end (), nullptr) != chain.end ())
      GST_WARNING_OBJECT (config_.owner, "missing the depayloader or parser for %s",
                          codec->media_type);
    else
      out = host_.bind_output (*this, *codec);
    if (!out) {
      for (GstElement *e : chain)
        if (e)
          gst_object_unref (gst_object_ref_sink (e));
      chain.clear ();
    }
  } else {
    host_.stream_ignored (caps_describe (caps));
  }

  if (out) {
    Stream *stream = new Stream{ this, out };
    if (rtp) {
      g_object_set_data (G_OBJECT (chain.front ()), depayloader_key, GINT_TO_POINTER (1));
      if (codec->parser && codec->depayloaded_ok) {
        GstPad *pad = gst_element_get_static_pad (chain[1], "sink");
        gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, drop_broken_au, stream, nullptr);
        gst_object_unref (pad);
      }
    }
    GstElement *sink = chain.back ();
    GstCaps *sink_caps = gst_caps_from_string (codec->caps);
    g_object_set (sink, "caps", sink_caps, "sync", live_ != 1, "async", FALSE, "enable-last-sample",
                  FALSE, "qos", FALSE, nullptr);
    gst_caps_unref (sink_caps);
    {
      std::lock_guard<std::mutex> g (streams_lock_);
      streams_.push_back (stream);
    }
    GstAppSinkCallbacks callbacks = {};
    callbacks.new_sample = [] (GstAppSink *appsink, gpointer data) -> GstFlowReturn {
      Stream *st = static_cast<Stream *> (data);
      GstSample *sample = gst_app_sink_pull_sample (appsink);
      if (!sample)
        return GST_FLOW_FLUSHING;
      GstFlowReturn ret = st->attempt->push_sample (st, sample);
      gst_sample_unref (sample);
      return ret;
    };
    callbacks.eos = [] (GstAppSink *appsink, gpointer data) {
      static_cast<Stream *> (data)->attempt->stream_eos ();
    };
    gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, stream, nullptr);
  } else {
    GstElement *sink = gst_element_factory_make ("fakesink", nullptr);
    g_object_set (sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, nullptr);
    chain.push_back (sink);
  }

  for (GstElement *e : chain)
    gst_bin_add (GST_BIN (pipeline_), e);
  for (size_t i = 0; i + 1 < chain.size (); i++)
    gst_element_link (chain[i], chain[i + 1]);
  for (auto it = chain.rbegin (); it != chain.rend (); ++it)
    gst_element_sync_state_with_parent (*it);
  GstPad *sinkpad = gst_element_get_static_pad (chain.front (), "sink");
  if (!gst_pad_link_maybe_ghosting (src, sinkpad))
    GST_WARNING_OBJECT (config_.owner, "connection %u: cannot link %s:%s (%s)", id_,
                        GST_DEBUG_PAD_NAME (src), caps_describe (caps).c_str ());
  gst_object_unref (sinkpad);
  gst_clear_caps (&caps);
}

static gint64
to_running_time (const GstSegment *seg, GstClockTime ts)
{
  if (!GST_CLOCK_TIME_IS_VALID (ts))
    return G_MININT64;
  if (!seg || seg->format != GST_FORMAT_TIME)
    return (gint64)ts;
  guint64 rt;
  int sign = gst_segment_to_running_time_full (seg, GST_FORMAT_TIME, ts, &rt);
  return sign > 0 ? (gint64)rt : sign < 0 ? -(gint64)rt : G_MININT64;
}

GstFlowReturn
Attempt::push_sample (Stream *stream, GstSample *sample)
{
  if (cancelled ())
    return GST_FLOW_FLUSHING;
  GstBuffer *in = gst_sample_get_buffer (sample);
  if (!in)
    return GST_FLOW_OK;
  Output *out = stream->out;
  const GstSegment *seg = gst_sample_get_segment (sample);
  GstCaps *caps = gst_sample_get_caps (sample);
  gint64 pts = to_running_time (seg, GST_BUFFER_PTS (in));
  gint64 dts = to_running_time (seg, GST_BUFFER_DTS (in));
  const gint64 none = G_MININT64;
  gint64 ref = pts != none ? pts : dts;

  last_data_us_ = g_get_monotonic_time ();
  bool first = !got_data_.exchange (true);

  bool discont, new_caps = false;
  {
    std::lock_guard<std::mutex> g (outputs_.lock);
    if (!have_offset_ && ref != none) {
      gint64 after = 0;
      for (Output *o : outputs_.list)
        after = std::max (after, o->max_ts + 1);
      gint64 now = ref;
      if (config_.clock)
        now = (gint64)gst_clock_get_time (config_.clock) - (gint64)config_.base_time;
      offset_ = std::max (now, after) - ref;
      have_offset_ = true;
      GST_DEBUG_OBJECT (config_.owner, "connection %u: offset %" G_GINT64_FORMAT " ns", id_,
                        offset_);
    }
    if (pts != none)
      pts += offset_;
    if (dts != none)
      dts += offset_;
    gint64 low = std::min (pts == none ? G_MAXINT64 : pts, dts == none ? G_MAXINT64 : dts);
    if (low != G_MAXINT64 && low <= out->floor) {
      gint64 shift = out->floor + 1 - low;
      if (pts != none)
        pts += shift;
      if (dts != none)
        dts += shift;
      out->floor = std::max (pts, dts);
    }
    out->max_ts = std::max (out->max_ts, std::max (pts, dts));
    discont = out->discont;
    out->discont = false;
    if (caps && (!out->caps || !gst_caps_is_equal (caps, out->caps))) {
      gst_caps_replace (&out->caps, caps);
      new_caps = true;
    }
  }

  GstBuffer *buf = gst_buffer_make_writable (gst_buffer_ref (in));
  GST_BUFFER_PTS (buf) = pts == none ? GST_CLOCK_TIME_NONE : (GstClockTime)pts;
  GST_BUFFER_DTS (buf) = dts == none ? GST_CLOCK_TIME_NONE : (GstClockTime)dts;
  if (discont)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  if (new_caps)
    gst_app_src_set_caps (GST_APP_SRC (out->appsrc), caps);
  gst_app_src_push_buffer (GST_APP_SRC (out->appsrc), buf);

  if (first)
    host_.first_data (*this);
  return GST_FLOW_OK;
}

void
Attempt::stream_eos ()
{
  if (!cancelled ())
    host_.stream_ended (*this);
}

/* ---- RTSP ---------------------------------------------------------------- */

gboolean
Attempt::on_select_stream (GstElement *rtspsrc, guint num, GstCaps *caps, gpointer data)
{
  Attempt *self = static_cast<Attempt *> (data);
  bool rtp;
  if (codec_find (caps, &rtp))
    return TRUE;
  self->host_.stream_ignored (caps_describe (caps));
  return FALSE;
}

void
Attempt::on_pad_added (GstElement *rtspsrc, GstPad *pad, gpointer data)
{
  Attempt *self = static_cast<Attempt *> (data);
  if (GST_PAD_IS_SRC (pad) && !self->cancelled ())
    self->attach_stream (pad);
}

void
Attempt::on_no_more_pads (GstElement *rtspsrc, gpointer data)
{
  Attempt *self = static_cast<Attempt *> (data);
  if (!self->cancelled ())
    self->host_.all_streams_exposed ();
}

bool
Attempt::build_rtsp (std::string *error)
{
  GstElement *src = gst_element_factory_make ("rtspsrc", nullptr);
  if (!src) {
    *error = "the rtspsrc element is missing (gst-plugins-good)";
    return false;
  }
  live_ = 1;
  g_object_set (src, "location", config_.url.c_str (), "latency", config_.latency_ms, "tcp-timeout",
                (guint64)config_.timeout_ms * 1000, nullptr);
  if (!config_.user.empty ())
    g_object_set (src, "user-id", config_.user.c_str (), nullptr);
  if (!config_.password.empty ())
    g_object_set (src, "user-pw", config_.password.c_str (), nullptr);
  if (!config_.protocols.empty ())
    gst_util_set_object_arg (G_OBJECT (src), "protocols", config_.protocols.c_str ());
  if (config_.udp_timeout_us)
    g_object_set (src, "timeout", config_.udp_timeout_us, nullptr);
  g_signal_connect (src, "select-stream", G_CALLBACK (on_select_stream), this);
  g_signal_connect (src, "pad-added", G_CALLBACK (on_pad_added), this);
  g_signal_connect (src, "no-more-pads", G_CALLBACK (on_no_more_pads), this);
  gst_bin_add (GST_BIN (pipeline_), src);
  return true;
}

/* ---- pipeline descriptions ----------------------------------------------- */

void
Attempt::on_dynamic_pad_added (GstElement *e, GstPad *pad, gpointer data)
{
  Attempt *self = static_cast<Attempt *> (data);
  /* gst-parse's delayed links ran first; what they left unlinked is ours */
  if (GST_PAD_IS_SRC (pad) && !gst_pad_is_linked (pad) && !self->cancelled ())
    self->attach_stream (pad);
}

void
Attempt::on_dynamic_no_more_pads (GstElement *e, gpointer data)
{
  Attempt *self = static_cast<Attempt *> (data);
  bool done;
  {
    std::lock_guard<std::mutex> g (self->streams_lock_);
    if (self->pending_dynamic_ > 0)
      self->pending_dynamic_--;
    done = self->pending_dynamic_ == 0 && self->static_done_;
  }
  if (done && !self->cancelled ())
    self->host_.all_streams_exposed ();
}

bool
Attempt::build_from_description (std::string *error)
{
  GError *err = nullptr;
  GstElement *bin = parse_description (config_.pipeline, &err);
  if (!bin) {
    *error = std::string ("invalid pipeline description: ") + (err ? err->message : "?");
    g_clear_error (&err);
    return false;
  }
  gst_bin_add (GST_BIN (pipeline_), bin);

  std::vector<GstPad *> pads;
  std::vector<GstElement *> dynamic;
  collect_unlinked (GST_BIN (bin), &pads, &dynamic);
  {
    std::lock_guard<std::mutex> g (streams_lock_);
    pending_dynamic_ = dynamic.size ();
  }
  for (GstElement *e : dynamic) {
    g_signal_connect (e, "pad-added", G_CALLBACK (on_dynamic_pad_added), this);
    g_signal_connect (e, "no-more-pads", G_CALLBACK (on_dynamic_no_more_pads), this);
    gst_object_unref (e);
  }
  for (GstPad *p : pads) {
    attach_stream (p);
    gst_object_unref (p);
  }
  bool done;
  {
    std::lock_guard<std::mutex> g (streams_lock_);
    static_done_ = true;
    done = pending_dynamic_ == 0;
  }
  if (done)
    host_.all_streams_exposed ();
  return true;
}

} // namespace gw
