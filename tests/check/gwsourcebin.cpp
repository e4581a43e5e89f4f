/* gwsourcebin against a real RTSP camera (gst-rtsp-server in this process,
 * on 127.0.0.1), and in pipeline= mode.
 *
 * What a user relies on: the pads and their caps, data on them, the
 * "gwsourcebin-state" messages, reconnection on the same pads with monotonic
 * timestamps and no EOS/ERROR downstream, passwords never shown, clear errors
 * on bad settings, and a prompt shutdown whatever the source is doing. */
#include <gst/check/gstcheck.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gwelements.h"
#include "gwsourceattempt.h"
#include "gwsourcebin.h"

#define CAMERA_LAUNCH                                                                              \
  "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,"                                \
  "framerate=15/1 ! x264enc tune=zerolatency key-int-max=15 bframes=0 ! "                          \
  "rtph264pay name=pay0 pt=96 audiotestsrc is-live=true ! opusenc ! "                              \
  "rtpopuspay name=pay1 pt=97 )"

#define USER "alice"
/* '@' and ':' as users write them in URLs, raw or percent-encoded */
#define PASSWORD "Pw@s3cr:t-9"
#define PASSWORD_ENCODED "Pw%40s3cr%3At-9"

/* ---- the camera ---------------------------------------------------------- */

/* A gst-rtsp-server on its own thread. It accepts connections on a socket we
 * own, so "camera down" can really close the port and "up" reopen it. */
struct Camera
{
  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  GThread *thread = nullptr;
  GstRTSPServer *server = nullptr;
  GSocket *listener = nullptr;
  GSource *accept = nullptr;
  guint16 port = 0;
};

static gpointer
camera_thread (gpointer data)
{
  Camera *cam = static_cast<Camera *> (data);
  g_main_context_push_thread_default (cam->ctx);
  g_main_loop_run (cam->loop);
  g_main_context_pop_thread_default (cam->ctx);
  return nullptr;
}

/* Runs @fn on the camera thread and waits for it. */
static void
camera_call (Camera *cam, std::function<void ()> fn)
{
  struct Call
  {
    std::function<void ()> fn;
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
  } call;
  call.fn = std::move (fn);
  g_main_context_invoke (
      cam->ctx,
      [] (gpointer p) -> gboolean {
        Call *c = static_cast<Call *> (p);
        c->fn ();
        std::lock_guard<std::mutex> g (c->m);
        c->done = true;
        c->cv.notify_all ();
        return G_SOURCE_REMOVE;
      },
      &call);
  std::unique_lock<std::mutex> g (call.m);
  fail_unless (call.cv.wait_for (g, std::chrono::seconds (10), [&] { return call.done; }),
               "camera thread stuck");
}

static gboolean
on_camera_accept (GSocket *listener, GIOCondition cond, gpointer data)
{
  Camera *cam = static_cast<Camera *> (data);
  GSocket *client = g_socket_accept (listener, nullptr, nullptr);
  if (client)
    gst_rtsp_server_transfer_connection (cam->server, client, "127.0.0.1", 0, nullptr);
  return G_SOURCE_CONTINUE;
}

static Camera *
camera_new (bool with_auth)
{
  Camera *cam = new Camera ();
  cam->ctx = g_main_context_new ();
  cam->loop = g_main_loop_new (cam->ctx, FALSE);
  cam->server = gst_rtsp_server_new ();
  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, CAMERA_LAUNCH);
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  if (with_auth) {
    GstRTSPAuth *auth = gst_rtsp_auth_new ();
    GstRTSPToken *token
        = gst_rtsp_token_new (GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, "user", NULL);
    gchar *basic = gst_rtsp_auth_make_basic (USER, PASSWORD);
    gst_rtsp_auth_add_basic (auth, basic, token);
    g_free (basic);
    gst_rtsp_token_unref (token);
    gst_rtsp_server_set_auth (cam->server, auth);
    g_object_unref (auth);
    gst_rtsp_media_factory_add_role (factory, "user", GST_RTSP_PERM_MEDIA_FACTORY_ACCESS,
                                     G_TYPE_BOOLEAN, TRUE, GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
                                     G_TYPE_BOOLEAN, TRUE, NULL);
  }
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points (cam->server);
  gst_rtsp_mount_points_add_factory (mounts, "/test", factory);
  g_object_unref (mounts);
  cam->thread = g_thread_new ("camera", camera_thread, cam);
  return cam;
}

