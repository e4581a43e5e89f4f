/* gwreaderbin: signalling answers, error isolation, and many readers added
 * and removed on a live pipeline without errors or leaks. No ICE traffic here
 * (the end-to-end tests connect real peers inside a network namespace). */
#include <gst/check/gstcheck.h>
#include <gst/sdp/sdp.h>
#include <string.h>

#include <initializer_list>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include "gwelements.h"
#include "gwstream.h"
#include "gwreaderbin.h"

typedef struct
{
  GstElement *pipeline;
  GwStream *video;
  GwStream *audio;
} Source;

/* First ERROR seen on a source's bus (messages are dropped as they come, as
 * an application's bus watch would, so they hold no refs on elements). */
static gchar *bus_error = NULL;

static GstBusSyncReply
drop_messages (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR && !bus_error) {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    bus_error = g_strdup_printf ("%s: %s", GST_MESSAGE_SRC_NAME (msg), err->message);
    g_error_free (err);
  }
  gst_message_unref (msg); /* a sync handler that drops owns the message */
  return GST_BUS_DROP;
}

#define H264_SOURCE                                                                                \
  "x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! "                              \
  "h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au"
#define H265_SOURCE                                                                                \
  "x265enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! "                              \
  "h265parse config-interval=-1 ! video/x-h265,stream-format=byte-stream,alignment=au"

/* A live video (@encoder: H264_SOURCE or H265_SOURCE) and Opus source, each
 * behind a stream object. */
