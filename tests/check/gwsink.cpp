/* gwsink: what a browser or WHEP client sees over HTTP (player page, WHEP
 * answers and errors), what an application sees (properties, bus messages,
 * no ERROR from a bad viewer), on a live H.264 pipeline. Signalling only:
 * ICE cannot connect on loopback (tests/e2e connects real peers inside a
 * network namespace). The HTTP client only talks to 127.0.0.1. */
#include <gst/check/gstcheck.h>
#include <gst/sdp/sdp.h>
#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API
#endif
#include <gst/webrtc/webrtc.h>
#include <libsoup/soup.h>
#include <string.h>

#include "gwelements.h"
#include "gwreaderbin.h"

#define H264_CAPS                                                                                  \
  "application/x-rtp, media=video, encoding-name=H264, clock-rate=90000, "                         \
  "payload=102, packetization-mode=(string)1, profile-level-id=(string)42e01f"
#define VP8_CAPS "application/x-rtp, media=video, encoding-name=VP8, clock-rate=90000, payload=96"

/* ------------------------------------------------------------ bus */

/* Filled by a sync handler that drops every message, as an application's
 * bus watch would, so no message holds refs on elements. */
static GMutex bus_lock;
static GPtrArray *bus_errors;    /* gchar* */
static GPtrArray *viewer_events; /* GstStructure* "gwsink-viewer" */
static gboolean bus_eos;

static GstBusSyncReply
record_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  g_mutex_lock (&bus_lock);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    g_ptr_array_add (bus_errors,
                     g_strdup_printf ("%s: %s", GST_MESSAGE_SRC_NAME (msg), err->message));
    g_error_free (err);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    bus_eos = TRUE;
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT
             && gst_message_has_name (msg, "gwsink-viewer")) {
    g_ptr_array_add (viewer_events, gst_structure_copy (gst_message_get_structure (msg)));
  }
  g_mutex_unlock (&bus_lock);
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

static void
reset_bus_records (void)
{
  g_mutex_lock (&bus_lock);
  g_clear_pointer (&bus_errors, g_ptr_array_unref);
  g_clear_pointer (&viewer_events, g_ptr_array_unref);
  bus_errors = g_ptr_array_new_with_free_func (g_free);
  viewer_events = g_ptr_array_new_with_free_func ((GDestroyNotify)gst_structure_free);
  bus_eos = FALSE;
  g_mutex_unlock (&bus_lock);
}

static void
assert_no_bus_error (void)
{
  g_mutex_lock (&bus_lock);
  g_autofree gchar *first
      = bus_errors->len ? g_strdup ((const gchar *)g_ptr_array_index (bus_errors, 0)) : NULL;
  g_mutex_unlock (&bus_lock);
  fail_if (first != NULL, "ERROR on the pipeline bus: %s", first);
}

/* The @index-th viewer event, checked. */
static void
assert_viewer_event (guint index, const gchar *event, const gchar *id, guint viewers)
{
  g_mutex_lock (&bus_lock);
  GstStructure *s
      = index < viewer_events->len
            ? gst_structure_copy ((GstStructure *)g_ptr_array_index (viewer_events, index))
            : NULL;
  g_mutex_unlock (&bus_lock);
  fail_unless (s != NULL, "no gwsink-viewer message #%u", index);
  fail_unless_equals_string (gst_structure_get_string (s, "event"), event);
  if (id)
    fail_unless_equals_string (gst_structure_get_string (s, "id"), id);
  guint n = G_MAXUINT;
  fail_unless (gst_structure_get_uint (s, "viewers", &n));
  fail_unless_equals_int (n, viewers);
  gst_structure_free (s);
}

static guint
n_viewer_events (void)
{
  g_mutex_lock (&bus_lock);
  guint n = viewer_events->len;
  g_mutex_unlock (&bus_lock);
  return n;
}

/* ------------------------------------------------------------ fixture */

typedef struct
{
  GstElement *pipeline;
  GstElement *sink;
  guint port;
  SoupSession *session;
} Fixture;

#define VIDEO_SOURCE                                                                               \
  "videotestsrc is-live=true ! "                                                                   \
  "video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! "                                 \
  "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bframes=0 ! "                    \
  "video/x-h264,profile=constrained-baseline ! h264parse"