/* Listens on 127.0.0.1:@port (0: any free port). */
static void
camera_up (Camera *cam, guint16 port)
{
  camera_call (cam, [cam, port] {
    GError *err = nullptr;
    cam->listener
        = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &err);
    fail_unless (cam->listener != nullptr);
    GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    GSocketAddress *addr = g_inet_socket_address_new (lo, port);
    fail_unless (g_socket_bind (cam->listener, addr, TRUE, &err), "bind: %s",
                 err ? err->message : "?");
    fail_unless (g_socket_listen (cam->listener, &err));
    g_object_unref (addr);
    g_object_unref (lo);
    GSocketAddress *bound = g_socket_get_local_address (cam->listener, nullptr);
    cam->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
    g_object_unref (bound);
    cam->accept = g_socket_create_source (cam->listener, G_IO_IN, nullptr);
    g_source_set_callback (cam->accept, (GSourceFunc)(void (*) (void))on_camera_accept, cam,
                           nullptr);
    g_source_attach (cam->accept, cam->ctx);
  });
}

static GstRTSPFilterResult
remove_client (GstRTSPServer *server, GstRTSPClient *client, gpointer data)
{
  return GST_RTSP_FILTER_REMOVE;
}

static GstRTSPFilterResult
remove_session (GstRTSPSessionPool *pool, GstRTSPSession *session, gpointer data)
{
  return GST_RTSP_FILTER_REMOVE;
}

/* The camera goes away: port closed, connections and sessions dropped. */
static void
camera_down (Camera *cam)
{
  camera_call (cam, [cam] {
    if (cam->accept) {
      g_source_destroy (cam->accept);
      g_source_unref (cam->accept);
      cam->accept = nullptr;
    }
    if (cam->listener) {
      g_socket_close (cam->listener, nullptr);
      g_clear_object (&cam->listener);
    }
    g_list_free_full (gst_rtsp_server_client_filter (cam->server, remove_client, nullptr),
                      g_object_unref);
    GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool (cam->server);
    g_list_free_full (gst_rtsp_session_pool_filter (pool, remove_session, nullptr), g_object_unref);
    g_object_unref (pool);
  });
}

static void
camera_free (Camera *cam)
{
  camera_down (cam);
  camera_call (cam, [cam] { g_clear_object (&cam->server); });
  g_main_loop_quit (cam->loop);
  g_thread_join (cam->thread);
  g_main_loop_unref (cam->loop);
  g_main_context_unref (cam->ctx);
  delete cam;
}

static std::string
camera_url (Camera *cam, const char *userinfo = nullptr)
{
  return std::string ("rtsp://") + (userinfo ? std::string (userinfo) + "@" : "")
         + "127.0.0.1:" + std::to_string (cam->port) + "/test";
}

/* ---- the pipeline under test --------------------------------------------- */

/* What one src pad of the gwsourcebin delivered. */
struct PadLog
{
  GstPad *pad = nullptr;
  guint buffers = 0;
  guint eos = 0;
  gint64 last_pts = -1;
  guint pts_backwards = 0;
};

struct Fixture
{
  GstElement *pipeline = nullptr;
  GstElement *src = nullptr;
  GstBus *bus = nullptr;
  std::mutex lock;
  std::map<std::string, PadLog> pads;
  guint pads_added = 0;
  bool no_more_pads = false;
  /* From the bus, read by the test thread only. */
  std::vector<std::string> states; /* "state:attempt" */
  /* every state message (serialized), "error" field, error/warning text */
  std::vector<std::string> texts;
  guint errors = 0, eos = 0;
};

static GstPadProbeReturn
on_pad_data (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Fixture *f = static_cast<Fixture *> (data);
  std::lock_guard<std::mutex> g (f->lock);
  PadLog &log = f->pads[GST_PAD_NAME (pad)];
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    log.buffers++;
    if (GST_BUFFER_PTS_IS_VALID (buf)) {
      gint64 pts = (gint64)GST_BUFFER_PTS (buf);
      if (pts <= log.last_pts)
        log.pts_backwards++;
      log.last_pts = pts;
    }
  } else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_EOS) {
    log.eos++;
  }
  return GST_PAD_PROBE_OK;
}

