/* The keyframe gate: what a joining viewer's decoder receives kf. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gwgop.h"
#include "gwkeyframegate.h"

#include <initializer_list>
#include <utility>

static const guint8 SPS[] = { 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xd9 };
static const guint8 PPS[] = { 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80 };
static const guint8 IDR[] = { 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x10 };
static const guint8 SLICE[] = { 0, 0, 0, 1, 0x41, 0x9a, 0x02, 0x03 };

static GstBuffer *
au (std::initializer_list<std::pair<const guint8 *, gsize> > nals, gboolean delta, GstClockTime pts)
{
  GstBuffer *buf = gst_buffer_new ();
  for (auto &n : nals)
    gst_buffer_append_memory (buf,
                              gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY, (gpointer)n.first,
                                                      n.second, 0, n.second, NULL, NULL));
  if (delta)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  GST_BUFFER_PTS (buf) = pts;
  return buf;
}

#define NAL(x) std::make_pair (x, sizeof (x))

/* H.265: two-byte NAL headers; VPS, SPS, PPS (types 32, 33, 34), a CRA
 * picture's slice (21, a keyframe) and a trailing picture's (1). */
static const guint8 H265_VPS[] = { 0, 0, 0, 1, 0x40, 0x01, 0x0c, 0x01, 0xff };
static const guint8 H265_SPS[] = { 0, 0, 0, 1, 0x42, 0x01, 0x01, 0x01, 0x60 };
static const guint8 H265_PPS[] = { 0, 0, 0, 1, 0x44, 0x01, 0xc0, 0x71 };
static const guint8 H265_CRA[] = { 0, 0, 0, 1, 0x2a, 0x01, 0xaf, 0x1d };
static const guint8 H265_TRAIL[] = { 0, 0, 0, 1, 0x02, 0x01, 0xd0, 0x0c };

static GstHarness *
make_harness (GwKeyframeGate **gate_out, const gchar *caps
                                         = "video/x-h264, stream-format=byte-stream, alignment=au, "
                                           "profile=baseline")
{
  GstElement *gate = GST_ELEMENT (g_object_new (GW_TYPE_KEYFRAME_GATE, NULL));
  GstHarness *h = gst_harness_new_with_element (gate, "sink", "src");
  gst_harness_set_src_caps_str (h, caps);
  *gate_out = GW_KEYFRAME_GATE (gate);
  return h;
}

static gboolean
buffer_equals (GstBuffer *buf, std::initializer_list<std::pair<const guint8 *, gsize> > nals)
{
  gsize total = 0;
  for (auto &n : nals)
    total += n.second;
  if (gst_buffer_get_size (buf) != total)
    return FALSE;
  gsize off = 0;
  for (auto &n : nals) {
    if (gst_buffer_memcmp (buf, off, n.first, n.second) != 0)
      return FALSE;
    off += n.second;
  }
  return TRUE;
}

GST_START_TEST (test_closed_drops_everything)
{
  GwKeyframeGate *gate;
  GstHarness *h = make_harness (&gate);
  fail_unless_equals_int (gst_harness_push (h, au ({ NAL (SPS), NAL (PPS), NAL (IDR) }, FALSE, 0)),
                          GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, 1)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  fail_unless_equals_int (gw_keyframe_gate_get_dropped (gate), 2);
  /* and reopening it on a keyframe sends nothing older */
  gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, 2));
  gw_keyframe_gate_set_mode (gate, GW_GATE_OPEN);
  gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, 3));
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_waiting_drops_leading_delta_units)
{
  GwKeyframeGate *gate;
  GstHarness *h = make_harness (&gate);
  gw_keyframe_gate_set_mode (gate, GW_GATE_WAITING);

  /* A viewer joins mid-GOP: three delta units come before the keyframe. */
  for (int i = 0; i < 3; i++)
    gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, i));
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  gst_harness_push (h, au ({ NAL (SPS), NAL (PPS), NAL (IDR) }, FALSE, 3));
  gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, 4));
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);
  fail_unless_equals_int (gw_keyframe_gate_get_mode (gate), GW_GATE_OPEN);

  GstBuffer *kf = gst_harness_pull (h);
  fail_if (GST_BUFFER_FLAG_IS_SET (kf, GST_BUFFER_FLAG_DELTA_UNIT));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (kf), 3);
  fail_unless (buffer_equals (kf, { NAL (SPS), NAL (PPS), NAL (IDR) }));
  gst_buffer_unref (kf);

  /* Upstream was asked for a keyframe, once, while the gate waited. */
  guint force_key_units = 0;
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_upstream_event (h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_UPSTREAM
        && gst_structure_has_name (gst_event_get_structure (ev), "GstForceKeyUnit"))
      force_key_units++;
    gst_event_unref (ev);
  }
  fail_unless_equals_int (force_key_units, 1);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_keyframe_gets_parameter_sets)
{
  GwKeyframeGate *gate;
  GstHarness *h = make_harness (&gate);
  gw_keyframe_gate_set_mode (gate, GW_GATE_WAITING);

  /* SPS/PPS went by in an earlier unit, the keyframe lacks them. */
  gst_harness_push (h, au ({ NAL (SPS), NAL (PPS), NAL (SLICE) }, TRUE, 0));
  gst_harness_push (h, au ({ NAL (IDR) }, FALSE, 1));
  GstBuffer *kf = gst_harness_pull (h);
  fail_unless (buffer_equals (kf, { NAL (SPS), NAL (PPS), NAL (IDR) }));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (kf), 1);
  gst_buffer_unref (kf);

  /* Re-armed after a drop: waits again, passes the next keyframe. */
  gw_keyframe_gate_set_mode (gate, GW_GATE_WAITING);
  gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, 2));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  gst_harness_push (h, au ({ NAL (SPS), NAL (PPS), NAL (IDR) }, FALSE, 3));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The same with H.265: the keyframe a viewer starts from gets the VPS, SPS
 * and PPS that went by before it, in that order. */
