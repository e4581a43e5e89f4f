/* embed-readers: use the gw plugin inside your own GStreamer application.
 *
 * The application owns the pipeline (a live H.264 source feeding a tee, or
 * H.265 with --h265) and
 * its own signalling. For each viewer it adds a gwreaderbin, hands it the
 * viewer's SDP offer through the "handle-offer" action signal and gives the
 * "gw-answer" back to the viewer; no HTTP is involved. Here the viewers are
 * local webrtcbin peers (each in its own pipeline, standing in for remote
 * browsers) that decode what they receive and count the frames.
 *
 * After --seconds it removes every reader the way a dynamic pipeline should
 * (IDLE probe on the tee pad, unlink, release, NULL, remove), prints
 * "viewer N: F frames WxH" per viewer and exits 0 if every viewer decoded
 * frames of the expected size.
 *
 *   GST_PLUGIN_PATH=build/gst ./build/examples/embed-readers --viewers 2
 *
 * Threads: webrtcbin and gwreaderbin call back from GStreamer threads. Those
 * callbacks only touch atomics or post work to the main loop (on_main); all
 * pipeline surgery happens on the main loop. The App and its viewers live
 * until main() returns, after every pipeline is in NULL.
 */

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <glib-unix.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

const gint kTestWidth = 320, kTestHeight = 240;

struct App;

struct Viewer
{
  App *app = nullptr;
  guint id = 0;
  GstElement *peer_pipe = nullptr; /* the viewer's own pipeline, owned */
  GstElement *peer = nullptr;      /* its webrtcbin, borrowed from peer_pipe */
  bool offered = false;            /* main loop only */
  GstElement *reader = nullptr;    /* gwreaderbin, borrowed from app->pipeline */
  GstPad *tee_pad = nullptr;       /* requested from the tee, owned */
  GstPad *reader_pad = nullptr;    /* requested from the reader, owned */
  std::atomic<guint> frames{ 0 };  /* written by the peer's streaming thread */
  std::atomic<gint> width{ 0 }, height{ 0 };
};

struct App
{
  GMainLoop *loop = nullptr;
  GstElement *pipeline = nullptr;
  GstElement *tee = nullptr;
  gchar *ice_address = nullptr;
  bool test_source = true;
  bool h265 = false; /* the source and the viewers' offers are H.265 */
  bool stopping = false;
  guint removals_pending = 0;
  int status = 0;
  std::vector<std::unique_ptr<Viewer> > viewers;
};

/* Runs @fn on the main loop. Safe from any thread. */
void
on_main (std::function<void ()> fn)
{
  g_idle_add_full (
      G_PRIORITY_DEFAULT,
      [] (gpointer data) -> gboolean {
        (*static_cast<std::function<void ()> *> (data)) ();
        return G_SOURCE_REMOVE;
      },
      new std::function<void ()> (std::move (fn)),
      [] (gpointer data) { delete static_cast<std::function<void ()> *> (data); });
}

gboolean
on_bus (GstBus *, GstMessage *msg, gpointer data)
{
  GstBin *bin = GST_BIN (data);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_LATENCY) {
    gst_bin_recalculate_latency (bin);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) err = nullptr;
    g_autofree gchar *dbg = nullptr;
    gst_message_parse_error (msg, &err, &dbg);
    g_printerr ("%s: error from %s: %s\n", GST_OBJECT_NAME (bin), GST_MESSAGE_SRC_NAME (msg),
                err->message);
  }
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------- the viewer side */

GstPadProbeReturn
on_decoded (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  Viewer *v = static_cast<Viewer *> (data);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    v->frames++;
  } else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gint w = 0, h = 0;
    gst_event_parse_caps (GST_PAD_PROBE_INFO_EVENT (info), &caps);
    GstStructure *s = gst_caps_get_structure (caps, 0);
    gst_structure_get_int (s, "width", &w);
    gst_structure_get_int (s, "height", &h);
    v->width = w;
    v->height = h;
  }
  return GST_PAD_PROBE_OK;
}

/* The peer's receiving pad: decode and count. Linking from pad-added is the
 * usual GStreamer pattern (the pad must not push into nothing). */