/* @desc: a pipeline with a gwsink named "sink" listening on 127.0.0.1:0. */
static Fixture
start_pipeline_desc (const gchar *desc)
{
  Fixture f;
  reset_bus_records ();
  GError *err = NULL;
  f.pipeline = gst_parse_launch (desc, &err);
  fail_unless (f.pipeline != NULL, "%s", err ? err->message : "");
  GstBus *bus = gst_element_get_bus (f.pipeline);
  gst_bus_set_sync_handler (bus, record_message, NULL, NULL);
  gst_object_unref (bus);
  f.sink = gst_bin_get_by_name (GST_BIN (f.pipeline), "sink");
  fail_unless (f.sink != NULL);

  guint port = 1;
  g_object_get (f.sink, "bound-port", &port, NULL);
  fail_unless_equals_int (port, 0); /* not listening before start */

  fail_if (gst_element_set_state (f.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE);
  GstState state;
  fail_if (gst_element_get_state (f.pipeline, &state, NULL, 10 * GST_SECOND)
           == GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (state, GST_STATE_PLAYING);
  g_object_get (f.sink, "bound-port", &f.port, NULL);
  fail_unless (f.port > 0, "gwsink reports no bound port");
  f.session = soup_session_new_with_options ("timeout", 30, "idle-timeout", 30, NULL);
  return f;
}

/* The live H.264 source into gwsink with @sink_options. */
static Fixture
start_pipeline (const gchar *sink_options)
{
  g_autofree gchar *desc
      = g_strdup_printf (VIDEO_SOURCE " ! "
                                      "gwsink name=sink port=0 address=127.0.0.1 %s",
                         sink_options ? sink_options : "");
  return start_pipeline_desc (desc);
}

static void
stop_pipeline (Fixture *f)
{
  gst_element_set_state (f->pipeline, GST_STATE_NULL);
  gst_object_unref (f->sink);
  gst_object_unref (f->pipeline);
  g_object_unref (f->session);
}

static guint
get_viewers (Fixture *f)
{
  guint n = G_MAXUINT;
  g_object_get (f->sink, "viewers", &n, NULL);
  return n;
}

static guint
count_readers (Fixture *f)
{
  guint n = 0;
  GST_OBJECT_LOCK (f->sink);
  for (GList *l = GST_BIN_CHILDREN (f->sink); l; l = l->next)
    if (GW_IS_READER_BIN (l->data))
      n++;
  GST_OBJECT_UNLOCK (f->sink);
  return n;
}

/* Readers leave the bin from a GStreamer helper thread: wait, bounded. */
static void
assert_readers_become (Fixture *f, guint expected)
{
  for (int i = 0; i < 100 && count_readers (f) != expected; i++)
    g_usleep (50 * 1000);
  fail_unless_equals_int (count_readers (f), expected);
}

static void
assert_still_playing (Fixture *f)
{
  GstState state;
  gst_element_get_state (f->pipeline, &state, NULL, 5 * GST_SECOND);
  fail_unless_equals_int (state, GST_STATE_PLAYING);
  assert_no_bus_error ();
}

/* ------------------------------------------------------------ HTTP client */

typedef struct
{
  guint status;
  gchar *body;
  SoupMessageHeaders *headers;
} Reply;

static void
reply_clear (Reply *r)
{
  g_free (r->body);
  if (r->headers)
    soup_message_headers_unref (r->headers);
  memset (r, 0, sizeof *r);
}

/* One request to gwsink; @len < 0: send @body chunked (no Content-Length). */
static Reply
http (Fixture *f, const gchar *method, const gchar *path, const gchar *content_type,
      const gchar *body, gssize len)
{
  g_autofree gchar *url = g_strdup_printf ("http://127.0.0.1:%u%s", f->port, path);
  SoupMessage *msg = soup_message_new (method, url);
  fail_unless (msg != NULL, "bad url %s", url);
  if (body && len >= 0) {
    GBytes *bytes = g_bytes_new (body, len);
    soup_message_set_request_body_from_bytes (msg, content_type, bytes);
    g_bytes_unref (bytes);
  } else if (body) {
    GInputStream *in = g_memory_input_stream_new_from_data (g_strdup (body), strlen (body), g_free);
    soup_message_set_request_body (msg, content_type, in, -1);
    g_object_unref (in);
  }
  GError *err = NULL;
  GBytes *data = soup_session_send_and_read (f->session, msg, NULL, &err);
  fail_unless (data != NULL, "%s %s: %s", method, path, err ? err->message : "");
  Reply r;
  r.status = soup_message_get_status (msg);
  gsize size = 0;
  const gchar *p = (const gchar *)g_bytes_get_data (data, &size);
  r.body = g_strndup (p ? p : "", size);
  r.headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  g_bytes_unref (data);
  g_object_unref (msg);
  return r;
}

static const gchar *
header (Reply *r, const gchar *name)
{
  return soup_message_headers_get_one (r->headers, name);
}

/* A recvonly offer as a browser sends it, made by a real webrtcbin. Only
 * create-offer: no local description, so no ICE gathering and no traffic. */
static gchar *
make_offer (const gchar *video_caps, gboolean with_audio)
{
  GstElement *pc = gst_element_factory_make ("webrtcbin", NULL);
  fail_unless (pc != NULL);
  GstWebRTCRTPTransceiver *trans = NULL;
  GstCaps *caps = gst_caps_from_string (video_caps);
  g_signal_emit_by_name (pc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps,
                         &trans);
  gst_clear_object (&trans);
  gst_caps_unref (caps);
  if (with_audio) {
    caps = gst_caps_from_string ("application/x-rtp, media=audio, encoding-name=OPUS, "
                                 "clock-rate=48000, payload=111");
    g_signal_emit_by_name (pc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                           caps, &trans);
    gst_clear_object (&trans);
    gst_caps_unref (caps);
  }
  gst_element_set_state (pc, GST_STATE_READY);
  GstPromise *p = gst_promise_new ();
  g_signal_emit_by_name (pc, "create-offer", NULL, p);
  for (int i = 0; i < 200 && gst_promise_wait (p) == GST_PROMISE_RESULT_PENDING; i++)
    g_usleep (50 * 1000);
  fail_unless_equals_int (gst_promise_wait (p), GST_PROMISE_RESULT_REPLIED);
  GstWebRTCSessionDescription *offer = NULL;
  gst_structure_get (gst_promise_get_reply (p), "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
                     &offer, NULL);
  fail_unless (offer != NULL);
  gchar *text = gst_sdp_message_as_text (offer->sdp);
  gst_webrtc_session_description_free (offer);
  gst_promise_unref (p);
  gst_element_set_state (pc, GST_STATE_NULL);
  gst_object_unref (pc);
  return text;
}

/* The m-line of @kind in @answer, checked to send with @codec. */
static void
assert_sends (const GstSDPMessage *answer, guint index, const gchar *kind, const gchar *codec,
              const gchar *text)
{
  fail_unless (index < gst_sdp_message_medias_len (answer), "no m-line %u: %s", index, text);
  const GstSDPMedia *m = gst_sdp_message_get_media (answer, index);
  fail_unless_equals_string (gst_sdp_media_get_media (m), kind);
  fail_unless (gst_sdp_media_get_port (m) != 0, "%s refused: %s", kind, text);
  fail_unless (gst_sdp_media_get_attribute_val (m, "sendonly") != NULL, "%s", text);
  const gchar *rtpmap = gst_sdp_media_get_attribute_val (m, "rtpmap");
  fail_unless (rtpmap && strstr (rtpmap, codec), "%s not sent as %s: %s", kind, codec, text);
}

/* POSTs @offer, checks a WHEP 201 and its answer (H.264 video first, and
 * Opus audio second when @audio); returns the session path. */
static gchar *
join_full (Fixture *f, const gchar *offer, gboolean audio)
{
  Reply r = http (f, "POST", "/whep", "application/sdp", offer, strlen (offer));
  fail_unless_equals_int (r.status, 201);
  fail_unless_equals_string (soup_message_headers_get_content_type (r.headers, NULL),
                             "application/sdp");
  fail_unless_equals_string (header (&r, "Access-Control-Allow-Origin"), "*");
  fail_unless (header (&r, "Access-Control-Expose-Headers")
               && strstr (header (&r, "Access-Control-Expose-Headers"), "Location"));
  const gchar *location = header (&r, "Location");
  fail_unless (location && g_str_has_prefix (location, "/whep/"), "Location: %s", location);
  fail_unless (strlen (location) >= 6 + 32, "session id too short to be unguessable: %s", location);

  GstSDPMessage *answer = NULL;
  gst_sdp_message_new_from_text (r.body, &answer);
  assert_sends (answer, 0, "video", "H264/90000", r.body);
  if (audio)
    assert_sends (answer, 1, "audio", "OPUS/48000", r.body);
  /* Non-trickle clients need the candidates in the answer itself. */
  guint candidates = 0;
  for (guint i = 0; i < gst_sdp_message_medias_len (answer); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media (answer, i);
    for (guint j = 0; j < gst_sdp_media_attributes_len (m); j++)
      if (g_str_equal (gst_sdp_media_get_attribute (m, j)->key, "candidate"))
        candidates++;
  }
  fail_unless (candidates > 0, "answer without a=candidate lines: %s", r.body);
  gst_sdp_message_free (answer);

  gchar *path = g_strdup (location);
  reply_clear (&r);
  return path;
}

static gchar *
join (Fixture *f, const gchar *offer)
{
  return join_full (f, offer, FALSE);
}

/* The one reader in gwsink (call it while there is exactly one viewer). */
static GstElement *
only_reader (Fixture *f)
{
  fail_unless_equals_int (count_readers (f), 1);
  GstElement *found = NULL;
  GST_OBJECT_LOCK (f->sink);
  for (GList *l = GST_BIN_CHILDREN (f->sink); l && !found; l = l->next)
    if (GW_IS_READER_BIN (l->data))
      found = GST_ELEMENT (gst_object_ref (l->data));
  GST_OBJECT_UNLOCK (f->sink);
  return found;
}

/* ------------------------------------------------------------ tests */

GST_START_TEST (test_page_and_http_errors)
{
  Fixture f = start_pipeline (NULL);

  Reply r = http (&f, "GET", "/", NULL, NULL, 0);
  fail_unless_equals_int (r.status, 200);
  fail_unless_equals_string (soup_message_headers_get_content_type (r.headers, NULL), "text/html");
  fail_unless (strstr (r.body, "<video") && strstr (r.body, "RTCPeerConnection")
                   && strstr (r.body, "application/sdp") && strstr (r.body, "'whep'"),
               "not the player page: %.200s", r.body);
  reply_clear (&r);

  r = http (&f, "HEAD", "/", NULL, NULL, 0);
  fail_unless_equals_int (r.status, 200);
  fail_unless_equals_string (r.body, "");
  reply_clear (&r);

  /* WHEP wants SDP. */
  r = http (&f, "POST", "/whep", "text/plain", "v=0\r\n", 5);
  fail_unless_equals_int (r.status, 415);
  fail_unless (strstr (r.body, "application/sdp"), "%s", r.body);
  reply_clear (&r);

  r = http (&f, "POST", "/whep", "application/sdp", "", 0);
  fail_unless_equals_int (r.status, 400);
  reply_clear (&r);

  r = http (&f, "POST", "/whep", "application/sdp", "hello, this is not SDP", 22);
  fail_unless_equals_int (r.status, 400);
  fail_unless (strlen (r.body) > 0, "a 400 without a reason");
  reply_clear (&r);

  /* Too big, with a Content-Length and chunked. */
  gsize big = 70 * 1024;
  g_autofree gchar *huge = (gchar *)g_malloc (big + 1);
  memset (huge, 'a', big);
  huge[big] = '\0';
  r = http (&f, "POST", "/whep", "application/sdp", huge, big);
  fail_unless_equals_int (r.status, 413);
  reply_clear (&r);
  r = http (&f, "POST", "/whep", "application/sdp", huge, -1);
  fail_unless_equals_int (r.status, 413);
  reply_clear (&r);

  r = http (&f, "DELETE", "/whep/0123456789abcdef0123456789abcdef", NULL, NULL, 0);
  fail_unless_equals_int (r.status, 404);
  reply_clear (&r);
  r = http (&f, "PATCH", "/whep/nope", "application/trickle-ice-sdpfrag", "a=mid:0\r\n", 9);
  fail_unless_equals_int (r.status, 404);
  reply_clear (&r);
  r = http (&f, "GET", "/nothing/here", NULL, NULL, 0);
  fail_unless_equals_int (r.status, 404);
  reply_clear (&r);

  r = http (&f, "GET", "/whep", NULL, NULL, 0);
  fail_unless_equals_int (r.status, 405);
  fail_unless (header (&r, "Allow") && strstr (header (&r, "Allow"), "POST"));
  reply_clear (&r);
  r = http (&f, "PUT", "/", "text/plain", "x", 1);
  fail_unless_equals_int (r.status, 405);
  reply_clear (&r);

  /* CORS preflight, for a player on another origin. */
  r = http (&f, "OPTIONS", "/whep", NULL, NULL, 0);
  fail_unless_equals_int (r.status, 204);
  fail_unless_equals_string (header (&r, "Access-Control-Allow-Origin"), "*");
  fail_unless (strstr (header (&r, "Access-Control-Allow-Methods"), "POST"));
  fail_unless (strstr (header (&r, "Access-Control-Allow-Headers"), "Content-Type"));
  reply_clear (&r);

  /* None of it created a viewer or hurt the stream. */
  fail_unless_equals_int (get_viewers (&f), 0);
  fail_unless_equals_int (count_readers (&f), 0);
  fail_unless_equals_int (n_viewer_events (), 0);
  assert_still_playing (&f);
  stop_pipeline (&f);
}
GST_END_TEST;

GST_START_TEST (test_whep_session)
{
  Fixture f = start_pipeline (NULL);
  g_autofree gchar *offer = make_offer (H264_CAPS, TRUE);

  g_autofree gchar *session = join (&f, offer);
  const gchar *id = session + strlen ("/whep/");
  fail_unless_equals_int (get_viewers (&f), 1);
  fail_unless_equals_int (count_readers (&f), 1);
  assert_viewer_event (0, "joined", id, 1);

  /* Trickle ICE: a loopback candidate, then the end of candidates. */
  const gchar *frag
      = "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:video0\r\n"
        "a=candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host\r\na=end-of-candidates\r\n";
  Reply r = http (&f, "PATCH", session, "application/sdp", frag, strlen (frag));
  fail_unless_equals_int (r.status, 415);
  reply_clear (&r);
  r = http (&f, "PATCH", session, "application/trickle-ice-sdpfrag", frag, strlen (frag));
  fail_unless_equals_int (r.status, 204);
  reply_clear (&r);

  r = http (&f, "GET", session, NULL, NULL, 0);
  fail_unless_equals_int (r.status, 405);
  reply_clear (&r);

  r = http (&f, "DELETE", session, NULL, NULL, 0);
  fail_unless_equals_int (r.status, 200);
  fail_unless_equals_string (header (&r, "Access-Control-Allow-Origin"), "*");
  reply_clear (&r);
  fail_unless_equals_int (get_viewers (&f), 0);
  assert_viewer_event (1, "left", id, 0);
  assert_readers_become (&f, 0);

  r = http (&f, "DELETE", session, NULL, NULL, 0);
  fail_unless_equals_int (r.status, 404);
  reply_clear (&r);

  /* A new viewer can join afterwards, while the stream runs on. */
  g_free (join (&f, offer));
  fail_unless_equals_int (get_viewers (&f), 1);
  assert_viewer_event (2, "joined", NULL, 1);
  assert_still_playing (&f);

  /* Stopping ends every session and the HTTP server. */
  guint port = f.port;
  gst_element_set_state (f.pipeline, GST_STATE_NULL);
  fail_unless_equals_int (get_viewers (&f), 0);
  assert_viewer_event (3, "left", NULL, 0);
  fail_unless_equals_int (count_readers (&f), 0);
  guint bound = 1;
  g_object_get (f.sink, "bound-port", &bound, NULL);
  fail_unless_equals_int (bound, 0);
  g_autofree gchar *url = g_strdup_printf ("http://127.0.0.1:%u/", port);
  SoupMessage *msg = soup_message_new ("GET", url);
  GError *err = NULL;
  GBytes *data = soup_session_send_and_read (f.session, msg, NULL, &err);
  fail_unless (data == NULL, "still serving after NULL");
  g_clear_error (&err);
  g_object_unref (msg);
  stop_pipeline (&f);
}
GST_END_TEST;

GST_START_TEST (test_refused_offers_leave_no_trace)
{
  Fixture f = start_pipeline (NULL);

  /* Valid SDP, but nothing we can send: 406 with a reason, no viewer left. */
  g_autofree gchar *vp8 = make_offer (VP8_CAPS, FALSE);
  Reply r = http (&f, "POST", "/whep", "application/sdp", vp8, strlen (vp8));
  fail_unless_equals_int (r.status, 406);
  fail_unless (strstr (r.body, "H.264"), "unclear reason: %s", r.body);
  reply_clear (&r);
  fail_unless_equals_int (get_viewers (&f), 0);
  assert_readers_become (&f, 0);
  fail_unless_equals_int (n_viewer_events (), 0);

  /* The stream and a good viewer live on. */
  g_autofree gchar *good = make_offer (H264_CAPS, FALSE);
  g_free (join (&f, good));
  fail_unless_equals_int (get_viewers (&f), 1);
  assert_still_playing (&f);
  stop_pipeline (&f);
}
GST_END_TEST;

GST_START_TEST (test_max_viewers)
{
  Fixture f = start_pipeline ("max-viewers=2");
  g_autofree gchar *offer = make_offer (H264_CAPS, FALSE);

  g_autofree gchar *first = join (&f, offer);
  g_autofree gchar *second = join (&f, offer);
  fail_unless (strcmp (first, second) != 0);
  fail_unless_equals_int (get_viewers (&f), 2);

  Reply r = http (&f, "POST", "/whep", "application/sdp", offer, strlen (offer));
  fail_unless_equals_int (r.status, 503);
  fail_unless (strstr (r.body, "maximum"), "unclear reason: %s", r.body);
  reply_clear (&r);
  fail_unless_equals_int (get_viewers (&f), 2);

  /* One leaving frees a place; the other is untouched. */
  r = http (&f, "DELETE", first, NULL, NULL, 0);
  fail_unless_equals_int (r.status, 200);
  reply_clear (&r);
  fail_unless_equals_int (get_viewers (&f), 1);
  g_free (join (&f, offer));
  fail_unless_equals_int (get_viewers (&f), 2);
  r = http (&f, "DELETE", second, NULL, NULL, 0);
  fail_unless_equals_int (r.status, 200);
  reply_clear (&r);
  fail_unless_equals_int (get_viewers (&f), 1);
  assert_readers_become (&f, 1);
  assert_still_playing (&f);
  stop_pipeline (&f);
}
GST_END_TEST;

GST_START_TEST (test_port_in_use_fails_clearly)
{
  reset_bus_records ();
  GError *err = NULL;
  GSocket *taken
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &err);
  fail_unless (taken != NULL);
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *any = g_inet_socket_address_new (lo, 0);
  fail_unless (g_socket_bind (taken, any, FALSE, &err), "%s", err ? err->message : "");
  fail_unless (g_socket_listen (taken, &err));
  GSocketAddress *bound = g_socket_get_local_address (taken, &err);
  guint port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *sink = gst_element_factory_make ("gwsink", NULL);
  fail_unless (sink != NULL);
  g_object_set (sink, "address", "127.0.0.1", "port", port, NULL);
  gst_bin_add (GST_BIN (pipeline), sink);
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, record_message, NULL, NULL);
  gst_object_unref (bus);

  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_READY),
                          GST_STATE_CHANGE_FAILURE);
  g_autofree gchar *port_text = g_strdup_printf ("port %u", port);
  g_mutex_lock (&bus_lock);
  fail_unless (bus_errors->len == 1, "expected one ERROR, got %u", bus_errors->len);
  const gchar *text = (const gchar *)g_ptr_array_index (bus_errors, 0);
  fail_unless (strstr (text, port_text) != NULL, "error does not name the port: %s", text);
  g_mutex_unlock (&bus_lock);

  /* A bad address is an error too, not a crash. */
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_object_set (sink, "address", "not-an-address", "port", 0, NULL);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_READY),
                          GST_STATE_CHANGE_FAILURE);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  g_object_unref (bound);
  g_object_unref (any);
  g_object_unref (lo);
  g_socket_close (taken, NULL);
  g_object_unref (taken);
}
GST_END_TEST;

