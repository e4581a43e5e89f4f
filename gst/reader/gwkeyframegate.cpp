#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwkeyframegate.h"
#include "gwh264.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gw_keyframe_gate_debug);
#define GST_CAT_DEFAULT gw_keyframe_gate_debug

struct _GwKeyframeGate
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* Atomics, written from any thread. */
  gint mode; /* GwGateMode */
  gint keyframe_requested;
  gint dropped; /* wraps after 2^31, a statistic */

  /* Streaming thread only. */
  gboolean h264;
  gboolean video;
  /* While CLOSED: the video since the last keyframe (a keyframe first), so
   * that a viewer starts at once when it connects instead of waiting for
   * the camera's next keyframe. */
  GwGop gop;
  GstBuffer *sps; /* last SPS NAL with its start code */
  GstBuffer *pps; /* last PPS NAL with its start code */
};

G_DEFINE_TYPE (GwKeyframeGate, gw_keyframe_gate, GST_TYPE_ELEMENT)

static GstStaticPadTemplate sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

void
gw_keyframe_gate_set_mode (GwKeyframeGate *gate, GwGateMode mode)
{
  if (mode == GW_GATE_WAITING)
    g_atomic_int_set (&gate->keyframe_requested, 0);
  g_atomic_int_set (&gate->mode, mode);
  GST_DEBUG_OBJECT (gate, "mode %d", mode);
}

GwGateMode
gw_keyframe_gate_get_mode (GwKeyframeGate *gate)
{
  return (GwGateMode)g_atomic_int_get (&gate->mode);
}

guint64
gw_keyframe_gate_get_dropped (GwKeyframeGate *gate)
{
  return (guint)g_atomic_int_get (&gate->dropped);
}

/* Remembers the SPS and PPS NAL units of an Annex B access unit; returns
 * whether the unit holds an SPS. */
static gboolean
scan_parameter_sets (GwKeyframeGate *self, GstBuffer *buf)
{
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return FALSE;

  const guint8 *d = map.data;
  gboolean has_sps = FALSE;
  GwNals nals;
  gw_h264_split_nals (d, map.size, nals);
  for (auto &n : nals) {
    guint type = d[n.first] & 0x1f;
    if (type != 7 && type != 8)
      continue;
    /* kept with its start code (00 00 01, or 00 00 00 01) */
    gsize start = (n.first >= 4 && d[n.first - 4] == 0) ? n.first - 4 : n.first - 3;
    GstBuffer *copy = gst_buffer_new_memdup (d + start, n.first + n.second - start);
    gst_buffer_replace (type == 7 ? &self->sps : &self->pps, copy);
    gst_buffer_unref (copy);
    if (type == 7)
      has_sps = TRUE;
  }
  gst_buffer_unmap (buf, &map);
  return has_sps;
}

static void
request_keyframe (GwKeyframeGate *self)
{
  if (!g_atomic_int_compare_and_exchange (&self->keyframe_requested, 0, 1))
    return;
  GstStructure *s
      = gst_structure_new ("GstForceKeyUnit", "running-time", G_TYPE_UINT64, GST_CLOCK_TIME_NONE,
                           "all-headers", G_TYPE_BOOLEAN, TRUE, "count", G_TYPE_UINT, 0, NULL);
  GST_DEBUG_OBJECT (self, "asking upstream for a keyframe");
  gst_pad_push_event (self->sinkpad, gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM, s));
}

static GstFlowReturn
push (GwKeyframeGate *self, GstBuffer *buf)
{
  GstFlowReturn ret = gst_pad_push (self->srcpad, buf);
  /* Not linked yet (the payloader comes with negotiation): not an error. */
  return ret == GST_FLOW_NOT_LINKED ? GST_FLOW_OK : ret;
}

void
gw_gop_init (GwGop *gop)
{
  g_queue_init (&gop->frames);
  gop->bytes = 0;
}

void
gw_gop_clear (GwGop *gop)
{
  g_queue_clear_full (&gop->frames, (GDestroyNotify)gst_buffer_unref);
  gop->bytes = 0;
}

void
gw_gop_keep (GwGop *gop, GstBuffer *buf)
{
  if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
    gw_gop_clear (gop);
  else if (g_queue_is_empty (&gop->frames))
    return; /* no keyframe to start from yet */
  gsize size = gst_buffer_get_size (buf);
  if (gop->frames.length >= GW_GOP_MAX_BUFFERS || gop->bytes + size > GW_GOP_MAX_BYTES) {
    GST_DEBUG ("GOP over %u buffers or %u bytes: not kept", GW_GOP_MAX_BUFFERS, GW_GOP_MAX_BYTES);
    gw_gop_clear (gop);
    return;
  }
  g_queue_push_tail (&gop->frames, gst_buffer_ref (buf));
  gop->bytes += size;
}

static void
clear_gop (GwKeyframeGate *self)
{
  gw_gop_clear (&self->gop);
}

GstClockTime
gw_gop_retime_time (guint i, guint n, GstClockTime next, GstClockTime orig)
{
  if (!GST_CLOCK_TIME_IS_VALID (next) || next < (GstClockTime)n * GW_GOP_STEP)
    return orig;
  return next - (GstClockTime)(n - i) * GW_GOP_STEP;
}

GstBuffer *
gw_gop_retime (GstBuffer *buf, guint i, guint n, GstClockTime next)
{
  GstClockTime t = gw_gop_retime_time (i, n, next, GST_BUFFER_PTS (buf));
  if (t == GST_BUFFER_PTS (buf))
    return buf;
  buf = gst_buffer_make_writable (buf);
  GST_BUFFER_PTS (buf) = t;
  if (GST_BUFFER_DTS_IS_VALID (buf))
    GST_BUFFER_DTS (buf) = t;
  GST_BUFFER_DURATION (buf) = GW_GOP_STEP;
  return buf;
}