void
on_peer_pad (GstElement *, GstPad *pad, gpointer data)
{
  Viewer *v = static_cast<Viewer *> (data);
  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;
  g_autoptr (GError) err = nullptr;
  GstElement *dec_bin = gst_parse_bin_from_description (
      v->app->h265 ? "rtph265depay ! h265parse ! "
                     "avdec_h265 name=dec ! fakesink sync=false async=false"
                   : "rtph264depay ! h264parse ! "
                     "avdec_h264 name=dec ! fakesink sync=false async=false",
      TRUE, &err);
  if (!dec_bin) {
    g_printerr ("viewer %u: cannot build the decoder: %s\n", v->id, err->message);
    return;
  }
  g_autoptr (GstElement) dec = gst_bin_get_by_name (GST_BIN (dec_bin), "dec");
  g_autoptr (GstPad) dec_src = gst_element_get_static_pad (dec, "src");
  gst_pad_add_probe (
      dec_src, (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      on_decoded, v, nullptr);
  gst_bin_add (GST_BIN (v->peer_pipe), dec_bin);
  gst_element_sync_state_with_parent (dec_bin);
  g_autoptr (GstPad) sink = gst_element_get_static_pad (dec_bin, "sink");
  if (GST_PAD_LINK_FAILED (gst_pad_link (pad, sink)))
    g_printerr ("viewer %u: cannot link the received stream\n", v->id);
}

void attach_reader (Viewer *v, const gchar *offer);

/* ICE gathering done: the offer now carries the peer's candidates. */
void
on_peer_gathering (GstElement *, GParamSpec *, gpointer data)
{
  Viewer *v = static_cast<Viewer *> (data);
  on_main ([v] {
    GstWebRTCICEGatheringState state;
    g_object_get (v->peer, "ice-gathering-state", &state, nullptr);
    GstWebRTCSessionDescription *local = nullptr;
    if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE && !v->offered && !v->app->stopping)
      g_object_get (v->peer, "local-description", &local, nullptr);
    if (!local)
      return;
    v->offered = true;
    g_autofree gchar *sdp = gst_sdp_message_as_text (local->sdp);
    gst_webrtc_session_description_free (local);
    attach_reader (v, sdp);
  });
}

