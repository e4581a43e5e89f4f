/* The fan-out: a branch attached mid-GOP starts at the latest keyframe. */
#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>

#include "gwfanout.h"
#include "gwkeyframegate.h"

static GstStaticPadTemplate src_templ
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

struct Fixture
{
  GstElement *pipeline;
  GstPad *src; /* the upstream, pushed from the test thread */
  GwFanout *fanout;
};

static void
fixture_init (Fixture *f)
{
  f->pipeline = gst_pipeline_new (NULL);
  f->src = gst_pad_new_from_static_template (&src_templ, "src");
  gst_pad_set_active (f->src, TRUE);
  f->fanout = gw_fanout_new (GST_BIN (f->pipeline), f->src, "tee");
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
  gw_fanout_free (f->fanout);
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
  fail_unless (gw_fanout_attach (f->fanout, pad));
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

static Suite *
gwfanout_suite (void)
{
  Suite *s = suite_create ("gwfanout");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_late_branch_starts_at_the_keyframe);
  tcase_add_test (tc, test_audio_is_not_kept);
  return s;
}

GST_CHECK_MAIN (gwfanout);
