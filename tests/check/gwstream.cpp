/* The stream object: a branch attached mid-GOP starts at the latest
 * keyframe; a branch that decides when to be fed gets events only until it
 * asks, then the kept GOP first. */
#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>

#include "gwstream.h"
#include "gwgop.h"
#include "gwkeyframegate.h"

#include <initializer_list>
#include <utility>

static GstStaticPadTemplate src_templ
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

struct Fixture
{
  GstElement *pipeline;
  GstPad *src; /* the upstream, pushed from the test thread */
  GwStream *fanout;
};

static void
fixture_init (Fixture *f)
{
  f->pipeline = gst_pipeline_new (NULL);
  f->src = gst_pad_new_from_static_template (&src_templ, "src");
  gst_pad_set_active (f->src, TRUE);
  f->fanout = gw_stream_new (GST_BIN (f->pipeline), f->src, "tee");
  fail_unless (f->fanout != NULL);
  fail_unless_equals_int (gst_element_set_state (f->pipeline, GST_STATE_PLAYING),
                          GST_STATE_CHANGE_SUCCESS);
  fail_unless (gst_pad_push_event (f->src, gst_event_new_stream_start ("video")));
  fail_unless (
      gst_pad_push_event (f->src, gst_event_new_caps (gst_caps_from_string (
                                      "video/x-h264, stream-format=byte-stream, alignment=au"))));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_pad_push_event (f->src, gst_event_new_segment (&seg)));
}

static void
fixture_clear (Fixture *f)
{
  gst_element_set_state (f->pipeline, GST_STATE_NULL);
  gw_stream_free (f->fanout);
  gst_object_unref (f->src);
  gst_object_unref (f->pipeline);
}

static void
push (Fixture *f, gboolean delta, GstClockTime pts)
{
  static const guint8 data[] = { 0, 0, 0, 1, 0x41, 0x9a };
  GstBuffer *buf = gst_buffer_new_memdup (data, sizeof (data));
  if (delta)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  GST_BUFFER_PTS (buf) = GST_BUFFER_DTS (buf) = pts;
  fail_unless_equals_int (gst_pad_push (f->src, buf), GST_FLOW_OK);
}

static GstElement *
attach_sink (Fixture *f)
{
  GstElement *sink = gst_element_factory_make ("appsink", NULL);
  g_object_set (sink, "sync", FALSE, "emit-signals", FALSE, NULL);
  gst_bin_add (GST_BIN (f->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  fail_unless (gw_stream_attach (f->fanout, pad));
  gst_object_unref (pad);
  return sink;
}

/* Pulls the next buffer the sink got: its PTS, and whether it is a keyframe. */
static GstClockTime
pull (GstElement *sink, gboolean *key)
{
  GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 5 * GST_SECOND);
  fail_unless (s != NULL);
  GstBuffer *buf = gst_sample_get_buffer (s);
  *key = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  GstClockTime pts = GST_BUFFER_PTS (buf);
  gst_sample_unref (s);
  return pts;
}

GST_START_TEST (test_late_branch_starts_at_the_keyframe)
{
  Fixture f;
  fixture_init (&f);
  const GstClockTime frame = 33 * GST_MSECOND;

  push (&f, TRUE, 0); /* nothing to start from: not kept */
  push (&f, FALSE, GST_SECOND);
  push (&f, TRUE, GST_SECOND + frame);
  push (&f, TRUE, GST_SECOND + 2 * frame);

  GstElement *sink = attach_sink (&f);
  GstClockTime live = GST_SECOND + 3 * frame;
  push (&f, TRUE, live);

  /* The keyframe and the two frames after it come first, retimed to just
   * before the live frame, then the live frame. */
  gboolean key;
  fail_unless_equals_uint64 (pull (sink, &key), live - 3 * GW_GOP_STEP);
  fail_unless (key);
  for (guint i = 1; i < 3; i++) {
    fail_unless_equals_uint64 (pull (sink, &key), live - (3 - i) * GW_GOP_STEP);
    fail_if (key);
  }
  fail_unless_equals_uint64 (pull (sink, &key), live);
  fail_if (key);

  /* A new keyframe restarts what is kept; a second branch joining after
   * it gets that keyframe, and the first branch sees each frame once. */
  push (&f, FALSE, 2 * GST_SECOND);
  GstElement *sink2 = attach_sink (&f);
  push (&f, TRUE, 2 * GST_SECOND + frame);
  fail_unless_equals_uint64 (pull (sink2, &key), 2 * GST_SECOND + frame - GW_GOP_STEP);
  fail_unless (key);
  fail_unless_equals_uint64 (pull (sink2, &key), 2 * GST_SECOND + frame);
  fail_unless_equals_uint64 (pull (sink, &key), 2 * GST_SECOND);
  fail_unless (key);
  fail_unless_equals_uint64 (pull (sink, &key), 2 * GST_SECOND + frame);
  fail_unless (gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 0) == NULL);
  fail_unless (gst_app_sink_try_pull_sample (GST_APP_SINK (sink2), 0) == NULL);
  fixture_clear (&f);
}
GST_END_TEST;