static void
on_pad_added (GstElement *src, GstPad *pad, gpointer data)
{
  Fixture *f = static_cast<Fixture *> (data);
  GstElement *sink = gst_element_factory_make ("fakesink", nullptr);
  g_object_set (sink, "sync", TRUE, "async", FALSE, nullptr);
  gst_bin_add (GST_BIN (f->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  GstPad *sinkpad = gst_element_get_static_pad (sink, "sink");
  fail_unless_equals_int (gst_pad_link (pad, sinkpad), GST_PAD_LINK_OK);
  gst_object_unref (sinkpad);
  gst_pad_add_probe (
      pad, (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      on_pad_data, f, nullptr);
  std::lock_guard<std::mutex> g (f->lock);
  f->pads[GST_PAD_NAME (pad)].pad = pad;
  f->pads_added++;
}

static void
on_no_more_pads (GstElement *src, gpointer data)
{
  Fixture *f = static_cast<Fixture *> (data);
  std::lock_guard<std::mutex> g (f->lock);
  f->no_more_pads = true;
}

static Fixture *
fixture_new (const char *props)
{
  Fixture *f = new Fixture ();
  f->pipeline = gst_pipeline_new (nullptr);
  f->src = gst_element_factory_make ("gwsourcebin", "src");
  fail_unless (f->src != nullptr);
  if (props) {
    gchar **kv = g_strsplit (props, "\n", -1);
    for (gchar **p = kv; *p; p++) {
      gchar **pair = g_strsplit (*p, "=", 2);
      gst_util_set_object_arg (G_OBJECT (f->src), pair[0], pair[1]);
      g_strfreev (pair);
    }
    g_strfreev (kv);
  }
  gst_bin_add (GST_BIN (f->pipeline), f->src);
  g_signal_connect (f->src, "pad-added", G_CALLBACK (on_pad_added), f);
  g_signal_connect (f->src, "no-more-pads", G_CALLBACK (on_no_more_pads), f);
  f->bus = gst_element_get_bus (f->pipeline);
  return f;
}

static void
fixture_free (Fixture *f)
{
  gst_element_set_state (f->pipeline, GST_STATE_NULL);
  gst_object_unref (f->bus);
  gst_object_unref (f->pipeline);
  delete f;
}

/* Reads bus messages for up to @timeout_ms, until @until (checked after each
 * message and every 50 ms) returns true. Returns whether it did. */
static bool
pump (Fixture *f, guint timeout_ms, std::function<bool ()> until)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * 1000;
  while (!until ()) {
    if (g_get_monotonic_time () > deadline)
      return false;
    GstMessage *msg = gst_bus_timed_pop (f->bus, 50 * GST_MSECOND);
    if (!msg)
      continue;
    switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
    case GST_MESSAGE_WARNING: {
      GError *err = nullptr;
      gchar *debug = nullptr;
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
        gst_message_parse_error (msg, &err, &debug);
        f->errors++;
        GST_INFO ("ERROR: %s (%s)", err->message, debug);
      } else {
        gst_message_parse_warning (msg, &err, &debug);
      }
      f->texts.push_back (err->message);
      f->texts.push_back (debug ? debug : "");
      g_clear_error (&err);
      g_free (debug);
      break;
    }
    case GST_MESSAGE_EOS:
      f->eos++;
      break;
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure (msg);
      if (gst_structure_has_name (s, "gwsourcebin-state")) {
        gchar *text = gst_structure_to_string (s);
        GST_INFO ("%s", text);
        f->texts.push_back (text);
        g_free (text);
        guint attempt = 0;
        fail_unless (gst_structure_get_uint (s, "attempt", &attempt));
        const gchar *state = gst_structure_get_string (s, "state");
        fail_unless (state != nullptr);
        f->states.push_back (std::string (state) + ":" + std::to_string (attempt));
        if (g_str_equal (state, "retrying")) {
          guint in = 0;
          fail_unless (gst_structure_get_uint (s, "retry-in-ms", &in));
          const gchar *error = gst_structure_get_string (s, "error");
          fail_unless (error != nullptr);
          f->texts.push_back (error); /* as is: the serialized form escapes */
        }
      }
      break;
    }
    default:
      break;
    }
    gst_message_unref (msg);
  }
  return true;
}