/* gst-launch exits when a file ends: gwsink posts EOS. */
GST_START_TEST (test_eos_reaches_the_bus)
{
  reset_bus_records ();
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (
      "videotestsrc num-buffers=20 ! "
      "video/x-raw,width=160,height=120 ! x264enc speed-preset=ultrafast ! h264parse ! "
      "gwsink port=0 address=127.0.0.1 sync=true",
      &err);
  fail_unless (pipeline != NULL, "%s", err ? err->message : "");
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, record_message, NULL, NULL);
  gst_object_unref (bus);
  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE);
  gboolean eos = FALSE;
  for (int i = 0; i < 300 && !eos; i++) {
    g_usleep (50 * 1000);
    g_mutex_lock (&bus_lock);
    eos = bus_eos;
    g_mutex_unlock (&bus_lock);
  }
  fail_unless (eos, "no EOS within 15 s");
  assert_no_bus_error ();
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* One viewer failing (here: an element error inside its webrtcbin, as a DTLS
 * failure would post) is removed; the other viewer and the pipeline live on
 * and no ERROR reaches the bus. */
GST_START_TEST (test_failing_viewer_is_removed_alone)
{
  Fixture f = start_pipeline (NULL);
  g_autofree gchar *offer = make_offer (H264_CAPS, FALSE);

  g_autofree gchar *doomed = join (&f, offer);
  GstElement *reader = only_reader (&f);
  g_autofree gchar *survivor = join (&f, offer);
  fail_unless_equals_int (get_viewers (&f), 2);

  GstElement *inner = gst_bin_get_by_name (GST_BIN (reader), "webrtcbin");
  fail_unless (inner != NULL);
  GST_ELEMENT_ERROR (inner, RESOURCE, FAILED, ("simulated DTLS failure"), (NULL));
  gst_object_unref (inner);
  gst_object_unref (reader);

  /* Removal is asynchronous (marshalled to gwsink's HTTP thread). */
  for (int i = 0; i < 100 && n_viewer_events () < 3; i++)
    g_usleep (50 * 1000);
  assert_viewer_event (2, "left", doomed + strlen ("/whep/"), 1);
  fail_unless_equals_int (get_viewers (&f), 1);
  assert_readers_become (&f, 1);

  Reply r = http (&f, "DELETE", doomed, NULL, NULL, 0);
  fail_unless_equals_int (r.status, 404);
  reply_clear (&r);
  r = http (&f, "DELETE", survivor, NULL, NULL, 0);
  fail_unless_equals_int (r.status, 200);
  reply_clear (&r);
  assert_still_playing (&f);
  stop_pipeline (&f);
}
GST_END_TEST;

