/* gw-bench-camera: an RTSP camera that costs almost nothing.
 *
 * Each mount serves a pre-encoded clip (Matroska: H.264 without B-frames and
 * optionally Opus) in a loop without re-encoding. A feeder pipeline per mount
 * demuxes and parses the clip in real time (appsink sync=true) and loops it
 * with non-flushing segment seeks, so running time, and with it the RTP
 * timestamps, keeps increasing across loops. Its access units and Opus
 * packets are pushed through appsrc into rtph264pay / rtpopuspay of ONE shared
 * media per mount (the factory is shared), whatever the number of clients.
 *
 * Usage: gw-bench-camera --address 10.99.0.1 --port 8554 \
 *          --mount /clip=clip.mkv [--mount /other=other.mkv] [--rtp-ports 50000-50099]
 *
 * Protocol on stdout (one flushed line each):
 *   READY rtsp://ADDR:PORT      the server listens; mounts are under it
 *   LOOP /MOUNT <n>             the clip of a mount started its n-th repetition
 *   STOPPED                     clean shutdown after SIGTERM/SIGINT
 * Diagnostics go to stderr.
 */

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <glib-unix.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

void
print_line (const std::string &line)
{
  fputs (line.c_str (), stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

/* One mount: a clip, its feeder pipeline and the appsrcs of the shared media
 * it currently feeds (none while no client plays the mount).
 *
 * Threads: the appsink callbacks run on the feeder's streaming threads, the
 * media-configure and unprepared handlers on the RTSP server's threads. @lock
 * protects the fields below it; it is never held while pushing a buffer (the
 * appsrc is reffed, the lock dropped, then the push happens). */
struct Mount
{
  std::string path;
  std::string clip;
  GstElement *feeder = nullptr;
  guint loops = 0; /* main context only */

  std::mutex lock;
  GstAppSrc *video = nullptr;
  GstAppSrc *audio = nullptr;
  GstCaps *video_caps = nullptr;
  GstCaps *audio_caps = nullptr;
  /* media running time = feeder running time + offset; set by the first
   * buffer after the media was (re)configured, shared by both streams so
   * audio and video stay in sync. */
  bool have_offset = false;
  GstClockTimeDiff offset = 0;
};

struct Camera
{
  GMainLoop *loop = nullptr;
  std::vector<Mount *> mounts;
};

/* Running time of @t on the media pipeline that owns @src, now. */
GstClockTime
media_running_time (GstAppSrc *src)
{
  GstElement *e = GST_ELEMENT (src);
  g_autoptr (GstClock) clock = gst_element_get_clock (e);
  if (!clock)
    return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time (clock);
  GstClockTime base = gst_element_get_base_time (e);
  return now > base ? now - base : 0;
}

GstFlowReturn
on_feeder_sample (GstAppSink *sink, gpointer user_data)
{
  auto *m = static_cast<Mount *> (user_data);
  bool is_video = g_str_equal (GST_OBJECT_NAME (sink), "vsink");
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  if (!sample)
    return GST_FLOW_EOS;
  GstBuffer *in = gst_sample_get_buffer (sample);
  const GstSegment *seg = gst_sample_get_segment (sample);
  GstCaps *caps = gst_sample_get_caps (sample);
  GstClockTime pts = GST_BUFFER_PTS (in);
  if (!in || !seg || !GST_CLOCK_TIME_IS_VALID (pts))
    return GST_FLOW_OK;
  GstClockTime rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return GST_FLOW_OK;

  GstAppSrc *src = nullptr;
  GstClockTimeDiff offset = 0;
  {
    std::lock_guard<std::mutex> guard (m->lock);
    GstCaps **cached = is_video ? &m->video_caps : &m->audio_caps;
    if (caps && (!*cached || !gst_caps_is_equal (*cached, caps)))
      gst_caps_replace (cached, caps);
    src = is_video ? m->video : m->audio;
    if (!src)
      return GST_FLOW_OK;
    /* Until the media plays its base time is not final: a timestamp made
     * from it could lie far in the future and hold everything back. Drop
     * until then (a client waits for the next keyframe anyway) and measure
     * the offset again after any pause. */
    if (GST_STATE (src) != GST_STATE_PLAYING) {
      m->have_offset = false;
      return GST_FLOW_OK;
    }
    gst_object_ref (src);
    if (!m->have_offset) {
      GstClockTime now = media_running_time (src);
      if (GST_CLOCK_TIME_IS_VALID (now)) {
        m->offset = GST_CLOCK_DIFF (rt, now);
        m->have_offset = true;
      }
    }
    offset = m->offset;
  }

  if (caps) {
    g_autoptr (GstCaps) cur = gst_app_src_get_caps (src);
    if (!cur || !gst_caps_is_equal (cur, caps))
      gst_app_src_set_caps (src, caps);
  }
  /* Only the metadata is copied; the payload memory is shared. */
  GstBuffer *out = gst_buffer_copy (in);
  GstClockTimeDiff ts = (GstClockTimeDiff)rt + offset;
  GST_BUFFER_PTS (out) = ts > 0 ? (GstClockTime)ts : 0;
  GST_BUFFER_DTS (out) = GST_BUFFER_PTS (out);
  GST_BUFFER_FLAG_UNSET (out, GST_BUFFER_FLAG_DISCONT);
  gst_app_src_push_buffer (src, out);
  gst_object_unref (src);
  return GST_FLOW_OK;
}

gboolean
on_feeder_bus (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  auto *m = static_cast<Mount *> (user_data);
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_SEGMENT_DONE:
    /* Non-flushing: the next repetition's running time continues where
     * this one ended. */
    m->loops++;
    print_line ("LOOP " + m->path + " " + std::to_string (m->loops));
    gst_element_seek (m->feeder, 1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_SEGMENT, GST_SEEK_TYPE_SET, 0,
                      GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE);
    break;
  case GST_MESSAGE_ERROR: {
    g_autoptr (GError) err = nullptr;
    g_autofree gchar *dbg = nullptr;
    gst_message_parse_error (msg, &err, &dbg);
    g_printerr ("gw-bench-camera: %s: %s (%s)\n", m->path.c_str (), err->message, dbg ? dbg : "");
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

bool
start_feeder (Mount *m, GError **error)
{
  g_autofree gchar *loc = g_strescape (m->clip.c_str (), nullptr);
  std::string desc = std::string ("filesrc location=\"") + loc
                     + "\" ! matroskademux name=d"
                       " d.video_0 ! queue max-size-time=2000000000 max-size-buffers=0"
                       " max-size-bytes=0 ! h264parse"
                       " ! video/x-h264,stream-format=avc,alignment=au"
                       " ! appsink name=vsink sync=true max-buffers=4 emit-signals=false";
  /* The clips always carry Opus (see bench/lib/clips.py): an appsink
   * without data would never preroll. */
  desc += " d.audio_0 ! queue max-size-time=2000000000 max-size-buffers=0"
          " max-size-bytes=0 ! opusparse"
          " ! appsink name=asink sync=true max-buffers=16 emit-signals=false";
  m->feeder = gst_parse_launch (desc.c_str (), error);
  if (!m->feeder)
    return false;

  GstAppSinkCallbacks cb = {};
  cb.new_sample = on_feeder_sample;
  for (const char *name : { "vsink", "asink" }) {
    g_autoptr (GstElement) s = gst_bin_get_by_name (GST_BIN (m->feeder), name);
    gst_app_sink_set_callbacks (GST_APP_SINK (s), &cb, m, nullptr);
  }
  g_autoptr (GstBus) bus = gst_element_get_bus (m->feeder);
  gst_bus_add_watch (bus, on_feeder_bus, m);

  if (gst_element_set_state (m->feeder, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE
      || gst_element_get_state (m->feeder, nullptr, nullptr, 10 * GST_SECOND)
             == GST_STATE_CHANGE_FAILURE) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
                 "cannot preroll %s (a Matroska file with H.264 and Opus?)", m->clip.c_str ());
    return false;
  }
  if (!gst_element_seek (m->feeder, 1.0, GST_FORMAT_TIME,
                         (GstSeekFlags)(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_SEGMENT),
                         GST_SEEK_TYPE_SET, 0, GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE)) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_SEEK, "cannot seek in %s", m->clip.c_str ());
    return false;
  }
  gst_element_set_state (m->feeder, GST_STATE_PLAYING);
  return true;
}

void
on_media_unprepared (GstRTSPMedia *media, gpointer user_data)
{
  auto *m = static_cast<Mount *> (user_data);
  std::lock_guard<std::mutex> guard (m->lock);
  g_clear_object (&m->video);
  g_clear_object (&m->audio);
  m->have_offset = false;
}

void
on_media_configure (GstRTSPMediaFactory *factory, GstRTSPMedia *media, gpointer user_data)
{
  auto *m = static_cast<Mount *> (user_data);
  GstElement *bin = gst_rtsp_media_get_element (media);
  GstElement *v = gst_bin_get_by_name_recurse_up (GST_BIN (bin), "vsrc");
  GstElement *a = gst_bin_get_by_name_recurse_up (GST_BIN (bin), "asrc");
  gst_object_unref (bin);
  std::lock_guard<std::mutex> guard (m->lock);
  if (v && m->video_caps)
    gst_app_src_set_caps (GST_APP_SRC (v), m->video_caps);
  if (a && m->audio_caps)
    gst_app_src_set_caps (GST_APP_SRC (a), m->audio_caps);
  g_clear_object (&m->video);
  g_clear_object (&m->audio);
  m->video = v ? GST_APP_SRC (v) : nullptr;
  m->audio = a ? GST_APP_SRC (a) : nullptr;
  m->have_offset = false;
  g_signal_connect (media, "unprepared", G_CALLBACK (on_media_unprepared), m);
}

gboolean
on_quit_signal (gpointer user_data)
{
  g_main_loop_quit (static_cast<Camera *> (user_data)->loop);
  return G_SOURCE_CONTINUE;
}

gboolean
on_pool_cleanup (GstRTSPSessionPool *pool, gpointer)
{
  gst_rtsp_session_pool_cleanup (pool);
  return G_SOURCE_CONTINUE;
}

} // namespace

