/* gw-test-camera: a real RTSP camera for tests.
 *
 * Serves one shared media (one encoder for all clients) made of a live test
 * pattern encoded with x264 (no B-frames, SPS/PPS with every keyframe) and,
 * optionally, Opus or PCMU audio.
 *
 * Protocol with the test, on stdout (one line each, flushed):
 *   READY rtsp://ADDR:PORT/PATH     the server listens
 *   SESSION-NEW <n-active>          an RTSP session was created
 *   SESSION-END <n-active>          an RTSP session was removed
 *   STOPPED                         clean shutdown after SIGTERM/SIGINT
 * Diagnostics go to stderr.
 */

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <glib-unix.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

struct Options
{
  gchar *address = nullptr;
  gint port = 8554;
  gchar *path = nullptr;
  gint width = 320;
  gint height = 240;
  gint fps = 15;
  gint gop = 15;
  gint slices = 1;
  gchar *audio = nullptr;
  gchar *profile = nullptr;
  gchar *user = nullptr;
  gchar *password = nullptr;
  gchar *transport = nullptr;
  gchar *pattern = nullptr;

  ~Options ()
  {
    g_free (address);
    g_free (path);
    g_free (audio);
    g_free (profile);
    g_free (user);
    g_free (password);
    g_free (transport);
    g_free (pattern);
  }
};

/* Everything the callbacks touch lives on the default main context, so no
 * lock is needed: the RTSP server, its clients and the session pool watch are
 * all attached to it. */
struct Camera
{
  GMainLoop *loop = nullptr;
  GstRTSPSessionPool *pool = nullptr;
};

void
print_line (const std::string & line)
{
  fputs (line.c_str (), stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

void
on_session_removed (GstRTSPSessionPool * pool, GstRTSPSession * session,
    gpointer user_data)
{
  print_line ("SESSION-END " +
      std::to_string (gst_rtsp_session_pool_get_n_sessions (pool)));
}

void
on_new_session (GstRTSPClient * client, GstRTSPSession * session,
    gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  print_line ("SESSION-NEW " +
      std::to_string (gst_rtsp_session_pool_get_n_sessions (cam->pool)));
}

void
on_client_connected (GstRTSPServer * server, GstRTSPClient * client,
    gpointer user_data)
{
  g_signal_connect (client, "new-session", G_CALLBACK (on_new_session),
      user_data);
}

gboolean
on_quit_signal (gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  g_main_loop_quit (cam->loop);
  return G_SOURCE_CONTINUE;
}

gboolean
on_pool_cleanup (GstRTSPSessionPool * pool, gpointer user_data)
{
  gst_rtsp_session_pool_cleanup (pool);
  return G_SOURCE_CONTINUE;
}

bool
parse_transport (const gchar * spec, GstRTSPLowerTrans * out, GError ** error)
{
  g_auto (GStrv) parts = g_strsplit (spec, ",", -1);
  guint flags = 0;
  for (guint i = 0; parts[i]; i++) {
    g_autofree gchar *p = g_strstrip (g_ascii_strdown (parts[i], -1));
    if (g_str_equal (p, "udp"))
      flags |= GST_RTSP_LOWER_TRANS_UDP;
    else if (g_str_equal (p, "udp-mcast"))
      flags |= GST_RTSP_LOWER_TRANS_UDP_MCAST;
    else if (g_str_equal (p, "tcp"))
      flags |= GST_RTSP_LOWER_TRANS_TCP;
    else if (*p != '\0') {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
          "--transport: unknown transport '%s' (udp, udp-mcast, tcp)", p);
      return false;
    }
  }
  if (flags == 0) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--transport: no transport given");
    return false;
  }
  *out = static_cast<GstRTSPLowerTrans> (flags);
  return true;
}