/* Video and audio inputs: a browser-like offer gets both, sendonly. */
GST_START_TEST (test_video_and_audio)
{
  Fixture f = start_pipeline_desc (VIDEO_SOURCE
                                   " ! sink.video_0 "
                                   "audiotestsrc is-live=true ! opusenc ! opusparse ! sink.audio_0 "
                                   "gwsink name=sink port=0 address=127.0.0.1");
  g_autofree gchar *offer = make_offer (H264_CAPS, TRUE);
  g_autofree gchar *session = join_full (&f, offer, TRUE);
  fail_unless_equals_int (get_viewers (&f), 1);

  /* An audio-only offer gets the audio. */
  g_autofree gchar *audio_only = make_offer ("application/x-rtp, media=audio, "
                                             "encoding-name=OPUS, clock-rate=48000, payload=111",
                                             FALSE);
  Reply r = http (&f, "POST", "/whep", "application/sdp", audio_only, strlen (audio_only));
  fail_unless_equals_int (r.status, 201);
  GstSDPMessage *answer = NULL;
  gst_sdp_message_new_from_text (r.body, &answer);
  assert_sends (answer, 0, "audio", "OPUS/48000", r.body);
  gst_sdp_message_free (answer);
  reply_clear (&r);
  fail_unless_equals_int (get_viewers (&f), 2);
  assert_still_playing (&f);
  stop_pipeline (&f);
}
GST_END_TEST;