int
main (int argc, char **argv)
{
  gchar *address = nullptr;
  gint port = 8554;
  gchar **mount_specs = nullptr;
  gchar *rtp_ports = nullptr;
  GOptionEntry entries[]
      = { { "address", 0, 0, G_OPTION_ARG_STRING, &address,
            "Address to listen on (default 127.0.0.1)", "ADDR" },
          { "port", 0, 0, G_OPTION_ARG_INT, &port, "RTSP port (default 8554)", "PORT" },
          { "mount", 0, 0, G_OPTION_ARG_STRING_ARRAY, &mount_specs,
            "Serve a clip: /PATH=FILE.mkv (repeatable)", "/PATH=FILE" },
          { "rtp-ports", 0, 0, G_OPTION_ARG_STRING, &rtp_ports,
            "Server UDP ports for RTP/RTCP, MIN-MAX (default any)", "MIN-MAX" },
          { nullptr } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- RTSP camera looping pre-encoded clips");
  g_option_context_add_main_entries (ctx, entries, nullptr);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_autoptr (GError) err = nullptr;
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("gw-bench-camera: %s\n", err->message);
    return 2;
  }
  if (!address)
    address = g_strdup ("127.0.0.1");
  if (!mount_specs || !mount_specs[0] || port < 0 || port > 65535) {
    g_printerr ("gw-bench-camera: give at least one --mount /PATH=FILE and a"
                " port 0..65535\n");
    return 2;
  }
  guint port_min = 0, port_max = 0;
  if (rtp_ports
      && (sscanf (rtp_ports, "%u-%u", &port_min, &port_max) != 2 || port_min == 0
          || port_max > 65535 || port_min + 1 > port_max)) {
    g_printerr ("gw-bench-camera: --rtp-ports: expected MIN-MAX\n");
    return 2;
  }

  Camera cam;
  cam.loop = g_main_loop_new (nullptr, FALSE);
  GstRTSPServer *server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (server, address);
  g_autofree gchar *service = g_strdup_printf ("%d", port);
  gst_rtsp_server_set_service (server, service);
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points (server);

  int rc = 0;
  for (guint i = 0; mount_specs[i] && rc == 0; i++) {
    const gchar *eq = strchr (mount_specs[i], '=');
    if (!eq || mount_specs[i][0] != '/' || eq == mount_specs[i] + 1 || !eq[1]) {
      g_printerr ("gw-bench-camera: --mount: expected /PATH=FILE, got '%s'\n", mount_specs[i]);
      rc = 2;
      break;
    }
    auto *m = new Mount;
    m->path.assign (mount_specs[i], eq - mount_specs[i]);
    m->clip = eq + 1;
    cam.mounts.push_back (m);
    if (!g_file_test (m->clip.c_str (), G_FILE_TEST_IS_REGULAR)) {
      g_printerr ("gw-bench-camera: %s: no such file\n", m->clip.c_str ());
      rc = 1;
      break;
    }
    if (!start_feeder (m, &err)) {
      g_printerr ("gw-bench-camera: %s: %s\n", m->path.c_str (),
                  err ? err->message : "cannot start");
      rc = 1;
      break;
    }

    GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
    /* format=time: buffers carry the media's running time; do-timestamp is
     * off because the feeder's clip timestamps are kept (no arrival jitter). */
    gst_rtsp_media_factory_set_launch (
        factory, "( appsrc name=vsrc is-live=true format=time do-timestamp=false"
                 " max-bytes=4000000 leaky-type=downstream"
                 " ! rtph264pay name=pay0 pt=96 config-interval=-1"
                 "  appsrc name=asrc is-live=true format=time do-timestamp=false"
                 " max-bytes=200000 leaky-type=downstream"
                 " ! rtpopuspay name=pay1 pt=97 )");
    gst_rtsp_media_factory_set_shared (factory, TRUE);
    if (port_max) {
      GstRTSPAddressPool *pool = gst_rtsp_address_pool_new ();
      gst_rtsp_address_pool_add_range (pool, address, address, port_min, port_max, 0);
      gst_rtsp_media_factory_set_address_pool (factory, pool);
      g_object_unref (pool);
    }
    g_signal_connect (factory, "media-configure", G_CALLBACK (on_media_configure), m);
    gst_rtsp_mount_points_add_factory (mounts, m->path.c_str (), factory);
  }
  g_object_unref (mounts);

  guint server_watch = 0;
  GSource *pool_watch = nullptr;
  GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool (server);
  if (rc == 0) {
    server_watch = gst_rtsp_server_attach (server, nullptr);
    if (server_watch == 0) {
      g_printerr ("gw-bench-camera: cannot listen on %s:%d\n", address, port);
      rc = 1;
    }
  }
  if (rc == 0) {
    pool_watch = gst_rtsp_session_pool_create_watch (pool);
    g_source_set_callback (pool_watch, G_SOURCE_FUNC (on_pool_cleanup), nullptr, nullptr);
    g_source_attach (pool_watch, nullptr);
    guint sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, &cam);
    guint sigint = g_unix_signal_add (SIGINT, on_quit_signal, &cam);
    g_autofree gchar *ready
        = g_strdup_printf ("READY rtsp://%s:%d", address, gst_rtsp_server_get_bound_port (server));
    print_line (ready);
    g_main_loop_run (cam.loop);
    g_source_remove (sigterm);
    g_source_remove (sigint);
    g_source_destroy (pool_watch);
    g_source_unref (pool_watch);
    g_source_remove (server_watch);
    gst_rtsp_server_client_filter (
        server,
        [] (GstRTSPServer *, GstRTSPClient *client, gpointer) {
          gst_rtsp_client_close (client);
          return GST_RTSP_FILTER_REMOVE;
        },
        nullptr);
    gst_rtsp_session_pool_filter (
        pool,
        [] (GstRTSPSessionPool *, GstRTSPSession *, gpointer) { return GST_RTSP_FILTER_REMOVE; },
        nullptr);
    for (int i = 0; i < 100 && g_main_context_pending (nullptr); i++)
      g_main_context_iteration (nullptr, FALSE);
  }

  for (Mount *m : cam.mounts) {
    if (m->feeder) {
      gst_element_set_state (m->feeder, GST_STATE_NULL);
      g_autoptr (GstBus) bus = gst_element_get_bus (m->feeder);
      gst_bus_remove_watch (bus);
      gst_object_unref (m->feeder);
    }
    g_clear_object (&m->video);
    g_clear_object (&m->audio);
    gst_caps_replace (&m->video_caps, nullptr);
    gst_caps_replace (&m->audio_caps, nullptr);
    delete m;
  }
  g_object_unref (pool);
  g_object_unref (server);
  g_main_loop_unref (cam.loop);
  g_free (address);
  g_free (rtp_ports);
  g_strfreev (mount_specs);
  if (rc == 0)
    print_line ("STOPPED");
  return rc;
}