GST_START_TEST (test_audio_is_not_kept)
{
  Fixture f;
  fixture_init (&f);
  fail_unless (
      gst_pad_push_event (f.src, gst_event_new_caps (gst_caps_from_string ("audio/x-opus"))));
  push (&f, FALSE, 0);
  push (&f, FALSE, 20 * GST_MSECOND);
  GstElement *sink = attach_sink (&f);
  push (&f, FALSE, 40 * GST_MSECOND);
  gboolean key;
  fail_unless_equals_uint64 (pull (sink, &key), 40 * GST_MSECOND);
  fail_unless (gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 0) == NULL);
  fixture_clear (&f);
}
GST_END_TEST;

/* ---- branches that decide when to be fed (as gwreaderbin does) */

static const guint8 SPS[] = { 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xd9 };
static const guint8 PPS[] = { 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80 };
static const guint8 IDR[] = { 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x10 };
static const guint8 SLICE[] = { 0, 0, 0, 1, 0x41, 0x9a, 0x02, 0x03 };
#define NAL(x) std::make_pair (x, sizeof (x))

static void
push_au (Fixture *f, std::initializer_list<std::pair<const guint8 *, gsize> > nals, gboolean delta,
         GstClockTime pts)
{
  GstBuffer *buf = gst_buffer_new ();
  for (auto &n : nals)
    gst_buffer_append_memory (buf,
                              gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY, (gpointer)n.first,
                                                      n.second, 0, n.second, NULL, NULL));
  if (delta)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  GST_BUFFER_PTS (buf) = GST_BUFFER_DTS (buf) = pts;
  fail_unless_equals_int (gst_pad_push (f->src, buf), GST_FLOW_OK);
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

/* Answers the stream's attach query, as a reader does. */
static GstPadProbeReturn
accept_attach (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GwStream *stream = gw_stream_accept_attach (GST_PAD_PROBE_INFO_QUERY (info));
  if (!stream)
    return GST_PAD_PROBE_OK;
  gw_stream_unref (stream);
  return GST_PAD_PROBE_HANDLED;
}