static guint
count_states (Fixture *f, const char *prefix)
{
  guint n = 0;
  for (const std::string &s : f->states)
    if (g_str_has_prefix (s.c_str (), prefix))
      n++;
  return n;
}

static PadLog
pad_log (Fixture *f, const char *name)
{
  std::lock_guard<std::mutex> g (f->lock);
  auto it = f->pads.find (name);
  return it == f->pads.end () ? PadLog () : it->second;
}

static bool
has_buffers (Fixture *f, const char *name, guint n)
{
  return pad_log (f, name).buffers >= n;
}

static void
check_h264_caps (GstPad *pad, gint width)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  fail_unless (caps != nullptr);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "video/x-h264"), "caps %" GST_PTR_FORMAT, caps);
  fail_unless_equals_string (gst_structure_get_string (s, "stream-format"), "byte-stream");
  fail_unless_equals_string (gst_structure_get_string (s, "alignment"), "au");
  gint w = 0;
  fail_unless (gst_structure_get_int (s, "width", &w));
  fail_unless_equals_int (w, width);
  gst_caps_unref (caps);
}

static std::string
rtsp_props (Camera *cam, const char *extra, const char *userinfo = nullptr)
{
  return "location=" + camera_url (cam, userinfo)
         + "\nretry-initial=200\nretry-max=1000"
           "\ntimeout=2000"
         + (extra ? std::string ("\n") + extra : "");
}

/* ---- tests --------------------------------------------------------------- */

GST_START_TEST (test_camera_video_and_audio)
{
  Camera *cam = camera_new (false);
  camera_up (cam, 0);
  Fixture *f = fixture_new (rtsp_props (cam, nullptr).c_str ());
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (
      pump (f, 15000,
            [f] { return has_buffers (f, "video_0", 20) && has_buffers (f, "audio_0", 20); }),
      "no data on video_0 and audio_0");

  fail_unless_equals_int (f->pads_added, 2);
  fail_unless (f->no_more_pads);
  check_h264_caps (pad_log (f, "video_0").pad, 320);
  GstCaps *acaps = gst_pad_get_current_caps (pad_log (f, "audio_0").pad);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (acaps, 0), "audio/x-opus"));
  gst_caps_unref (acaps);
  fail_unless_equals_int (count_states (f, "connecting:1"), 1);
  fail_unless_equals_int (count_states (f, "streaming:1"), 1);
  GwSourceBinState state;
  g_object_get (f->src, "state", &state, nullptr);
  fail_unless_equals_int (state, GW_SOURCE_BIN_STATE_STREAMING);
  fail_unless_equals_int (f->errors, 0);

  /* The element reports itself live with "latency" ms of latency. */
  GstQuery *q = gst_query_new_latency ();
  fail_unless (gst_pad_query (pad_log (f, "video_0").pad, q));
  gboolean live;
  GstClockTime min;
  gst_query_parse_latency (q, &live, &min, nullptr);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 50 * GST_MSECOND);
  gst_query_unref (q);

  fixture_free (f);
  camera_free (cam);
}
GST_END_TEST;

static std::atomic<guint> leaked_in_logs;

static void
log_watch (GstDebugCategory *cat, GstDebugLevel level, const gchar *file, const gchar *function,
           gint line, GObject *object, GstDebugMessage *message, gpointer data)
{
  const gchar *text = gst_debug_message_get (message);
  if (g_str_has_prefix (gst_debug_category_get_name (cat), "gw") && text
      && (strstr (text, PASSWORD) || strstr (text, PASSWORD_ENCODED)))
    leaked_in_logs++;
}

static void
check_no_password (Fixture *f)
{
  fail_unless (!f->texts.empty ());
  for (const std::string &t : f->texts) {
    fail_unless (t.find (PASSWORD) == std::string::npos, "password shown in: %s", t.c_str ());
    fail_unless (t.find (PASSWORD_ENCODED) == std::string::npos, "password shown in: %s",
                 t.c_str ());
  }
}