static Source
make_source (const gchar *encoder = H264_SOURCE)
{
  Source src;
  GError *err = NULL;
  g_autofree gchar *launch
      = g_strdup_printf ("videotestsrc is-live=true ! "
                         "video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! %s ! "
                         "identity name=vparse "
                         "audiotestsrc is-live=true ! opusenc ! opusparse name=aparse",
                         encoder);
  src.pipeline = gst_parse_launch (launch, &err);
  fail_unless (src.pipeline != NULL, "%s", err ? err->message : "");
  GstBus *bus = gst_element_get_bus (src.pipeline);
  gst_bus_set_sync_handler (bus, drop_messages, NULL, NULL);
  gst_object_unref (bus);
  GstElement *vparse = gst_bin_get_by_name (GST_BIN (src.pipeline), "vparse");
  GstElement *aparse = gst_bin_get_by_name (GST_BIN (src.pipeline), "aparse");
  GstPad *vsrc = gst_element_get_static_pad (vparse, "src");
  GstPad *asrc = gst_element_get_static_pad (aparse, "src");
  src.video = gw_stream_new (GST_BIN (src.pipeline), vsrc, "vtee");
  src.audio = gw_stream_new (GST_BIN (src.pipeline), asrc, "atee");
  fail_unless (src.video && src.audio);
  gst_object_unref (vsrc);
  gst_object_unref (asrc);
  gst_object_unref (vparse);
  gst_object_unref (aparse);
  fail_if (gst_element_set_state (src.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE);
  return src;
}

static void
free_source (Source *src)
{
  gst_element_set_state (src->pipeline, GST_STATE_NULL);
  gw_stream_free (src->video);
  gw_stream_free (src->audio);
  gst_object_unref (src->pipeline);
}

/* Adds a reader the way gwsink and the gateway do: pads, state, then link. */
static GstElement *
add_reader (Source *src, gboolean with_audio)
{
  GstElement *reader = gst_element_factory_make ("gwreaderbin", NULL);
  fail_unless (reader != NULL);
  gst_bin_add (GST_BIN (src->pipeline), reader);
  GstPad *v = gst_element_request_pad_simple (reader, "video_%u");
  GstPad *a = with_audio ? gst_element_request_pad_simple (reader, "audio_%u") : NULL;
  fail_unless (gst_element_sync_state_with_parent (reader));
  fail_unless (gw_stream_attach (src->video, v));
  if (a)
    fail_unless (gw_stream_attach (src->audio, a));
  gst_object_unref (v);
  if (a)
    gst_object_unref (a);
  return reader;
}

static void
remove_reader (Source *src, GstElement *reader)
{
  GstIterator *it = gst_element_iterate_sink_pads (reader);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstPad *pad = GST_PAD (g_value_get_object (&item));
    if (!gw_stream_detach (src->video, pad, reader))
      fail_unless (gw_stream_detach (src->audio, pad, reader));
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

#define OPUS_CAPS                                                                                  \
  "application/x-rtp, media=audio, encoding-name=OPUS, clock-rate=48000, payload=111"

/* A recvonly offer as a browser would send it, made by a real webrtcbin:
 * video, and audio unless @audio_caps is NULL; @max_bundle: the m-lines
 * after the first are bundle-only. */
static gchar *
make_offer_full (const gchar *video_caps, const gchar *audio_caps, gboolean max_bundle)
{
  GstElement *pc = gst_element_factory_make ("webrtcbin", NULL);
  if (max_bundle)
    g_object_set (pc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, NULL);
  GstCaps *vcaps = gst_caps_from_string (video_caps);
  GstWebRTCRTPTransceiver *trans = NULL;
  g_signal_emit_by_name (pc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                         vcaps, &trans);
  gst_clear_object (&trans);
  gst_caps_unref (vcaps);
  if (audio_caps) {
    GstCaps *acaps = gst_caps_from_string (audio_caps);
    g_signal_emit_by_name (pc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                           acaps, &trans);
    gst_clear_object (&trans);
    gst_caps_unref (acaps);
  }
  gst_element_set_state (pc, GST_STATE_READY);
  GstPromise *p = gst_promise_new ();
  g_signal_emit_by_name (pc, "create-offer", NULL, p);
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

static gchar *
make_offer (gboolean with_audio, const gchar *video_caps)
{
  return make_offer_full (video_caps, with_audio ? OPUS_CAPS : NULL, FALSE);
}

#define H264_CAPS                                                                                  \
  "application/x-rtp, media=video, encoding-name=H264, clock-rate=90000, "                         \
  "payload=102, packetization-mode=(string)1, profile-level-id=(string)42e01f"

/* Emits handle-offer and waits (bounded) for the reply. */
static GstStructure *
answer_offer (GstElement *reader, const gchar *offer)
{
  GstPromise *p = gst_promise_new ();
  g_signal_emit_by_name (reader, "handle-offer", offer, p);
  /* A reply comes from a GStreamer thread; bound the wait ourselves. */
  for (int i = 0; i < 200 && gst_promise_wait (p) == GST_PROMISE_RESULT_PENDING; i++)
    g_usleep (50 * 1000);
  fail_unless_equals_int (gst_promise_wait (p), GST_PROMISE_RESULT_REPLIED);
  GstStructure *s = gst_structure_copy (gst_promise_get_reply (p));
  gst_promise_unref (p);
  return s;
}

static void
assert_error (GstStructure *reply, gint code)
{
  GError *err = NULL;
  fail_unless (gst_structure_get (reply, "error", G_TYPE_ERROR, &err, NULL),
               "expected an error, got %" GST_PTR_FORMAT, reply);
  fail_unless (g_error_matches (err, GW_READER_ERROR, code), "got %s", err->message);
  g_error_free (err);
}

static void
fail_on_bus_error (Source *src)
{
  fail_if (bus_error != NULL, "ERROR on the pipeline bus from %s", bus_error);
}

GST_START_TEST (test_answer_sends_h264_and_opus)
{
  Source src = make_source ();
  GstElement *reader = add_reader (&src, TRUE);
  g_autofree gchar *offer = make_offer (TRUE, H264_CAPS);

  GstStructure *reply = answer_offer (reader, offer);
  const gchar *sdp = gst_structure_get_string (reply, "sdp");
  fail_unless (sdp != NULL, "no answer: %" GST_PTR_FORMAT, reply);
  GstSDPMessage *msg;
  gst_sdp_message_new_from_text (sdp, &msg);
  fail_unless_equals_int (gst_sdp_message_medias_len (msg), 2);
  const GstSDPMedia *video = gst_sdp_message_get_media (msg, 0);
  const GstSDPMedia *audio = gst_sdp_message_get_media (msg, 1);
  fail_unless_equals_string (gst_sdp_media_get_media (video), "video");
  fail_unless (gst_sdp_media_get_attribute_val (video, "sendonly") != NULL);
  fail_unless_equals_string (gst_sdp_media_get_format (video, 0), "102");
  fail_unless_equals_string (gst_sdp_media_get_attribute_val (video, "rtpmap"), "102 H264/90000");
  fail_unless_equals_string (gst_sdp_media_get_media (audio), "audio");
  fail_unless (gst_sdp_media_get_attribute_val (audio, "sendonly") != NULL);
  fail_unless_equals_string (gst_sdp_media_get_format (audio, 0), "111");
  gst_sdp_message_free (msg);
  gst_structure_free (reply);

  /* A second offer on the same reader is refused, clearly. */
  reply = answer_offer (reader, offer);
  assert_error (reply, GW_READER_ERROR_STATE);
  gst_structure_free (reply);

  fail_on_bus_error (&src);
  free_source (&src);
}
GST_END_TEST;

/* An H.265 stream goes to a viewer that offers H.265, untouched: the
 * answer sends H.265 on the payload type the viewer chose for it, even one
 * below 96 as Chrome's (49 here), with the offered profile, tier and
 * level and tx-mode=SRST. A viewer without H.265 gets no video, clearly. */
GST_START_TEST (test_answer_sends_h265)
{
  Source src = make_source (H265_SOURCE);
  GstElement *reader = add_reader (&src, FALSE);
  g_autofree gchar *offer = make_offer (
      FALSE, "application/x-rtp, media=video, encoding-name=H265, clock-rate=90000, "
             "payload=49, profile-id=(string)1, tier-flag=(string)0, level-id=(string)93, "
             "tx-mode=(string)SRST; " H264_CAPS);
  GstStructure *reply = answer_offer (reader, offer);
  const gchar *sdp = gst_structure_get_string (reply, "sdp");
  fail_unless (sdp != NULL, "no answer: %" GST_PTR_FORMAT, reply);
  GstSDPMessage *msg;
  gst_sdp_message_new_from_text (sdp, &msg);
  const GstSDPMedia *video = gst_sdp_message_get_media (msg, 0);
  fail_unless (gst_sdp_media_get_attribute_val (video, "sendonly") != NULL);
  fail_unless_equals_int (gst_sdp_media_formats_len (video), 1);
  fail_unless_equals_string (gst_sdp_media_get_format (video, 0), "49");
  fail_unless_equals_string (gst_sdp_media_get_attribute_val (video, "rtpmap"), "49 H265/90000");
  const gchar *fmtp = gst_sdp_media_get_attribute_val (video, "fmtp");
  fail_unless (fmtp != NULL);
  for (const gchar *want : { "profile-id=1", "tier-flag=0", "level-id=93", "tx-mode=SRST" })
    fail_unless (strstr (fmtp, want) != NULL, "%s not in fmtp %s", want, fmtp);
  gst_sdp_message_free (msg);
  gst_structure_free (reply);

  GstElement *h264_only = add_reader (&src, FALSE);
  g_autofree gchar *h264_offer = make_offer (FALSE, H264_CAPS);
  reply = answer_offer (h264_only, h264_offer);
  assert_error (reply, GW_READER_ERROR_NO_COMMON_CODEC);
  gst_structure_free (reply);

  fail_on_bus_error (&src);
  free_source (&src);
}
GST_END_TEST;

GST_START_TEST (test_bad_offers_get_clear_errors)
{
  Source src = make_source ();

  GstElement *reader = add_reader (&src, FALSE);
  GstStructure *reply = answer_offer (reader, "this is not SDP");
  assert_error (reply, GW_READER_ERROR_BAD_SDP);
  gst_structure_free (reply);

  reader = add_reader (&src, FALSE);
  g_autofree gchar *vp8 = make_offer (
      FALSE, "application/x-rtp, media=video, encoding-name=VP8, clock-rate=90000, payload=96");
  reply = answer_offer (reader, vp8);
  assert_error (reply, GW_READER_ERROR_NO_COMMON_CODEC);
  /* The reason names the stream's codec and the offer's. */
  GError *err = NULL;
  gst_structure_get (reply, "error", G_TYPE_ERROR, &err, NULL);
  fail_unless (strstr (err->message, "H.264") && strstr (err->message, "VP8/90000"),
               "unclear reason: %s", err->message);
  g_error_free (err);
  gst_structure_free (reply);

  /* The pipeline and a good reader live on. */
  reader = add_reader (&src, FALSE);
  g_autofree gchar *good = make_offer (FALSE, H264_CAPS);
  reply = answer_offer (reader, good);
  fail_unless (gst_structure_has_field (reply, "sdp"), "%" GST_PTR_FORMAT, reply);
  gst_structure_free (reply);

  fail_on_bus_error (&src);
  free_source (&src);
}
GST_END_TEST;

/* The answer's "dropped" list, or NULL. */
static GStrv
dropped_of (GstStructure *reply)
{
  GStrv dropped = NULL;
  gst_structure_get (reply, "dropped", G_TYPE_STRV, &dropped, NULL);
  return dropped;
}

static const GstSDPMedia *
answer_media (GstSDPMessage **msg, GstStructure *reply, guint index)
{
  const gchar *sdp = gst_structure_get_string (reply, "sdp");
  if (!sdp) {
    g_autofree gchar *text = gst_structure_to_string (reply);
    fail ("no answer: %s", text);
  }
  gst_sdp_message_new_from_text (sdp, msg);
  fail_unless (index < gst_sdp_message_medias_len (*msg));
  return gst_sdp_message_get_media (*msg, index);
}

GST_START_TEST (test_streams_left_out_are_named)
{
  Source src = make_source ();

  /* No audio m-line: the video is answered, the audio named as left out. */
  GstElement *reader = add_reader (&src, TRUE);
  g_autofree gchar *video_only = make_offer_full (H264_CAPS, NULL, FALSE);
  GstStructure *reply = answer_offer (reader, video_only);
  GstSDPMessage *msg = NULL;
  const GstSDPMedia *m = answer_media (&msg, reply, 0);
  fail_unless (gst_sdp_media_get_attribute_val (m, "sendonly") != NULL);
  gst_sdp_message_free (msg);
  g_auto (GStrv) dropped = dropped_of (reply);
  fail_unless (dropped && g_strv_length (dropped) == 1, "%" GST_PTR_FORMAT, reply);
  fail_unless (strstr (dropped[0], "audio_0") && strstr (dropped[0], "Opus")
                   && strstr (dropped[0], "none"),
               "unclear: %s", dropped[0]);
  gst_structure_free (reply);

  /* An audio m-line without Opus: named with what it takes. */
  reader = add_reader (&src, TRUE);
  g_autofree gchar *pcmu = make_offer_full (
      H264_CAPS, "application/x-rtp, media=audio, encoding-name=PCMU, clock-rate=8000, payload=0",
      FALSE);
  reply = answer_offer (reader, pcmu);
  m = answer_media (&msg, reply, 1);
  fail_if (gst_sdp_media_get_attribute_val (m, "sendonly") != NULL, "audio sent");
  gst_sdp_message_free (msg);
  g_auto (GStrv) dropped2 = dropped_of (reply);
  fail_unless (dropped2 && g_strv_length (dropped2) == 1, "%" GST_PTR_FORMAT, reply);
  fail_unless (strstr (dropped2[0], "audio_0") && strstr (dropped2[0], "PCMU/8000"), "unclear: %s",
               dropped2[0]);
  gst_structure_free (reply);

  /* Every stream served, bundle-only audio m-line included: nothing named. */
  reader = add_reader (&src, TRUE);
  g_autofree gchar *both = make_offer_full (H264_CAPS, OPUS_CAPS, TRUE);
  fail_unless (strstr (both, "a=bundle-only") != NULL, "not a bundle-only offer:\n%s", both);
  reply = answer_offer (reader, both);
  m = answer_media (&msg, reply, 1);
  fail_unless (gst_sdp_media_get_attribute_val (m, "sendonly") != NULL, "audio not sent");
  gst_sdp_message_free (msg);
  fail_if (gst_structure_has_field (reply, "dropped"), "%" GST_PTR_FORMAT, reply);
  gst_structure_free (reply);

  fail_on_bus_error (&src);
  free_source (&src);
}
GST_END_TEST;

GST_START_TEST (test_low_payload_type_is_answered)
{
  /* Chromium offers some H.264 profiles (High 4:4:4 among them) on payload
   * types below 96, outside the payloaders' template range: webrtcbin must
   * still find our send pad for that m-line. The test source is High 4:4:4
   * (x264enc fed videotestsrc's default Y444). */
  Source src = make_source ();
  GstElement *reader = add_reader (&src, FALSE);
  g_autofree gchar *offer
      = make_offer_full ("application/x-rtp, media=video, encoding-name=H264, clock-rate=90000, "
                         "payload=35, packetization-mode=(string)1, "
                         "profile-level-id=(string)f4001f",
                         NULL, FALSE);
  GstStructure *reply = answer_offer (reader, offer);
  GstSDPMessage *msg = NULL;
  const GstSDPMedia *video = answer_media (&msg, reply, 0);
  fail_unless (gst_sdp_media_get_attribute_val (video, "sendonly") != NULL, "video not sent");
  fail_unless_equals_string (gst_sdp_media_get_format (video, 0), "35");
  fail_unless_equals_string (gst_sdp_media_get_attribute_val (video, "rtpmap"), "35 H264/90000");
  gst_sdp_message_free (msg);
  gst_structure_free (reply);
  fail_on_bus_error (&src);
  free_source (&src);
}
GST_END_TEST;

/* Emits @signal (create-offer / set-answer) and waits (bounded) for the
 * reply. */
static GstStructure *
call_reader (GstElement *reader, const gchar *signal, const gchar *sdp)
{
  GstPromise *p = gst_promise_new ();
  if (sdp)
    g_signal_emit_by_name (reader, signal, sdp, p);
  else
    g_signal_emit_by_name (reader, signal, p);
  for (int i = 0; i < 200 && gst_promise_wait (p) == GST_PROMISE_RESULT_PENDING; i++)
    g_usleep (50 * 1000);
  fail_unless_equals_int (gst_promise_wait (p), GST_PROMISE_RESULT_REPLIED);
  GstStructure *s = gst_structure_copy (gst_promise_get_reply (p));
  gst_promise_unref (p);
  return s;
}

/* A real webrtcbin's answer to @offer, with the direction of its m-line
 * @inactive (if not -1) made inactive. */
static gchar *
peer_answer (const gchar *offer, gint inactive)
{
  GstElement *pc = gst_element_factory_make ("webrtcbin", NULL);
  g_object_set (pc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, NULL);
  gst_element_set_state (pc, GST_STATE_READY);
  GstSDPMessage *msg = NULL;
  gst_sdp_message_new_from_text (offer, &msg);
  GstWebRTCSessionDescription *desc
      = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_OFFER, msg);
  GstPromise *p = gst_promise_new ();
  g_signal_emit_by_name (pc, "set-remote-description", desc, p);
  fail_unless_equals_int (gst_promise_wait (p), GST_PROMISE_RESULT_REPLIED);
  gst_promise_unref (p);
  gst_webrtc_session_description_free (desc);
  p = gst_promise_new ();
  g_signal_emit_by_name (pc, "create-answer", NULL, p);
  fail_unless_equals_int (gst_promise_wait (p), GST_PROMISE_RESULT_REPLIED);
  GstWebRTCSessionDescription *answer = NULL;
  gst_structure_get (gst_promise_get_reply (p), "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
                     &answer, NULL);
  fail_unless (answer != NULL);
  gst_promise_unref (p);
  if (inactive >= 0) {
    GstSDPMedia *m = (GstSDPMedia *)gst_sdp_message_get_media (answer->sdp, inactive);
    for (guint i = gst_sdp_media_attributes_len (m); i > 0; i--)
      if (g_strcmp0 (gst_sdp_media_get_attribute (m, i - 1)->key, "recvonly") == 0)
        gst_sdp_media_remove_attribute (m, i - 1);
    gst_sdp_media_add_attribute (m, "inactive", NULL);
  }
  gchar *text = gst_sdp_message_as_text (answer->sdp);
  gst_webrtc_session_description_free (answer);
  gst_element_set_state (pc, GST_STATE_NULL);
  gst_object_unref (pc);
  return text;
}

GST_START_TEST (test_streams_an_answer_refuses_are_named)
{
  Source src = make_source ();

  /* Our offer, the peer's answer with the audio inactive. */
  GstElement *reader = add_reader (&src, TRUE);
  GstStructure *reply = call_reader (reader, "create-offer", NULL);
  const gchar *offer = gst_structure_get_string (reply, "sdp");
  fail_unless (offer != NULL, "no offer: %" GST_PTR_FORMAT, reply);
  g_autofree gchar *answer = peer_answer (offer, 1);
  gst_structure_free (reply);
  reply = call_reader (reader, "set-answer", answer);
  fail_unless (gst_structure_has_name (reply, "gw-result"));
  fail_if (gst_structure_has_field (reply, "error"), "%" GST_PTR_FORMAT, reply);
  g_auto (GStrv) dropped = dropped_of (reply);
  fail_unless (dropped && g_strv_length (dropped) == 1, "answer:\n%s", answer);
  fail_unless (strstr (dropped[0], "audio_0") && strstr (dropped[0], "Opus")
                   && strstr (dropped[0], "m-line 1"),
               "unclear: %s", dropped[0]);
  gst_structure_free (reply);

  /* An answer that receives both: nothing named. */
  reader = add_reader (&src, TRUE);
  reply = call_reader (reader, "create-offer", NULL);
  g_autofree gchar *good = peer_answer (gst_structure_get_string (reply, "sdp"), -1);
  gst_structure_free (reply);
  reply = call_reader (reader, "set-answer", good);
  fail_if (gst_structure_has_field (reply, "error"), "%" GST_PTR_FORMAT, reply);
  fail_if (gst_structure_has_field (reply, "dropped"), "%" GST_PTR_FORMAT, reply);
  gst_structure_free (reply);

  fail_on_bus_error (&src);
  free_source (&src);
}
GST_END_TEST;

static void
on_reader_error (GstElement *reader, GError *err, gint *count)
{
  g_atomic_int_inc (count);
}

GST_START_TEST (test_reader_error_stays_in_reader)
{
  Source src = make_source ();
  GstElement *reader = add_reader (&src, FALSE);
  gint errors = 0;
  g_signal_connect (reader, "reader-error", G_CALLBACK (on_reader_error), &errors);

  GstElement *inner = gst_bin_get_by_name (GST_BIN (reader), "webrtcbin");
  fail_unless (inner != NULL);
  GST_ELEMENT_ERROR (inner, RESOURCE, FAILED, ("simulated DTLS failure"), (NULL));
  gst_object_unref (inner);

  fail_unless_equals_int (g_atomic_int_get (&errors), 1);
  fail_on_bus_error (&src);
  GstState state;
  gst_element_get_state (src.pipeline, &state, NULL, GST_CLOCK_TIME_NONE);
  fail_unless_equals_int (state, GST_STATE_PLAYING);
  free_source (&src);
}
GST_END_TEST;

/* webrtcbin itself is already counted with its reader. */
#define GST_IS_WEBRTC_BIN_TYPE_NAME(o) g_str_equal (G_OBJECT_TYPE_NAME (o), "GstWebRTCBin")

static void
count_finalized (gpointer data, GObject *where_the_object_was)
{
  g_atomic_int_inc ((gint *)data);
}

GST_START_TEST (test_fifty_readers_come_and_go)
{
  const int N = 50;
  Source src = make_source ();
  g_autofree gchar *offer = make_offer (TRUE, H264_CAPS);
  gint finalized = 0;
  GstElement *readers[N];

  /* Let media flow first: readers join a live stream. */
  g_usleep (300 * 1000);
  for (int i = 0; i < N; i++) {
    readers[i] = add_reader (&src, i % 2 == 0);
    g_object_weak_ref (G_OBJECT (readers[i]), count_finalized, &finalized);
    GstElement *inner = gst_bin_get_by_name (GST_BIN (readers[i]), "webrtcbin");
    g_object_weak_ref (G_OBJECT (inner), count_finalized, &finalized);
    gst_object_unref (inner);
    /* Every fifth reader negotiates, so payloaders and webrtcbin pads come
     * and go too. */
    if (i % 5 == 0) {
      GstStructure *reply = answer_offer (readers[i], offer);
      fail_unless (gst_structure_has_field (reply, "sdp"), "%" GST_PTR_FORMAT, reply);
      gst_structure_free (reply);
    }
  }
  fail_unless_equals_int (gw_stream_get_n_attached (src.video), N);
  g_usleep (300 * 1000);

  gint children = 0, children_finalized = 0;
  for (int i = 0; i < N; i++) {
    GstIterator *it = gst_bin_iterate_elements (GST_BIN (readers[i]));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
      GObject *child = G_OBJECT (g_value_get_object (&item));
      if (!GST_IS_WEBRTC_BIN_TYPE_NAME (child)) {
        g_object_weak_ref (child, count_finalized, &children_finalized);
        children++;
      }
      g_value_reset (&item);
    }
    g_value_unset (&item);
    gst_iterator_free (it);
  }
  fail_unless (children >= 2 * N); /* at least a queue and a gate each */

  for (int i = 0; i < N; i++)
    remove_reader (&src, readers[i]);

  /* Removal runs on GStreamer helper threads; wait, bounded. */
  for (int i = 0; i < 200 && g_atomic_int_get (&finalized) < 2 * N; i++)
    g_usleep (50 * 1000);
  fail_unless_equals_int (g_atomic_int_get (&finalized), 2 * N);
  fail_unless_equals_int (gw_stream_get_n_attached (src.video), 0);
  fail_unless_equals_int (gw_stream_get_n_attached (src.audio), 0);

  /* The source still plays, with no error posted. */
  GstState state;
  gst_element_get_state (src.pipeline, &state, NULL, GST_CLOCK_TIME_NONE);
  fail_unless_equals_int (state, GST_STATE_PLAYING);
  fail_on_bus_error (&src);
  free_source (&src);

  /* Nothing of ours is left alive: every element a reader held (queues,
   * gates, payloaders, webrtcbin) was finalized, counted by weak refs taken
   * just before removal. */
  for (int i = 0; i < 200 && g_atomic_int_get (&children_finalized) < children; i++)
    g_usleep (50 * 1000);
  fail_unless_equals_int (g_atomic_int_get (&children_finalized), children);
}
GST_END_TEST;

/* Readers removed while they negotiate: the negotiation runs on a GStreamer
 * helper thread when the caps come, the removal on another; the bin's state
 * change must never walk its children while a payloader is being linked
 * (GstBin then warns of a loop in the graph, fatal here). Every caller still
 * gets an answer or an error, and every reader goes away. */
GST_START_TEST (test_readers_removed_while_negotiating)
{
  const int N = 40;
  Source src = make_source ();
  g_autofree gchar *offer = make_offer (TRUE, H264_CAPS);
  gint finalized = 0;
  GstPromise *promises[N];
  g_usleep (300 * 1000);
  for (int i = 0; i < N; i++) {
    GstElement *reader = add_reader (&src, TRUE);
    g_object_weak_ref (G_OBJECT (reader), count_finalized, &finalized);
    if (i == 0) /* one is alive: it says so at once */
      fail_if (gw_reader_bin_wait_all_gone (0));
    promises[i] = gst_promise_new ();
    g_signal_emit_by_name (reader, "handle-offer", offer, promises[i]);
    /* Spread the removals over a frame interval (15 fps) so that some land
     * while the caps arrive and the payloaders are linked. */
    g_usleep (g_random_int_range (0, 70) * 1000);
    remove_reader (&src, reader);
  }
  /* What a server waits for at exit: every reader finalized, bounded. */
  fail_unless (gw_reader_bin_wait_all_gone (10 * G_USEC_PER_SEC));
  fail_unless_equals_int (g_atomic_int_get (&finalized), N);
  for (int i = 0; i < N; i++) {
    /* Answered, failed, or expired when the reader went: never left pending. */
    fail_if (gst_promise_wait (promises[i]) == GST_PROMISE_RESULT_PENDING);
    gst_promise_unref (promises[i]);
  }
  fail_unless_equals_int (gw_stream_get_n_attached (src.video), 0);
  fail_on_bus_error (&src);
  free_source (&src);
}
GST_END_TEST;

static GstPadProbeReturn
count_buffers (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  g_atomic_int_inc (static_cast<gint *> (user_data));
  return GST_PAD_PROBE_OK;
}

/* A reader attached by the stream object gets the stream's caps (it
 * negotiates) but no buffers from the tee until its viewer is connected and
 * it asks for them; a plain branch of the same stream is fed all along. */
GST_START_TEST (test_stream_feeds_readers_only_when_they_ask)
{
  Source src = make_source ();
  GstElement *reader = add_reader (&src, TRUE);
  GstPad *rpad = gst_element_get_static_pad (reader, "video_0");
  gint reader_buffers = 0, plain_buffers = 0;
  gst_pad_add_probe (rpad, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, &reader_buffers, NULL);

  GstElement *plain = gst_element_factory_make ("fakesink", NULL);
  g_object_set (plain, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (src.pipeline), plain);
  fail_unless (gst_element_sync_state_with_parent (plain));
  GstPad *ppad = gst_element_get_static_pad (plain, "sink");
  gst_pad_add_probe (ppad, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, &plain_buffers, NULL);
  fail_unless (gw_stream_attach (src.video, ppad));

  g_autofree gchar *offer = make_offer (TRUE, H264_CAPS);
  GstStructure *reply = answer_offer (reader, offer);
  fail_unless (gst_structure_get_string (reply, "sdp") != NULL, "no answer: %" GST_PTR_FORMAT,
               reply);
  gst_structure_free (reply);

  for (int i = 0; i < 200 && g_atomic_int_get (&plain_buffers) < 10; i++)
    g_usleep (50 * 1000);
  fail_unless (g_atomic_int_get (&plain_buffers) >= 10);
  fail_unless_equals_int (g_atomic_int_get (&reader_buffers), 0);
  GstCaps *caps = gst_pad_get_current_caps (rpad);
  fail_unless (caps != NULL);
  gst_caps_unref (caps);
  fail_unless_equals_int (gw_stream_get_n_attached (src.video), 2);
  fail_unless_equals_int (gw_stream_get_n_fed (src.video), 1);

  fail_unless (gw_stream_detach (src.video, ppad, plain));
  gst_object_unref (ppad);
  gst_object_unref (rpad);
  fail_on_bus_error (&src);
  free_source (&src);
}
GST_END_TEST;

static Suite *
gwreaderbin_suite (void)
{
  Suite *s = suite_create ("gwreaderbin");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_answer_sends_h264_and_opus);
  tcase_add_test (tc, test_answer_sends_h265);
  tcase_add_test (tc, test_bad_offers_get_clear_errors);
  tcase_add_test (tc, test_streams_left_out_are_named);
  tcase_add_test (tc, test_streams_an_answer_refuses_are_named);
  tcase_add_test (tc, test_low_payload_type_is_answered);
  tcase_add_test (tc, test_reader_error_stays_in_reader);
  tcase_add_test (tc, test_fifty_readers_come_and_go);
  tcase_add_test (tc, test_readers_removed_while_negotiating);
  tcase_add_test (tc, test_stream_feeds_readers_only_when_they_ask);
  return s;
}

int
main (int argc, char **argv)
{
  /* The leaks tracer reports our element types still alive at exit (a
   * failure under GstCheck); the churn test counts its own by weak refs. */
  g_setenv ("GST_TRACERS",
            "leaks(GwReaderBin,GwKeyframeGate,GstWebRTCBin,GstRtpH264Pay,GstRtpOpusPay)", FALSE);
  gst_check_init (&argc, &argv);
  gw_elements_register_static ();
  return gst_check_run_suite (gwreaderbin_suite (), "gwreaderbin", __FILE__);
}