/* Prepends the last SPS and PPS seen to a keyframe that lacks them. */
static GstBuffer *
with_parameter_sets (GwKeyframeGate *self, GstBuffer *buf, gboolean has_sps)
{
  if (!self->h264 || has_sps || !self->sps || !self->pps)
    return buf;
  GST_DEBUG_OBJECT (self, "keyframe without SPS/PPS: prepending the last ones");
  GstBuffer *out = gst_buffer_new ();
  gst_buffer_copy_into (out, buf, (GstBufferCopyFlags)(GST_BUFFER_COPY_METADATA), 0, -1);
  gst_buffer_append_memory (out, gst_buffer_get_all_memory (self->sps));
  gst_buffer_append_memory (out, gst_buffer_get_all_memory (self->pps));
  return gst_buffer_append (out, buf);
}

/* WAITING with a kept GOP: sends it at once, retimed to end just before
 * @next (so the viewer decodes up to the live picture quickly and then
 * plays as close to live as everyone else), then @next. */
static GstFlowReturn
flush_gop (GwKeyframeGate *self, GstBuffer *next)
{
  g_atomic_int_compare_and_exchange (&self->mode, GW_GATE_WAITING, GW_GATE_OPEN);
  guint n = self->gop.frames.length;
  GstClockTime t = GST_BUFFER_PTS (next);
  GST_DEBUG_OBJECT (self, "starting from the %u frames kept since the last keyframe", n);
  GstFlowReturn ret = GST_FLOW_OK;
  for (guint i = 0; i < n; i++) {
    GstBuffer *buf = static_cast<GstBuffer *> (g_queue_pop_head (&self->gop.frames));
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref (buf);
      continue;
    }
    buf = gw_gop_retime (buf, i, n, t);
    if (i == 0)
      buf = with_parameter_sets (self, buf, scan_parameter_sets (self, buf));
    ret = push (self, buf);
  }
  clear_gop (self);
  if (ret != GST_FLOW_OK) {
    gst_buffer_unref (next);
    return ret;
  }
  return push (self, next);
}

static GstFlowReturn
gw_keyframe_gate_chain (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  GwKeyframeGate *self = GW_KEYFRAME_GATE (parent);
  GwGateMode mode = (GwGateMode)g_atomic_int_get (&self->mode);

  if (G_LIKELY (mode == GW_GATE_OPEN)) {
    if (G_UNLIKELY (!g_queue_is_empty (&self->gop.frames)))
      clear_gop (self); /* opened directly, from CLOSED */
    return push (self, buf);
  }

  if (mode == GW_GATE_CLOSED) {
    if (self->video)
      gw_gop_keep (&self->gop, buf);
  } else if (!g_queue_is_empty (&self->gop.frames)
             && GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
    return flush_gop (self, buf);
  else
    clear_gop (self);

  gboolean has_sps = self->h264 ? scan_parameter_sets (self, buf) : FALSE;
  gboolean delta = GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);

  if (mode == GW_GATE_CLOSED || delta) {
    g_atomic_int_inc (&self->dropped);
    if (mode == GW_GATE_WAITING)
      request_keyframe (self);
    gst_buffer_unref (buf);
    return GST_FLOW_OK;
  }

  /* A keyframe: open, with the parameter sets in front of it. Only switch
   * WAITING -> OPEN, a concurrent CLOSE wins. */
  g_atomic_int_compare_and_exchange (&self->mode, GW_GATE_WAITING, GW_GATE_OPEN);
  buf = with_parameter_sets (self, buf, has_sps);
  GST_DEBUG_OBJECT (self, "first keyframe %" GST_TIME_FORMAT " passes",
                    GST_TIME_ARGS (GST_BUFFER_PTS (buf)));
  return push (self, buf);
}

static gboolean
gw_keyframe_gate_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GwKeyframeGate *self = GW_KEYFRAME_GATE (parent);
  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps (event, &caps);
    const GstStructure *s = gst_caps_get_structure (caps, 0);
    self->h264 = s && gst_structure_has_name (s, "video/x-h264");
    self->video = s && g_str_has_prefix (gst_structure_get_name (s), "video/");
    /* New caps (a resolution change): frames kept under the old ones would
     * not decode with the new parameter sets. */
    clear_gop (self);
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    clear_gop (self);
  }
  return gst_pad_event_default (pad, parent, event);
}

static void
gw_keyframe_gate_finalize (GObject *object)
{
  GwKeyframeGate *self = GW_KEYFRAME_GATE (object);
  gst_clear_buffer (&self->sps);
  gst_clear_buffer (&self->pps);
  clear_gop (self);
  G_OBJECT_CLASS (gw_keyframe_gate_parent_class)->finalize (object);
}

static void
gw_keyframe_gate_class_init (GwKeyframeGateClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->finalize = gw_keyframe_gate_finalize;
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (
      element_class, "gw keyframe gate", "Filter/Video",
      "Drops until a keyframe with its parameter sets, for a viewer joining a live stream",
      "gst-webrtc-gateway");
  GST_DEBUG_CATEGORY_INIT (gw_keyframe_gate_debug, "gwkeyframegate", 0, "gw keyframe gate");
}

static void
gw_keyframe_gate_init (GwKeyframeGate *self)
{
  self->mode = GW_GATE_CLOSED;
  gw_gop_init (&self->gop);
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, gw_keyframe_gate_chain);
  gst_pad_set_event_function (self->sinkpad, gw_keyframe_gate_sink_event);
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  GST_PAD_SET_PROXY_CAPS (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