static GstPadProbeReturn
count_buffers (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  g_atomic_int_inc (static_cast<gint *> (user_data));
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_force_key_units (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  const GstStructure *s = gst_event_get_structure (ev);
  if (s && gst_structure_has_name (s, "GstForceKeyUnit"))
    g_atomic_int_inc (static_cast<gint *> (user_data));
  return GST_PAD_PROBE_OK;
}

/* A reader's input as the stream sees it: keyframe gate, then a sink. */
static GstElement *
add_gate_branch (Fixture *f, GwKeyframeGate **gate_out, GstPad **sink_out)
{
  GstElement *gate = GST_ELEMENT (g_object_new (GW_TYPE_KEYFRAME_GATE, NULL));
  GstElement *sink = gst_element_factory_make ("appsink", NULL);
  /* Not async: unfed, it would never preroll, and hold the pipeline (and
   * so the other branches' sinks) in PAUSED. */
  g_object_set (sink, "sync", FALSE, "emit-signals", FALSE, "async", FALSE, NULL);
  gst_bin_add_many (GST_BIN (f->pipeline), gate, sink, NULL);
  fail_unless (gst_element_link (gate, sink));
  gst_element_sync_state_with_parent (sink);
  gst_element_sync_state_with_parent (gate);
  GstPad *pad = gst_element_get_static_pad (gate, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_QUERY_BOTH, accept_attach, NULL, NULL);
  *gate_out = GW_KEYFRAME_GATE (gate);
  *sink_out = pad;
  return sink;
}

GST_START_TEST (test_tee_feeds_only_branches_that_ask)
{
  Fixture f;
  fixture_init (&f);
  GwKeyframeGate *gate;
  GstPad *asking;
  GstElement *asking_sink = add_gate_branch (&f, &gate, &asking);
  gint asking_buffers = 0, plain_buffers = 0;
  gst_pad_add_probe (asking, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, &asking_buffers, NULL);
  fail_unless (gw_stream_attach (f.fanout, asking));
  GstElement *plain = attach_sink (&f);
  GstPad *plain_pad = gst_element_get_static_pad (plain, "sink");
  gst_pad_add_probe (plain_pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, &plain_buffers, NULL);
  fail_unless_equals_int (gw_stream_get_n_attached (f.fanout), 2);
  fail_unless_equals_int (gw_stream_get_n_fed (f.fanout), 1);

  for (guint i = 0; i < 10; i++)
    push (&f, i > 0, i * GST_SECOND / 30);
  /* The branch that decides got the stream's events (it can negotiate),
   * not one buffer; the plain one got them all. */
  fail_unless_equals_int (g_atomic_int_get (&asking_buffers), 0);
  fail_unless_equals_int (g_atomic_int_get (&plain_buffers), 10);
  GstCaps *caps = gst_pad_get_current_caps (asking);
  fail_unless (caps != NULL);
  gst_caps_unref (caps);
  fail_unless (gst_pad_get_peer (asking) == NULL);

  /* It asks (its viewer connected, its own path sends): fed from now on,
   * the kept GOP first. */
  gw_keyframe_gate_set_mode (gate, GW_GATE_OPEN);
  fail_unless (gw_stream_feed (f.fanout, asking));
  fail_unless_equals_int (gw_stream_get_n_fed (f.fanout), 2);
  push (&f, TRUE, 10 * GST_SECOND / 30);
  fail_unless_equals_int (g_atomic_int_get (&asking_buffers), 11);
  fail_unless_equals_int (g_atomic_int_get (&plain_buffers), 11);
  gboolean key;
  pull (asking_sink, &key);
  fail_unless (key);

  fail_unless (gw_stream_detach (f.fanout, asking, NULL));
  fail_unless (gw_stream_detach (f.fanout, plain_pad, NULL));
  fail_unless_equals_int (gw_stream_get_n_attached (f.fanout), 0);
  gst_object_unref (plain_pad);
  gst_object_unref (asking);
  fixture_clear (&f);
}
GST_END_TEST;

/* Moved from the gate's tests when the GOP moved to the stream: a viewer
 * whose own path starts on connection begins with the stream's kept GOP. */
GST_START_TEST (test_connected_viewer_starts_from_kept_gop)
{
  Fixture f;
  fixture_init (&f);
  gint fku = 0;
  gst_pad_add_probe (f.src, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, count_force_key_units, &fku, NULL);
  GwKeyframeGate *gate;
  GstPad *pad;
  GstElement *sink = add_gate_branch (&f, &gate, &pad);
  fail_unless (gw_stream_attach (f.fanout, pad));

  /* While the viewer connects: a delta unit with nothing to start from,
   * then a keyframe (without its parameter sets) and two delta units. */
  push_au (&f, { NAL (SPS), NAL (PPS), NAL (SLICE) }, TRUE, GST_SECOND - 1);
  push_au (&f, { NAL (IDR) }, FALSE, GST_SECOND);
  push_au (&f, { NAL (SLICE) }, TRUE, GST_SECOND + 33 * GST_MSECOND);
  push_au (&f, { NAL (SLICE) }, TRUE, GST_SECOND + 66 * GST_MSECOND);
  fail_unless (gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 0) == NULL);

  /* Connected: the next delta unit comes after the kept frames, retimed
   * to end just before it, the keyframe with SPS/PPS in front. */
  gw_keyframe_gate_set_mode (gate, GW_GATE_WAITING);
  fail_unless (gw_stream_feed (f.fanout, pad));
  GstClockTime live = GST_SECOND + 100 * GST_MSECOND;
  push_au (&f, { NAL (SLICE) }, TRUE, live);
  fail_unless_equals_int (gw_keyframe_gate_get_mode (gate), GW_GATE_OPEN);

  GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 5 * GST_SECOND);
  fail_unless (s != NULL);
  GstBuffer *kf = gst_sample_get_buffer (s);
  fail_if (GST_BUFFER_FLAG_IS_SET (kf, GST_BUFFER_FLAG_DELTA_UNIT));
  fail_unless (buffer_equals (kf, { NAL (SPS), NAL (PPS), NAL (IDR) }));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (kf), live - 3 * GW_GOP_STEP);
  gst_sample_unref (s);
  gboolean key;
  for (guint i = 1; i < 3; i++) {
    fail_unless_equals_uint64 (pull (sink, &key), live - (3 - i) * GW_GOP_STEP);
    fail_if (key);
  }
  fail_unless_equals_uint64 (pull (sink, &key), live);
  fail_unless (gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 0) == NULL);
  /* It never had to ask upstream for a keyframe. */
  fail_unless_equals_int (g_atomic_int_get (&fku), 0);
  gst_object_unref (pad);
  fixture_clear (&f);
}
GST_END_TEST;

