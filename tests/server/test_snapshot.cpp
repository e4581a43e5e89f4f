/* Snapshots (server/snapshot.h): ?width= parsing, the decode of a real
 * x264 keyframe to a JPEG of the asked size, the refusals (garbage, audio),
 * and the one-second cache that shares one decode between requests.
 * GLib test: warnings and criticals are fatal. */
#include <gst/app/app.h>
#include <gst/gst.h>

#include "snapshot.h"

#include <string>

namespace {

void
test_width ()
{
  guint w = 1;
  std::string reason;
  g_assert_true (gw::snapshot_parse_width (NULL, w, reason));
  g_assert_cmpuint (w, ==, 0);
  g_assert_true (gw::snapshot_parse_width ("token=abc", w, reason));
  g_assert_cmpuint (w, ==, 0);
  g_assert_true (gw::snapshot_parse_width ("width=160", w, reason));
  g_assert_cmpuint (w, ==, 160);
  g_assert_true (gw::snapshot_parse_width ("token=x&width=16", w, reason));
  g_assert_cmpuint (w, ==, 16);
  g_assert_true (gw::snapshot_parse_width ("width=3840", w, reason));
  g_assert_cmpuint (w, ==, 3840);
  for (const char *bad : { "width=", "width=15", "width=3841", "width=-16", "width=+16",
                           "width=16.0", "width=0x20", "width=1e3", "width=%2016", "width=abc",
                           "width=00016", "width=4294967312", "width=%00" }) {
    reason.clear ();
    g_assert_false (gw::snapshot_parse_width (bad, w, reason));
    g_assert_false (reason.empty ());
  }
}

/* One keyframe of a 128x96 x264 stream, as our parsers give it. */
GstSample *
h264_keyframe ()
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch (
      "videotestsrc num-buffers=1 pattern=ball ! video/x-raw,format=I420,width=128,height=96 "
      "! x264enc ! h264parse config-interval=-1 "
      "! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
      &err);
  g_assert_no_error (err);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 10 * GST_SECOND);
  g_assert_nonnull (s);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
  return s;
}

/* Width and height from a JPEG's SOF marker, after SOI. */
void
jpeg_size (GBytes *jpeg, guint &w, guint &h)
{
  gsize n = 0;
  const guint8 *d = (const guint8 *)g_bytes_get_data (jpeg, &n);
  g_assert_cmpuint (n, >, 4);
  g_assert_true (d[0] == 0xff && d[1] == 0xd8);
  g_assert_true (d[n - 2] == 0xff && d[n - 1] == 0xd9);
  gsize i = 2;
  while (i + 9 < n) {
    g_assert_cmpuint (d[i], ==, 0xff);
    guint8 m = d[i + 1];
    guint len = (d[i + 2] << 8) | d[i + 3];
    if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
      h = (d[i + 5] << 8) | d[i + 6];
      w = (d[i + 7] << 8) | d[i + 8];
      return;
    }
    i += 2 + len;
  }
  g_assert_not_reached ();
}

void
test_decode ()
{
  GstSample *key = h264_keyframe ();
  guint w = 0, h = 0;
  gw::SnapshotResult r = gw::snapshot_decode_jpeg (key, 0, 10 * G_USEC_PER_SEC);
  g_assert_cmpuint (r.status, ==, 200);
  jpeg_size (r.jpeg.get (), w, h);
  g_assert_cmpuint (w, ==, 128);
  g_assert_cmpuint (h, ==, 96);
  r = gw::snapshot_decode_jpeg (key, 64, 10 * G_USEC_PER_SEC);
  g_assert_cmpuint (r.status, ==, 200);
  jpeg_size (r.jpeg.get (), w, h);
  g_assert_cmpuint (w, ==, 64);
  g_assert_cmpuint (h, ==, 48);
  gst_sample_unref (key);
}

void
test_refusals ()
{
  /* Bytes that are no H.264 picture: 503 with a reason, within the bound. */
  static const guint8 junk[] = { 0, 0, 0, 1, 0x65, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 0x09 };
  GstCaps *caps = gst_caps_from_string ("video/x-h264,stream-format=byte-stream,alignment=au");
  GstBuffer *buf = gst_buffer_new_memdup (junk, sizeof (junk));
  GstSample *s = gst_sample_new (buf, caps, NULL, NULL);
  gint64 t0 = g_get_monotonic_time ();
  gw::SnapshotResult r = gw::snapshot_decode_jpeg (s, 0, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 4 * G_USEC_PER_SEC);
  g_assert_cmpuint (r.status, ==, 503);
  g_assert_false (r.reason.empty ());
  g_assert_null (r.jpeg);
  gst_sample_unref (s);
  gst_caps_unref (caps);

  caps = gst_caps_from_string ("audio/x-opus");
  s = gst_sample_new (buf, caps, NULL, NULL);
  r = gw::snapshot_decode_jpeg (s, 0, G_USEC_PER_SEC);
  g_assert_cmpuint (r.status, ==, 501);
  gst_sample_unref (s);
  gst_caps_unref (caps);
  gst_buffer_unref (buf);
}

/* Two requests while one decode runs share it; a third within the second
 * is answered at once from the cache; another width is its own entry. */
void
test_cache ()
{
  GstSample *key = h264_keyframe ();
  gw::Snapshots snaps;
  std::vector<gw::SnapshotResult> got;
  auto done = [&got] (const gw::SnapshotResult &r) { got.push_back (r); };
  snaps.get ("cam", 0, key, done);
  snaps.get ("cam", 0, key, done);
  g_assert_cmpuint (snaps.n_decoding (), ==, 1);
  g_assert_cmpuint (got.size (), ==, 0);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (got.size () < 2 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (got.size (), ==, 2);
  g_assert_cmpuint (got[0].status, ==, 200);
  g_assert_true (got[0].jpeg == got[1].jpeg);
  snaps.get ("cam", 0, NULL, done); /* cached: no keyframe needed */
  g_assert_cmpuint (got.size (), ==, 3);
  g_assert_true (got[2].jpeg == got[0].jpeg);
  snaps.get ("cam", 32, NULL, done); /* not cached, no keyframe: 503 */
  g_assert_cmpuint (got.size (), ==, 4);
  g_assert_cmpuint (got[3].status, ==, 503);
  g_assert_cmpuint (snaps.n_decoding (), ==, 0);
  gst_sample_unref (key);
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/snapshot/width", test_width);
  g_test_add_func ("/snapshot/decode", test_decode);
  g_test_add_func ("/snapshot/refusals", test_refusals);
  g_test_add_func ("/snapshot/cache", test_cache);
  return g_test_run ();
}