GST_START_TEST (test_camera_with_auth)
{
  gst_debug_set_threshold_for_name ("gwsourcebin", GST_LEVEL_LOG);
  gst_debug_add_log_function (log_watch, nullptr, nullptr);
  Camera *cam = camera_new (true);
  camera_up (cam, 0);

  /* user-id / user-pw */
  std::string props = rtsp_props (cam, "user-id=" USER "\nuser-pw=" PASSWORD "\nprotocols=tcp");
  Fixture *f = fixture_new (props.c_str ());
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (pump (f, 15000, [f] { return has_buffers (f, "video_0", 10); }),
               "no data with user-id/user-pw");
  fail_unless_equals_int (count_states (f, "retrying"), 0);
  check_no_password (f);
  fixture_free (f);

  /* password in the URL; reading "location" back hides it */
  f = fixture_new (rtsp_props (cam, nullptr, USER ":" PASSWORD).c_str ());
  gchar *loc = nullptr;
  g_object_get (f->src, "location", &loc, nullptr);
  std::string shown = camera_url (cam, USER ":***");
  fail_unless_equals_string (loc, shown.c_str ());
  g_free (loc);
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (pump (f, 15000, [f] { return has_buffers (f, "video_0", 10); }),
               "no data with the password in the URL");
  check_no_password (f);
  fixture_free (f);

  /* the password percent-encoded in the URL */
  f = fixture_new (rtsp_props (cam, nullptr, USER ":" PASSWORD_ENCODED).c_str ());
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (pump (f, 15000, [f] { return has_buffers (f, "video_0", 10); }),
               "no data with the encoded password in the URL");
  check_no_password (f);
  fixture_free (f);

  /* a wrong password: retries, with an error that does not show it */
  f = fixture_new (rtsp_props (cam, nullptr, USER ":" PASSWORD "-wrong").c_str ());
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (pump (f, 10000, [f] { return count_states (f, "retrying") >= 2; }));
  fail_unless_equals_int (f->pads_added, 0);
  fail_unless_equals_int (f->errors, 0);
  check_no_password (f);
  fixture_free (f);

  gst_debug_remove_log_function (log_watch);
  fail_unless_equals_int (leaked_in_logs.load (), 0);
  camera_free (cam);
}
GST_END_TEST;

GST_START_TEST (test_reconnect_same_pads)
{
  Camera *cam = camera_new (false);
  camera_up (cam, 0);
  guint16 port = cam->port;
  Fixture *f = fixture_new (rtsp_props (cam, "protocols=tcp").c_str ());
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (pump (
      f, 15000, [f] { return has_buffers (f, "video_0", 15) && has_buffers (f, "audio_0", 15); }));
  GstPad *video = pad_log (f, "video_0").pad;
  GstPad *audio = pad_log (f, "audio_0").pad;

  camera_down (cam);
  fail_unless (pump (f, 10000, [f] { return count_states (f, "retrying") >= 2; }),
               "no retries while the camera is down");
  guint v_before = pad_log (f, "video_0").buffers;
  guint a_before = pad_log (f, "audio_0").buffers;

  camera_up (cam, port);
  fail_unless (pump (f, 15000,
                     [&] {
                       return count_states (f, "streaming") >= 2
                              && has_buffers (f, "video_0", v_before + 15)
                              && has_buffers (f, "audio_0", a_before + 15);
                     }),
               "no data after the camera came back");

  fail_unless_equals_int (f->pads_added, 2);
  fail_unless (pad_log (f, "video_0").pad == video);
  fail_unless (pad_log (f, "audio_0").pad == audio);
  fail_unless_equals_int (f->src->numsrcpads, 2);
  for (const char *name : { "video_0", "audio_0" }) {
    PadLog log = pad_log (f, name);
    fail_unless_equals_int (log.pts_backwards, 0);
    fail_unless_equals_int (log.eos, 0);
  }
  check_h264_caps (video, 320);
  fail_unless_equals_int (f->errors, 0);
  fail_unless_equals_int (f->eos, 0);
  fixture_free (f);
  camera_free (cam);
}
GST_END_TEST;