void
on_peer_offer (GstPromise *promise, gpointer data)
{
  Viewer *v = static_cast<Viewer *> (data);
  GstWebRTCSessionDescription *offer = nullptr;
  if (gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED)
    gst_structure_get (gst_promise_get_reply (promise), "offer",
                       GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
  if (!offer) {
    g_printerr ("viewer %u: the peer made no offer\n", v->id);
    return;
  }
  g_signal_emit_by_name (v->peer, "set-local-description", offer, nullptr);
  gst_webrtc_session_description_free (offer);
}

bool
start_peer (Viewer *v)
{
  g_autofree gchar *name = g_strdup_printf ("peer%u", v->id);
  v->peer_pipe = gst_pipeline_new (name);
  v->peer = gst_element_factory_make ("webrtcbin", nullptr);
  if (!v->peer)
    return false;
  g_object_set (v->peer, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  gst_bin_add (GST_BIN (v->peer_pipe), v->peer);
  g_autoptr (GstBus) bus = gst_element_get_bus (v->peer_pipe);
  gst_bus_add_watch (bus, on_bus, v->peer_pipe);

  /* What a browser offers: receive-only H.264, packetization-mode 1; or
   * H.265 Main as a browser with an H.265 decoder does. */
  g_autoptr (GstCaps) caps = gst_caps_from_string (
      v->app->h265 ? "application/x-rtp, media=video, "
                     "encoding-name=H265, payload=96, clock-rate=90000, profile-id=(string)1, "
                     "tier-flag=(string)0, level-id=(string)93, tx-mode=(string)SRST, "
                     "rtcp-fb-nack-pli=(boolean)true"
                   : "application/x-rtp, media=video, "
                     "encoding-name=H264, payload=96, clock-rate=90000, "
                     "packetization-mode=(string)1, profile-level-id=(string)42e01f, "
                     "rtcp-fb-nack-pli=(boolean)true");
  GstWebRTCRTPTransceiver *trans = nullptr;
  g_signal_emit_by_name (v->peer, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                         caps, &trans);
  gst_clear_object (&trans);
  g_signal_connect (v->peer, "pad-added", G_CALLBACK (on_peer_pad), v);
  g_signal_connect (v->peer, "notify::ice-gathering-state", G_CALLBACK (on_peer_gathering), v);
  if (gst_element_set_state (v->peer_pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return false;
  /* The emitter keeps its own ref on a promise: ours is dropped right away. */
  GstPromise *promise = gst_promise_new_with_change_func (on_peer_offer, v, nullptr);
  g_signal_emit_by_name (v->peer, "create-offer", nullptr, promise);
  gst_promise_unref (promise);
  return true;
}

/* ---------------------------------------------------------- the gw side */

void
on_reader_error (GstElement *, GError *error, gpointer data)
{
  Viewer *v = static_cast<Viewer *> (data);
  std::string msg = error->message;
  on_main ([v, msg] { g_printerr ("viewer %u: reader error: %s\n", v->id, msg.c_str ()); });
}

void
on_reader_state (GstElement *reader, GParamSpec *pspec, gpointer data)
{
  Viewer *v = static_cast<Viewer *> (data);
  gint state = 0;
  g_object_get (reader, "connection-state", &state, nullptr);
  GEnumValue *value = g_enum_get_value (G_PARAM_SPEC_ENUM (pspec)->enum_class, state);
  std::string nick = value ? value->value_nick : "?";
  on_main ([v, nick] { g_print ("viewer %u: connection %s\n", v->id, nick.c_str ()); });
}

/* The reader's reply to "handle-offer", from any thread. */
void
on_answer (GstPromise *promise, gpointer data)
{
  Viewer *v = static_cast<Viewer *> (data);
  std::string sdp, error = "no reply";
  if (gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED) {
    const GstStructure *reply = gst_promise_get_reply (promise);
    GError *err = nullptr;
    if (const gchar *text = gst_structure_get_string (reply, "sdp"))
      sdp = text;
    else if (gst_structure_get (reply, "error", G_TYPE_ERROR, &err, nullptr)) {
      error = err->message;
      g_error_free (err);
    }
  }
  on_main ([v, sdp, error] {
    GstSDPMessage *msg = nullptr;
    if (sdp.empty () || gst_sdp_message_new_from_text (sdp.c_str (), &msg) != GST_SDP_OK) {
      g_printerr ("viewer %u: no answer: %s\n", v->id, sdp.empty () ? error.c_str () : "bad SDP");
      return;
    }
    GstWebRTCSessionDescription *answer
        = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_ANSWER, msg);
    g_signal_emit_by_name (v->peer, "set-remote-description", answer, nullptr);
    gst_webrtc_session_description_free (answer);
    g_print ("viewer %u: answer applied\n", v->id);
  });
}

/* Adds one viewer branch: add, request pad, sync state, then link the tee
 * (a branch must be running before the tee pushes into it). */
void
attach_reader (Viewer *v, const gchar *offer)
{
  App *app = v->app;
  v->reader = gst_element_factory_make ("gwreaderbin", nullptr);
  if (app->ice_address)
    g_object_set (v->reader, "ice-addresses", app->ice_address, nullptr);
  /* No trickle: the answer carries our candidates. An app that trickles
   * would also forward "ice-candidate" and call "add-ice-candidate". */
  g_signal_connect (v->reader, "reader-error", G_CALLBACK (on_reader_error), v);
  g_signal_connect (v->reader, "notify::connection-state", G_CALLBACK (on_reader_state), v);
  gst_bin_add (GST_BIN (app->pipeline), v->reader);
  v->reader_pad = gst_element_request_pad_simple (v->reader, "video_%u");
  gst_element_sync_state_with_parent (v->reader);
  v->tee_pad = gst_element_request_pad_simple (app->tee, "src_%u");
  if (!v->reader_pad || GST_PAD_LINK_FAILED (gst_pad_link (v->tee_pad, v->reader_pad))) {
    g_printerr ("viewer %u: cannot link the reader\n", v->id);
    return;
  }
  GstPromise *promise = gst_promise_new_with_change_func (on_answer, v, nullptr);
  g_signal_emit_by_name (v->reader, "handle-offer", offer, promise);
  gst_promise_unref (promise);
}

/* ---------------------------------------------------------- shutdown */

void
finish (App *app)
{
  for (auto &v : app->viewers) {
    gst_element_set_state (v->peer_pipe, GST_STATE_NULL);
    gint w = v->width, h = v->height;
    bool size_ok = app->test_source ? (w == kTestWidth && h == kTestHeight) : (w > 0 && h > 0);
    g_print ("viewer %u: %u frames %dx%d\n", v->id, v->frames.load (), w, h);
    if (v->frames == 0 || !size_ok)
      app->status = 1;
  }
  g_main_loop_quit (app->loop);
}

/* Main loop: the tee pad is already unlinked, nothing streams into the reader. */
void
remove_reader (Viewer *v)
{
  App *app = v->app;
  gst_element_release_request_pad (app->tee, v->tee_pad);
  gst_clear_object (&v->tee_pad);
  g_signal_handlers_disconnect_by_data (v->reader, v);
  gst_element_set_state (v->reader, GST_STATE_NULL);
  gst_bin_remove (GST_BIN (app->pipeline), v->reader); /* drops the reader */
  v->reader = nullptr;
  gst_clear_object (&v->reader_pad);
  if (app->removals_pending > 0 && --app->removals_pending == 0)
    finish (app);
}

GstPadProbeReturn
on_tee_pad_idle (GstPad *pad, GstPadProbeInfo *, gpointer data)
{
  Viewer *v = static_cast<Viewer *> (data);
  gst_pad_unlink (pad, v->reader_pad);
  on_main ([v] { remove_reader (v); });
  return GST_PAD_PROBE_REMOVE;
}

gboolean
stop (gpointer data)
{
  App *app = static_cast<App *> (data);
  if (app->stopping)
    return G_SOURCE_REMOVE;
  app->stopping = true;
  for (auto &v : app->viewers)
    if (v->reader && v->tee_pad && gst_pad_is_linked (v->tee_pad))
      app->removals_pending++;
  if (app->removals_pending == 0) {
    finish (app);
    return G_SOURCE_REMOVE;
  }
  for (auto &v : app->viewers)
    if (v->reader && v->tee_pad && gst_pad_is_linked (v->tee_pad))
      gst_pad_add_probe (v->tee_pad, GST_PAD_PROBE_TYPE_IDLE, on_tee_pad_idle, v.get (), nullptr);
  /* Bounded: a probe that never fires must not hang the program. */
  g_timeout_add_seconds (
      5,
      [] (gpointer data) -> gboolean {
        App *app = static_cast<App *> (data);
        if (app->removals_pending > 0) {
          g_printerr ("%u reader(s) not removed in time\n", app->removals_pending);
          app->removals_pending = 0;
          app->status = 1;
          finish (app);
        }
        return G_SOURCE_REMOVE;
      },
      app);
  return G_SOURCE_REMOVE;
}

/* gwsourcebin's pads appear once the camera answers: feed the first video. */
void
on_source_pad (GstElement *, GstPad *pad, gpointer data)
{
  App *app = static_cast<App *> (data);
  g_autoptr (GstPad) tee_sink = gst_element_get_static_pad (app->tee, "sink");
  if (!g_str_has_prefix (GST_PAD_NAME (pad), "video_") || gst_pad_is_linked (tee_sink))
    return;
  if (GST_PAD_LINK_FAILED (gst_pad_link (pad, tee_sink)))
    g_printerr ("cannot link %s to the tee\n", GST_PAD_NAME (pad));
}

GstElement *
build_pipeline (App *app, const gchar *rtsp_url)
{
  g_autoptr (GError) err = nullptr;
  GstElement *pipeline;
  if (rtsp_url) {
    /* Not linked here: on_source_pad picks the video pad (audio stays out). */
    pipeline = gst_parse_launch ("gwsourcebin name=src  tee name=tee allow-not-linked=true", &err);
  } else if (app->h265) {
    pipeline = gst_parse_launch ("videotestsrc is-live=true ! "
                                 "video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! "
                                 "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! "
                                 "h265parse config-interval=-1 ! "
                                 "video/x-h265,stream-format=byte-stream,alignment=au ! "
                                 "tee name=tee allow-not-linked=true",
                                 &err);
  } else {
    pipeline = gst_parse_launch (
        "videotestsrc is-live=true ! "
        "video/x-raw,width=320,height=240,framerate=15/1 ! "
        "x264enc tune=zerolatency key-int-max=15 ! h264parse config-interval=-1 ! "
        "video/x-h264,stream-format=byte-stream,alignment=au ! "
        "tee name=tee allow-not-linked=true",
        &err);
  }
  if (!pipeline) {
    g_printerr ("cannot build the pipeline: %s\n", err->message);
    return nullptr;
  }
  app->tee = gst_bin_get_by_name (GST_BIN (pipeline), "tee");
  gst_object_unref (app->tee); /* borrowed: the pipeline keeps it */
  if (rtsp_url) {
    g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
    g_object_set (src, "location", rtsp_url, nullptr);
    g_signal_connect (src, "pad-added", G_CALLBACK (on_source_pad), app);
  }
  return pipeline;
}

} // namespace

int
main (int argc, char **argv)
{
  gint n_viewers = 2, seconds = 5;
  gboolean h265 = FALSE;
  g_autofree gchar *rtsp_url = nullptr;
  App app;
  GOptionEntry entries[]
      = { { "viewers", 0, 0, G_OPTION_ARG_INT, &n_viewers, "Number of viewers (default 2)", "N" },
          { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "Run time before removal (default 5)",
            "S" },
          { "rtsp", 0, 0, G_OPTION_ARG_STRING, &rtsp_url,
            "Read this camera instead of a test pattern", "URL" },
          { "ice-address", 0, 0, G_OPTION_ARG_STRING, &app.ice_address,
            "Only gather ICE candidates on this local address", "ADDR" },
          { "h265", 0, 0, G_OPTION_ARG_NONE, &h265,
            "H.265: the test pattern (or --rtsp camera) and the viewers' offers", nullptr },
          { nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- serve viewers from your own pipeline");
  g_option_context_add_main_entries (ctx, entries, nullptr);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_autoptr (GError) err = nullptr;
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  if (n_viewers < 1 || n_viewers > 32 || seconds < 1) {
    g_printerr ("--viewers must be 1..32 and --seconds at least 1\n");
    return 2;
  }

  app.h265 = h265;
  const gchar *needed[] = { "gwreaderbin", "gwsourcebin", "webrtcbin", h265 ? "x265enc" : "x264enc",
                            h265 ? "avdec_h265" : "avdec_h264" };
  for (const gchar *name : needed) {
    g_autoptr (GstElementFactory) f = gst_element_factory_find (name);
    if (!f) {
      g_printerr ("element '%s' not found%s\n", name,
                  g_str_has_prefix (name, "gw")
                      ? ": point GST_PLUGIN_PATH at the build's gst/ directory (libgstgw.so)"
                      : "");
      return 1;
    }
  }

  app.test_source = rtsp_url == nullptr;
  app.loop = g_main_loop_new (nullptr, FALSE);
  app.pipeline = build_pipeline (&app, rtsp_url);
  if (!app.pipeline)
    return 1;
  g_autoptr (GstBus) bus = gst_element_get_bus (app.pipeline);
  gst_bus_add_watch (bus, on_bus, app.pipeline);
  if (gst_element_set_state (app.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_printerr ("the pipeline does not start\n");
    app.status = 1;
  }

  for (gint i = 0; i < n_viewers && app.status == 0; i++) {
    app.viewers.push_back (std::make_unique<Viewer> ());
    Viewer *v = app.viewers.back ().get ();
    v->app = &app;
    v->id = i;
    if (!start_peer (v)) {
      g_printerr ("viewer %u: the peer does not start\n", v->id);
      app.status = 1;
    }
  }

  if (app.status == 0) {
    g_timeout_add_seconds (seconds, stop, &app);
    g_unix_signal_add (SIGINT, stop, &app);
    g_main_loop_run (app.loop);
  }

  gst_element_set_state (app.pipeline, GST_STATE_NULL);
  for (auto &v : app.viewers) {
    if (v->peer_pipe) {
      gst_element_set_state (v->peer_pipe, GST_STATE_NULL);
      g_autoptr (GstBus) peer_bus = gst_element_get_bus (v->peer_pipe);
      gst_bus_remove_watch (peer_bus);
      gst_object_unref (v->peer_pipe);
    }
    gst_clear_object (&v->tee_pad);
    gst_clear_object (&v->reader_pad);
  }
  gst_bus_remove_watch (bus);
  gst_object_unref (app.pipeline);
  g_main_loop_unref (app.loop);
  g_free (app.ice_address);
  return app.status;
}