bool
build_launch (const Options & o, std::string * out, GError ** error)
{
  if (o.width <= 0 || o.height <= 0 || o.fps <= 0 || o.gop <= 0
      || o.slices <= 0 || o.slices > 16) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--width, --height, --fps and --gop must be positive, --slices 1..16");
    return false;
  }

  std::string profile_caps;
  if (!g_str_equal (o.profile, "any"))
    profile_caps = std::string (" ! video/x-h264,profile=") + o.profile;

  std::string video = std::string ("videotestsrc is-live=true pattern=") +
      o.pattern + " ! video/x-raw,format=I420,width=" +
      std::to_string (o.width) + ",height=" + std::to_string (o.height) +
      ",framerate=" + std::to_string (o.fps) + "/1"
      /* tune=zerolatency turns on sliced threads: one slice per thread. */
      " ! x264enc tune=zerolatency speed-preset=ultrafast bframes=0"
      " threads=" + std::to_string (o.slices) +
      " key-int-max=" + std::to_string (o.gop) + profile_caps +
      " ! rtph264pay name=pay0 pt=96 config-interval=-1";

  std::string audio;
  if (g_str_equal (o.audio, "opus")) {
    audio = " audiotestsrc is-live=true wave=sine freq=440 volume=0.1"
        " ! audioconvert ! audioresample"
        " ! audio/x-raw,rate=48000,channels=2"
        " ! opusenc ! rtpopuspay name=pay1 pt=97";
  } else if (g_str_equal (o.audio, "pcmu")) {
    audio = " audiotestsrc is-live=true wave=sine freq=440 volume=0.1"
        " ! audioconvert ! audioresample"
        " ! audio/x-raw,rate=8000,channels=1"
        " ! mulawenc ! rtppcmupay name=pay1 pt=0";
  } else if (!g_str_equal (o.audio, "none")) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--audio: expected opus, pcmu or none, got '%s'", o.audio);
    return false;
  }

  *out = "( " + video + audio + " )";
  return true;
}

}  // namespace