/* gwsink's WHEP is the gateway's: ICE servers are announced in Link
 * headers (RFC 9725), and a trickle fragment is checked whole before any
 * candidate reaches the viewer. */
GST_START_TEST (test_links_and_trickle_checks)
{
  Fixture f = start_pipeline ("stun-server=stun://127.0.0.1:3478");
  Reply r = http (&f, "OPTIONS", "/whep", NULL, NULL, 0);
  fail_unless_equals_int (r.status, 204);
  fail_unless_equals_string (header (&r, "Link"), "<stun:127.0.0.1:3478>; rel=\"ice-server\"");
  reply_clear (&r);

  g_autofree gchar *offer = make_offer (H264_CAPS, FALSE);
  g_autofree gchar *session = join (&f, offer);
  const gchar *bad[] = { "a=candidate:2\r\n", "garbage\r\n", "a=ice-ufrag:x\r\n" };
  for (const gchar *frag : bad) {
    r = http (&f, "PATCH", session, "application/trickle-ice-sdpfrag", frag, strlen (frag));
    fail_unless_equals_int (r.status, 400);
    fail_unless (strlen (r.body) > 0, "a 400 without a reason");
    reply_clear (&r);
  }
  /* The session lives on. */
  fail_unless_equals_int (get_viewers (&f), 1);
  r = http (&f, "DELETE", session, NULL, NULL, 0);
  fail_unless_equals_int (r.status, 200);
  reply_clear (&r);
  assert_still_playing (&f);
  stop_pipeline (&f);
}
GST_END_TEST;