/* New caps (a resolution change): frames kept under the old ones would not
 * decode; the viewer's gate then waits for, and asks for, a keyframe. */
GST_START_TEST (test_new_caps_drop_the_kept_gop)
{
  Fixture f;
  fixture_init (&f);
  gint fku = 0;
  gst_pad_add_probe (f.src, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, count_force_key_units, &fku, NULL);
  GwKeyframeGate *gate;
  GstPad *pad;
  GstElement *sink = add_gate_branch (&f, &gate, &pad);
  fail_unless (gw_stream_attach (f.fanout, pad));
  push_au (&f, { NAL (SPS), NAL (PPS), NAL (IDR) }, FALSE, 0);
  push_au (&f, { NAL (SLICE) }, TRUE, 1);
  fail_unless (gst_pad_push_event (
      f.src,
      gst_event_new_caps (gst_caps_from_string (
          "video/x-h264, stream-format=byte-stream, alignment=au, width=1280, height=720"))));
  push_au (&f, { NAL (SLICE) }, TRUE, 2);
  gw_keyframe_gate_set_mode (gate, GW_GATE_WAITING);
  fail_unless (gw_stream_feed (f.fanout, pad));
  push_au (&f, { NAL (SLICE) }, TRUE, 3);
  fail_unless (gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 0) == NULL);
  fail_unless_equals_int (g_atomic_int_get (&fku), 1);
  push_au (&f, { NAL (SPS), NAL (PPS), NAL (IDR) }, FALSE, 4);
  gboolean key;
  fail_unless_equals_uint64 (pull (sink, &key), 4);
  fail_unless (key);
  gst_object_unref (pad);
  fixture_clear (&f);
}
GST_END_TEST;

/* The kept keyframe for snapshots: none before a keyframe, the GOP's first
 * access unit with the stream's caps after it (its parameter sets put in
 * front when it came without them), none again after new caps, and none
 * for audio. */
GST_START_TEST (test_kept_keyframe)
{
  Fixture f;
  fixture_init (&f);
  fail_unless (gw_stream_get_keyframe (f.fanout) == NULL);
  push_au (&f, { NAL (SLICE) }, TRUE, 0);
  fail_unless (gw_stream_get_keyframe (f.fanout) == NULL);

  push_au (&f, { NAL (SPS), NAL (PPS), NAL (IDR) }, FALSE, 1);
  push_au (&f, { NAL (SLICE) }, TRUE, 2);
  GstSample *key = gw_stream_get_keyframe (f.fanout);
  fail_unless (key != NULL);
  fail_unless (buffer_equals (gst_sample_get_buffer (key), { NAL (SPS), NAL (PPS), NAL (IDR) }));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (gst_sample_get_buffer (key)), 1);
  GstStructure *st = gst_caps_get_structure (gst_sample_get_caps (key), 0);
  fail_unless (gst_structure_has_name (st, "video/x-h264"));
  gst_sample_unref (key);

  /* A keyframe without its parameter sets gets the last ones in front. */
  push_au (&f, { NAL (IDR) }, FALSE, 3);
  key = gw_stream_get_keyframe (f.fanout);
  fail_unless (key != NULL);
  fail_unless (buffer_equals (gst_sample_get_buffer (key), { NAL (SPS), NAL (PPS), NAL (IDR) }));
  gst_sample_unref (key);

  /* New caps: the old keyframe would not decode with them. */
  fail_unless (gst_pad_push_event (
      f.src, gst_event_new_caps (gst_caps_from_string (
                 "video/x-h264, stream-format=byte-stream, alignment=au, width=640, height=480"))));
  fail_unless (gw_stream_get_keyframe (f.fanout) == NULL);

  fail_unless (
      gst_pad_push_event (f.src, gst_event_new_caps (gst_caps_from_string ("audio/x-opus"))));
  push (&f, FALSE, 10);
  fail_unless (gw_stream_get_keyframe (f.fanout) == NULL);
  fixture_clear (&f);
}
GST_END_TEST;

static Suite *
gwstream_suite (void)
{
  Suite *s = suite_create ("gwstream");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_late_branch_starts_at_the_keyframe);
  tcase_add_test (tc, test_audio_is_not_kept);
  tcase_add_test (tc, test_tee_feeds_only_branches_that_ask);
  tcase_add_test (tc, test_connected_viewer_starts_from_kept_gop);
  tcase_add_test (tc, test_new_caps_drop_the_kept_gop);
  tcase_add_test (tc, test_kept_keyframe);
  return s;
}

GST_CHECK_MAIN (gwstream);