GST_START_TEST (test_camera_down_at_start)
{
  Camera *cam = camera_new (false);
  camera_up (cam, 0);
  guint16 port = cam->port;
  camera_down (cam);

  Fixture *f = fixture_new (rtsp_props (cam, nullptr).c_str ());
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (pump (f, 10000, [f] { return count_states (f, "retrying") >= 3; }));
  /* backoff: 200, 400, 800 ms */
  std::vector<std::string> expect = { "connecting:1", "retrying:1",   "connecting:2",
                                      "retrying:2",   "connecting:3", "retrying:3" };
  fail_unless (std::equal (expect.begin (), expect.end (), f->states.begin ()));
  fail_unless_equals_int (f->pads_added, 0);

  camera_up (cam, port);
  fail_unless (
      pump (f, 15000,
            [f] { return has_buffers (f, "video_0", 10) && has_buffers (f, "audio_0", 10); }),
      "no data once the camera is up");
  fail_unless_equals_int (count_states (f, "streaming"), 1);
  fail_unless_equals_int (f->errors, 0);
  check_h264_caps (pad_log (f, "video_0").pad, 320);
  fixture_free (f);
  camera_free (cam);
}
GST_END_TEST;

GST_START_TEST (test_pipeline_mode)
{
  Fixture *f = fixture_new (
      "pipeline=videotestsrc is-live=true ! video/x-raw,width=320,"
      "height=240,framerate=15/1 ! x264enc tune=zerolatency key-int-max=15 ! h264parse "
      "audiotestsrc is-live=true ! audio/x-raw,rate=8000,channels=1 ! mulawenc");
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (pump (
      f, 10000, [f] { return has_buffers (f, "video_0", 10) && has_buffers (f, "audio_0", 10); }));
  fail_unless_equals_int (f->pads_added, 2);
  fail_unless (f->no_more_pads);
  check_h264_caps (pad_log (f, "video_0").pad, 320);
  GstCaps *acaps = gst_pad_get_current_caps (pad_log (f, "audio_0").pad);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (acaps, 0), "audio/x-mulaw"));
  gst_caps_unref (acaps);
  fixture_free (f);
}
GST_END_TEST;

/* A source that ends is restarted; downstream sees neither EOS nor time going
 * back, and a non-live source is paced in real time. */
GST_START_TEST (test_pipeline_restarts_on_eos)
{
  Fixture *f = fixture_new (
      "pipeline=videotestsrc num-buffers=10 ! video/x-raw,width=160,"
      "height=120,framerate=30/1 ! x264enc tune=zerolatency ! h264parse\nretry-initial=100");
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  gint64 t0 = g_get_monotonic_time ();
  fail_unless (pump (f, 10000, [f] { return count_states (f, "streaming") >= 3; }));
  /* 3 runs of 10 frames at 30 fps, with 100 ms between them */
  fail_unless (g_get_monotonic_time () - t0 > 600 * 1000, "the file-like source was not paced");
  fail_unless (pump (f, 5000, [f] { return has_buffers (f, "video_0", 25); }));
  PadLog log = pad_log (f, "video_0");
  fail_unless_equals_int (log.pts_backwards, 0);
  fail_unless_equals_int (log.eos, 0);
  fail_unless_equals_int (f->pads_added, 1);
  fail_unless_equals_int (f->errors, 0);
  fail_unless_equals_int (f->eos, 0);
  fixture_free (f);
}
GST_END_TEST;

/* A source that goes silent (here: never sends) counts as dropped after the
 * timeout (twice the timeout before its first data). */