/* Each video input gets its own codec's parser: by the caps the pad is
 * requested with, or, requested without caps as gst-launch does, by what
 * it is linked to. No pipeline runs here. */
GST_START_TEST (test_input_parser_by_codec)
{
  GstElement *bin = gst_pipeline_new (NULL);
  GstElement *sink = gst_element_factory_make ("gwsink", "sink");
  GstElement *h265 = gst_element_factory_make ("h265parse", NULL);
  GstElement *h264 = gst_element_factory_make ("h264parse", NULL);
  fail_unless (sink && h265 && h264);
  gst_bin_add_many (GST_BIN (bin), sink, h265, h264, NULL);
  fail_unless (gst_element_link (h265, sink));
  fail_unless (gst_element_link (h264, sink));
  GstCaps *caps = gst_caps_from_string ("video/x-h265, stream-format=byte-stream, alignment=au");
  GstPadTemplate *templ
      = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (sink), "video_%u");
  GstPad *requested = gst_element_request_pad (sink, templ, NULL, caps);
  gst_caps_unref (caps);
  fail_unless (requested != NULL);

  const struct
  {
    const gchar *parser;
    gboolean present;
  } want[] = {
    { "video_0_h265parse", TRUE },  { "video_0_h264parse", FALSE }, { "video_1_h264parse", TRUE },
    { "video_1_h265parse", FALSE }, { "video_2_h265parse", TRUE },
  };
  for (auto &w : want) {
    GstElement *e = gst_bin_get_by_name (GST_BIN (sink), w.parser);
    fail_unless (!e == !w.present, "%s %s", w.parser, e ? "present" : "missing");
    if (e)
      gst_object_unref (e);
  }
  /* The linked inputs reach their parser. */
  GstPad *src = gst_element_get_static_pad (h265, "src");
  GstPad *peer = gst_pad_get_peer (src);
  GstPad *target = gst_ghost_pad_get_target (GST_GHOST_PAD (peer));
  fail_unless_equals_string (GST_OBJECT_NAME (GST_OBJECT_PARENT (target)), "video_0_h265parse");
  gst_object_unref (target);
  gst_object_unref (peer);
  gst_object_unref (src);

  gst_element_release_request_pad (sink, requested);
  gst_object_unref (requested);
  gst_object_unref (bin);
}
GST_END_TEST;

/* The trickle fragment parsing that was tested here is the shared one now:
 * tests/check/whep.cpp. */

static Suite *
gwsink_suite (void)
{
  Suite *s = suite_create ("gwsink");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 90);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_page_and_http_errors);
  tcase_add_test (tc, test_whep_session);
  tcase_add_test (tc, test_links_and_trickle_checks);
  tcase_add_test (tc, test_refused_offers_leave_no_trace);
  tcase_add_test (tc, test_max_viewers);
  tcase_add_test (tc, test_failing_viewer_is_removed_alone);
  tcase_add_test (tc, test_video_and_audio);
  tcase_add_test (tc, test_port_in_use_fails_clearly);
  tcase_add_test (tc, test_eos_reaches_the_bus);
  tcase_add_test (tc, test_input_parser_by_codec);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  gw_elements_register_static ();
  int ret = gst_check_run_suite (gwsink_suite (), "gwsink", __FILE__);
  g_clear_pointer (&bus_errors, g_ptr_array_unref);
  g_clear_pointer (&viewer_events, g_ptr_array_unref);
  return ret;
}