int
main (int argc, char **argv)
{
  Options o;
  gboolean show_launch = FALSE;
  GOptionEntry entries[] = {
    {"address", 0, 0, G_OPTION_ARG_STRING, &o.address,
        "Address to listen on (default 127.0.0.1)", "ADDR"},
    {"port", 0, 0, G_OPTION_ARG_INT, &o.port,
        "Port to listen on (default 8554; 0 = any, the chosen one is printed)",
        "PORT"},
    {"path", 0, 0, G_OPTION_ARG_STRING, &o.path,
        "Mount path (default /stream)", "PATH"},
    {"width", 0, 0, G_OPTION_ARG_INT, &o.width, "Width (default 320)", "W"},
    {"height", 0, 0, G_OPTION_ARG_INT, &o.height, "Height (default 240)",
        "H"},
    {"fps", 0, 0, G_OPTION_ARG_INT, &o.fps, "Frame rate (default 15)", "N"},
    {"gop", 0, 0, G_OPTION_ARG_INT, &o.gop,
        "Frames between keyframes, x264 key-int-max (default 15)", "N"},
    {"slices", 0, 0, G_OPTION_ARG_INT, &o.slices,
        "Slices per picture (default 1). With more, rtph264pay's"
        " config-interval=-1 repeats SPS/PPS before every IDR slice, as some"
        " cameras do", "N"},
    {"profile", 0, 0, G_OPTION_ARG_STRING, &o.profile,
        "H.264 profile: constrained-baseline (default), baseline, main, high,"
        " or any (x264's own choice)", "PROFILE"},
    {"pattern", 0, 0, G_OPTION_ARG_STRING, &o.pattern,
        "videotestsrc pattern (default ball)", "PATTERN"},
    {"audio", 0, 0, G_OPTION_ARG_STRING, &o.audio,
        "Audio: opus (default), pcmu or none", "CODEC"},
    {"user", 0, 0, G_OPTION_ARG_STRING, &o.user,
        "Require basic auth with this user", "USER"},
    {"password", 0, 0, G_OPTION_ARG_STRING, &o.password,
        "Password for --user", "PASSWORD"},
    {"transport", 0, 0, G_OPTION_ARG_STRING, &o.transport,
        "Allowed lower transports, comma separated (default udp,tcp)",
        "LIST"},
    {"print-launch", 0, 0, G_OPTION_ARG_NONE, &show_launch,
        "Print the media launch line on stderr", nullptr},
    {nullptr}
  };

  g_autoptr (GOptionContext) ctx = g_option_context_new ("- RTSP test camera");
  g_option_context_add_main_entries (ctx, entries, nullptr);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_autoptr (GError) err = nullptr;
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("gw-test-camera: %s\n", err->message);
    return 2;
  }

  if (!o.address)
    o.address = g_strdup ("127.0.0.1");
  if (!o.path)
    o.path = g_strdup ("/stream");
  if (!o.audio)
    o.audio = g_strdup ("opus");
  if (!o.profile)
    o.profile = g_strdup ("constrained-baseline");
  if (!o.transport)
    o.transport = g_strdup ("udp,tcp");
  if (!o.pattern)
    o.pattern = g_strdup ("ball");
  if (o.path[0] != '/') {
    gchar *p = g_strconcat ("/", o.path, nullptr);
    g_free (o.path);
    o.path = p;
  }
  if (o.port < 0 || o.port > 65535) {
    g_printerr ("gw-test-camera: --port out of range\n");
    return 2;
  }
  if ((o.user == nullptr) != (o.password == nullptr)) {
    g_printerr ("gw-test-camera: --user and --password go together\n");
    return 2;
  }

  GstRTSPLowerTrans protocols;
  std::string launch;
  if (!parse_transport (o.transport, &protocols, &err)
      || !build_launch (o, &launch, &err)) {
    g_printerr ("gw-test-camera: %s\n", err->message);
    return 2;
  }
  if (show_launch)
    g_printerr ("gw-test-camera: launch %s\n", launch.c_str ());

  Camera cam;
  cam.loop = g_main_loop_new (nullptr, FALSE);

  GstRTSPServer *server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (server, o.address);
  g_autofree gchar *service = g_strdup_printf ("%d", o.port);
  gst_rtsp_server_set_service (server, service);

  cam.pool = gst_rtsp_server_get_session_pool (server);
  g_signal_connect (cam.pool, "session-removed",
      G_CALLBACK (on_session_removed), &cam);
  g_signal_connect (server, "client-connected",
      G_CALLBACK (on_client_connected), &cam);

  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, launch.c_str ());
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  gst_rtsp_media_factory_set_protocols (factory, protocols);

  if (o.user) {
    GstRTSPAuth *auth = gst_rtsp_auth_new ();
    g_autoptr (GstRTSPToken) token =
        gst_rtsp_token_new (GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING,
        "user", nullptr);
    g_autofree gchar *basic = gst_rtsp_auth_make_basic (o.user, o.password);
    gst_rtsp_auth_add_basic (auth, basic, token);
    gst_rtsp_server_set_auth (server, auth);
    g_object_unref (auth);
    gst_rtsp_media_factory_add_role (factory, "user",
        GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
        GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, nullptr);
  }

  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points (server);
  gst_rtsp_mount_points_add_factory (mounts, o.path, factory);
  g_object_unref (mounts);

  guint server_watch = gst_rtsp_server_attach (server, nullptr);
  if (server_watch == 0) {
    g_printerr ("gw-test-camera: cannot listen on %s:%d\n", o.address,
        o.port);
    g_object_unref (cam.pool);
    g_object_unref (server);
    g_main_loop_unref (cam.loop);
    return 1;
  }

  /* Sessions whose client vanished without TEARDOWN time out through this
   * watch, so SESSION-END is printed for them too. */
  GSource *pool_watch = gst_rtsp_session_pool_create_watch (cam.pool);
  g_source_set_callback (pool_watch, G_SOURCE_FUNC (on_pool_cleanup), nullptr,
      nullptr);
  g_source_attach (pool_watch, nullptr);

  guint sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, &cam);
  guint sigint = g_unix_signal_add (SIGINT, on_quit_signal, &cam);

  int bound = gst_rtsp_server_get_bound_port (server);
  g_autofree gchar *ready = g_strdup_printf ("READY rtsp://%s:%d%s",
      o.address, bound, o.path);
  print_line (ready);

  g_main_loop_run (cam.loop);

  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_source_destroy (pool_watch);
  g_source_unref (pool_watch);
  g_source_remove (server_watch);

  /* Close every client and its media so encoders stop before we exit. */
  gst_rtsp_server_client_filter (server,
      [](GstRTSPServer *, GstRTSPClient * client, gpointer) {
        gst_rtsp_client_close (client);
        return GST_RTSP_FILTER_REMOVE;
      }, nullptr);
  /* Let the closes run (bounded). */
  for (int i = 0; i < 100 && g_main_context_pending (nullptr); i++)
    g_main_context_iteration (nullptr, FALSE);
  /* Sessions still alive (UDP clients keep theirs after the connection
   * closes) end now: SESSION-END for each, then their media stop. */
  gst_rtsp_session_pool_filter (cam.pool,
      [](GstRTSPSessionPool *, GstRTSPSession *, gpointer) {
        return GST_RTSP_FILTER_REMOVE;
      }, nullptr);
  for (int i = 0; i < 100 && g_main_context_pending (nullptr); i++)
    g_main_context_iteration (nullptr, FALSE);

  g_signal_handlers_disconnect_by_data (cam.pool, &cam);
  g_object_unref (cam.pool);
  g_object_unref (server);
  g_main_loop_unref (cam.loop);
  print_line ("STOPPED");
  return 0;
}