GST_START_TEST (test_h265_keyframe_gets_parameter_sets)
{
  GwKeyframeGate *gate;
  GstHarness *h
      = make_harness (&gate, "video/x-h265, stream-format=byte-stream, alignment=au, profile=main");
  gw_keyframe_gate_set_mode (gate, GW_GATE_WAITING);
  gst_harness_push (
      h, au ({ NAL (H265_VPS), NAL (H265_SPS), NAL (H265_PPS), NAL (H265_TRAIL) }, TRUE, 0));
  gst_harness_push (h, au ({ NAL (H265_TRAIL) }, TRUE, 1));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  gst_harness_push (h, au ({ NAL (H265_CRA) }, FALSE, 2));
  gst_harness_push (h, au ({ NAL (H265_TRAIL) }, TRUE, 3));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 2);
  GstBuffer *kf = gst_harness_pull (h);
  fail_unless (
      buffer_equals (kf, { NAL (H265_VPS), NAL (H265_SPS), NAL (H265_PPS), NAL (H265_CRA) }));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (kf), 2);
  gst_buffer_unref (kf);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_unlinked_output_is_not_an_error)
{
  GstElement *gate = GST_ELEMENT (g_object_new (GW_TYPE_KEYFRAME_GATE, NULL));
  GstHarness *h = gst_harness_new_with_element (gate, "sink", NULL);
  gst_harness_set_src_caps_str (h, "video/x-h264, stream-format=byte-stream, alignment=au");
  gw_keyframe_gate_set_mode (GW_KEYFRAME_GATE (gate), GW_GATE_OPEN);
  fail_unless_equals_int (gst_harness_push (h, au ({ NAL (IDR) }, FALSE, 0)), GST_FLOW_OK);
  gst_harness_teardown (h);
}
GST_END_TEST;

static guint
force_key_units (GstHarness *h)
{
  guint n = 0;
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_upstream_event (h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_UPSTREAM
        && gst_structure_has_name (gst_event_get_structure (ev), "GstForceKeyUnit"))
      n++;
    gst_event_unref (ev);
  }
  return n;
}

GST_START_TEST (test_new_caps_drop_the_kept_gop)
{
  GwKeyframeGate *gate;
  GstHarness *h = make_harness (&gate);
  gst_harness_push (h, au ({ NAL (SPS), NAL (PPS), NAL (IDR) }, FALSE, 0));
  gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, 1));
  /* The camera changes resolution: the kept frames no longer decode. */
  gst_harness_set_src_caps_str (
      h, "video/x-h264, stream-format=byte-stream, alignment=au, width=1280, height=720");
  gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, 2));
  gw_keyframe_gate_set_mode (gate, GW_GATE_WAITING);
  gst_harness_push (h, au ({ NAL (SLICE) }, TRUE, 3));
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  fail_unless_equals_int (force_key_units (h), 1);
  gst_harness_push (h, au ({ NAL (SPS), NAL (PPS), NAL (IDR) }, FALSE, 4));
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
gwkeyframegate_suite (void)
{
  Suite *s = suite_create ("gwkeyframegate");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_closed_drops_everything);
  tcase_add_test (tc, test_waiting_drops_leading_delta_units);
  tcase_add_test (tc, test_keyframe_gets_parameter_sets);
  tcase_add_test (tc, test_h265_keyframe_gets_parameter_sets);
  tcase_add_test (tc, test_unlinked_output_is_not_an_error);
  tcase_add_test (tc, test_new_caps_drop_the_kept_gop);
  return s;
}

GST_CHECK_MAIN (gwkeyframegate);
