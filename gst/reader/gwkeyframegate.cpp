#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwkeyframegate.h"
#include "gwcodec.h"
#include "gwnal.h"

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
  const GwNalSyntax *nal; /* the codec's, NULL if not made of NAL units */
  GwParameterSets sets;   /* the last ones seen, with their start codes */
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

/* Remembers the parameter sets of an access unit; returns whether the unit
 * carries its own. */
static gboolean
scan_parameter_sets (GwKeyframeGate *self, GstBuffer *buf)
{
  return gw_nal_keep_parameter_sets (self->nal, buf, &self->sets);
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

/* Prepends the last parameter sets seen to a keyframe that lacks them. */
static GstBuffer *
with_parameter_sets (GwKeyframeGate *self, GstBuffer *buf, gboolean has_own)
{
  if (!self->nal)
    return buf;
  GstBuffer *out = gw_nal_with_parameter_sets (self->nal, buf, has_own, &self->sets);
  if (out != buf)
    GST_DEBUG_OBJECT (self, "keyframe without parameter sets: prepending the last ones");
  return out;
}

static GstFlowReturn
gw_keyframe_gate_chain (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  GwKeyframeGate *self = GW_KEYFRAME_GATE (parent);
  GwGateMode mode = (GwGateMode)g_atomic_int_get (&self->mode);

  if (G_LIKELY (mode == GW_GATE_OPEN))
    return push (self, buf);

  gboolean has_own = self->nal ? scan_parameter_sets (self, buf) : FALSE;
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
  buf = with_parameter_sets (self, buf, has_own);
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
    const GwCodecInfo *codec = gw_codec_from_caps (caps);
    self->nal = codec ? codec->nal : NULL;
  }
  return gst_pad_event_default (pad, parent, event);
}

static void
gw_keyframe_gate_finalize (GObject *object)
{
  GwKeyframeGate *self = GW_KEYFRAME_GATE (object);
  gw_parameter_sets_clear (&self->sets);
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