GST_START_TEST (test_silent_source_is_restarted)
{
  Fixture *f = fixture_new ("pipeline=videotestsrc is-live=true ! x264enc tune=zerolatency ! "
                            "h264parse ! valve drop=true\ntimeout=200\nretry-initial=100");
  gint64 t0 = g_get_monotonic_time ();
  fail_unless (gst_element_set_state (f->pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (pump (f, 5000, [f] { return count_states (f, "retrying") >= 2; }));
  gint64 took_ms = (g_get_monotonic_time () - t0) / 1000;
  fail_unless (took_ms >= 2 * 400, "retried after %" G_GINT64_FORMAT " ms", took_ms);
  bool said_why = false;
  for (const std::string &t : f->texts)
    said_why = said_why || t.find ("no data within") != std::string::npos;
  fail_unless (said_why);
  fail_unless_equals_int (f->errors, 0);
  fixture_free (f);
}
GST_END_TEST;

/* Bad settings fail READY with a clear error naming the problem. */
static void
check_bad_settings (const char *props, const char *expected)
{
  Fixture *f = fixture_new (props);
  fail_unless_equals_int (gst_element_set_state (f->pipeline, GST_STATE_READY),
                          GST_STATE_CHANGE_FAILURE);
  pump (f, 500, [f] { return f->errors > 0; });
  fail_unless_equals_int (f->errors, 1);
  std::string all;
  for (const std::string &t : f->texts)
    all += t + "\n";
  fail_unless (all.find (expected) != std::string::npos, "expected '%s' in: %s", expected,
               all.c_str ());
  fail_unless (all.find ("hunter2") == std::string::npos, "password shown: %s", all.c_str ());
  fixture_free (f);
}

GST_START_TEST (test_redact_url)
{
  struct
  {
    const char *in, *out;
  } cases[] = {
    { "rtsp://u:p@h/x", "rtsp://u:***@h/x" },
    { "rtsp://u:p@ss@h:554/x?y=1", "rtsp://u:***@h:554/x?y=1" },
    { "rtsps://u:p%40w@[::1]:322/x", "rtsps://u:***@[::1]:322/x" },
    { "rtsp://u@h/x", "rtsp://u@h/x" },
    { "rtsp://h/x@y", "rtsp://h/x@y" },
    { "at rtsp://a:b@h/1 and rtsp://c:d@k", "at rtsp://a:***@h/1 and rtsp://c:***@k" },
    { "no url: here", "no url: here" },
  };
  for (auto &c : cases) {
    gchar *out = gw_source_bin_redact_url (c.in);
    fail_unless_equals_string (out, c.out);
    g_free (out);
  }
  fail_unless (gw_source_bin_redact_url (nullptr) == nullptr);
}
GST_END_TEST;

/* What a depayloader may hand h264parse: the garbage of a broken camera is
 * dropped before it makes h264parse fail for good. */
GST_START_TEST (test_h264_au_sanity)
{
  struct
  {
    std::vector<guint8> au;
    bool sane;
  } cases[] = {
    { { 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88 }, true },
    { { 0, 0, 1, 0x09, 0x10 }, true },                       /* an AUD, 3-byte start code */
    { { 0, 0, 0, 1, 0x41, 0x9a, 0, 0 }, true },              /* trailing zeros */
    { { 0, 0, 0, 1, 0x0b }, true },                          /* end of stream, alone */
    { { 0, 0, 0, 1, 0x0b, 0x12, 0x34, 0x56 }, false },       /* end of stream with bytes */
    { { 0, 0, 0, 1, 0x0a, 0x77, 0, 0, 1, 0x41, 1 }, false }, /* end of sequence with bytes */
    { { 0x41, 0x9a, 0x12, 0x34, 0x56 }, false },             /* no start code */
    { { 0, 0, 1 }, false },                                  /* too short */
    { { 0, 0, 0, 1, 0x41, 0x9a, 0, 0, 1 }, false },          /* a start code at the end */
    { { 0, 0, 0, 1, 0xc1, 0x9a, 0x33 }, false },             /* forbidden bit */
    { { 0, 0, 0, 1, 0x41, 0x9a, 0, 0, 0, 1, 0, 0, 1, 0x41 }, false }, /* an empty NAL unit */
  };
  for (auto &c : cases)
    fail_unless (gw_codec_au_is_sane (gw_codec_info (GW_CODEC_H264), c.au.data (), c.au.size ())
                     == c.sane,
                 "case of %zu bytes starting %02x %02x %02x %02x %02x: expected %s", c.au.size (),
                 c.au[0], c.au[1], c.au[2], c.au.size () > 3 ? c.au[3] : 0,
                 c.au.size () > 4 ? c.au[4] : 0, c.sane ? "sane" : "broken");
}
GST_END_TEST;

GST_START_TEST (test_bad_settings)
{
  check_bad_settings (nullptr, "location");
  check_bad_settings ("location=http://bob:hunter2@127.0.0.1/x", "http://bob:***@127.0.0.1/x");
  check_bad_settings ("location=rtsp://", "Invalid location");
  check_bad_settings ("pipeline=videotestsrc ! ! nosuchelement", "Invalid pipeline description");
  check_bad_settings ("pipeline=videotestsrc ! fakesink", "no unlinked H.264");
  check_bad_settings ("location=rtsp://127.0.0.1/x\npipeline=videotestsrc ! x264enc", "Both");
}
GST_END_TEST;

/* Going to NULL never waits for a camera: not while a connection hangs, nor
 * while a retry is pending. */
GST_START_TEST (test_prompt_shutdown)
{
  /* A "camera" that accepts TCP connections and never answers. */
  GSocket *sock
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *addr = g_inet_socket_address_new (lo, 0);
  fail_unless (g_socket_bind (sock, addr, TRUE, nullptr));
  fail_unless (g_socket_listen (sock, nullptr));
  GSocketAddress *bound = g_socket_get_local_address (sock, nullptr);
  guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  std::string url = "rtsp://127.0.0.1:" + std::to_string (port) + "/test";

  Fixture *f = fixture_new (("location=" + url + "\ntimeout=60000").c_str ());
  gst_element_set_state (f->pipeline, GST_STATE_PLAYING);
  fail_unless (pump (f, 5000, [f] { return count_states (f, "connecting") >= 1; }));
  g_usleep (300 * 1000);
  gint64 t0 = g_get_monotonic_time ();
  gst_element_set_state (f->pipeline, GST_STATE_NULL);
  gint64 took_ms = (g_get_monotonic_time () - t0) / 1000;
  fail_unless (took_ms < 1500, "NULL took %" G_GINT64_FORMAT " ms while connecting", took_ms);
  fixture_free (f);

  /* A retry pending for a long time. */
  g_socket_close (sock, nullptr);
  f = fixture_new (("location=" + url + "\nretry-initial=60000").c_str ());
  gst_element_set_state (f->pipeline, GST_STATE_PLAYING);
  fail_unless (pump (f, 5000, [f] { return count_states (f, "retrying") >= 1; }));
  t0 = g_get_monotonic_time ();
  gst_element_set_state (f->pipeline, GST_STATE_NULL);
  took_ms = (g_get_monotonic_time () - t0) / 1000;
  fail_unless (took_ms < 500, "NULL took %" G_GINT64_FORMAT " ms with a retry pending", took_ms);
  GwSourceBinState state;
  g_object_get (f->src, "state", &state, nullptr);
  fail_unless_equals_int (state, GW_SOURCE_BIN_STATE_STOPPED);

  /* PLAYING -> NULL -> PLAYING again works, and every state down is clean. */
  gst_element_set_state (f->pipeline, GST_STATE_PLAYING);
  fail_unless (pump (f, 5000, [f] { return count_states (f, "retrying") >= 2; }));
  gst_element_set_state (f->pipeline, GST_STATE_PAUSED);
  gst_element_set_state (f->pipeline, GST_STATE_READY);
  fixture_free (f);

  g_object_unref (bound);
  g_object_unref (addr);
  g_object_unref (lo);
  g_object_unref (sock);
}
GST_END_TEST;

static Suite *
gwsourcebin_suite (void)
{
  Suite *s = suite_create ("gwsourcebin");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_camera_video_and_audio);
  tcase_add_test (tc, test_camera_with_auth);
  tcase_add_test (tc, test_reconnect_same_pads);
  tcase_add_test (tc, test_camera_down_at_start);
  tcase_add_test (tc, test_pipeline_mode);
  tcase_add_test (tc, test_pipeline_restarts_on_eos);
  tcase_add_test (tc, test_silent_source_is_restarted);
  tcase_add_test (tc, test_redact_url);
  tcase_add_test (tc, test_h264_au_sanity);
  tcase_add_test (tc, test_bad_settings);
  tcase_add_test (tc, test_prompt_shutdown);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  if (!gw_elements_register_static ()) {
    g_printerr ("cannot register the gw elements\n");
    return 1;
  }
  return gst_check_run_suite (gwsourcebin_suite (), "gwsourcebin", __FILE__);
}
