/* Offer parsing and codec choice, without a network. */
#include <gst/check/gstcheck.h>

#include "gwreaderbin.h"
#include "gwsdp.h"

#include <gst/webrtc/webrtc.h>

/* Media sections shaped like Chromium's recvonly offer. */
#define SESSION                                                                                    \
  "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"                                            \
  "a=group:BUNDLE 0 1\r\n"
#define VIDEO_CHROME                                                                               \
  "m=video 9 UDP/TLS/RTP/SAVPF 96 102 103 127 108\r\n"                                             \
  "c=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"                                    \
  "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"                                       \
  "a=fingerprint:sha-256 00:11\r\na=setup:actpass\r\n"                                             \
  "a=rtpmap:96 VP8/90000\r\n"                                                                      \
  "a=rtpmap:102 H264/90000\r\na=fmtp:102 "                                                         \
  "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n"                     \
  "a=rtpmap:103 H264/90000\r\na=fmtp:103 "                                                         \
  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"                     \
  "a=rtpmap:127 H264/90000\r\na=fmtp:127 "                                                         \
  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"                     \
  "a=rtpmap:108 H264/90000\r\na=fmtp:108 "                                                         \
  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n"
#define AUDIO_CHROME                                                                               \
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\n"                                                        \
  "c=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\n"                                    \
  "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"                                       \
  "a=fingerprint:sha-256 00:11\r\na=setup:actpass\r\n"                                             \
  "a=rtpmap:111 opus/48000/2\r\n"

static GstSDPMessage *
parse_ok (const gchar *text)
{
  GError *err = NULL;
  GstSDPMessage *msg = gw_sdp_parse (text, &err);
  fail_unless (msg != NULL, "parse failed: %s", err ? err->message : "?");
  return msg;
}

static GwStreamFormat
format_of (const gchar *caps_str)
{
  GwStreamFormat f;
  GstCaps *caps = gst_caps_from_string (caps_str);
  fail_unless (gw_stream_format_from_caps (caps, &f));
  gst_caps_unref (caps);
  return f;
}

GST_START_TEST (test_parse_rejects_garbage)
{
  const gchar *bad[] = {
    "",
    "hello",
    "v=0\r\n",
    "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n",
    /* media without ICE credentials */
    "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=rtpmap:96 H264/90000\r\n",
    /* truncated in the middle of the media section */
    SESSION "m=vid",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    GError *err = NULL;
    GstSDPMessage *msg = gw_sdp_parse (bad[i], &err);
    fail_unless (msg == NULL, "case %u parsed", i);
    fail_unless (g_error_matches (err, GW_READER_ERROR, GW_READER_ERROR_BAD_SDP), "case %u", i);
    fail_unless (err->message && *err->message);
    g_error_free (err);
  }
  fail_unless (gw_sdp_parse (NULL, NULL) == NULL);
}
GST_END_TEST;

GST_START_TEST (test_choose_chrome_offer)
{
  GstSDPMessage *offer = parse_ok (SESSION VIDEO_CHROME AUDIO_CHROME);
  GwStreamFormat streams[2] = {
    format_of (
        "video/x-h264, stream-format=byte-stream, alignment=au, profile=high, level=(string)4"),
    format_of ("audio/x-opus"),
  };
  GwOfferChoice choices[2];
  gboolean chosen[2];
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 2, choices, chosen), 2);
  fail_unless (chosen[0] && chosen[1]);
  /* High is not offered: the constrained-baseline mode-1 entry ranks first,
   * never the packetization-mode=0 one (102) nor VP8 (96). */
  fail_unless_equals_int (choices[0].mline, 0);
  fail_unless_equals_int (choices[0].pt, 127);
  fail_unless_equals_string (choices[0].profile_level_id, "42e01f");
  fail_unless_equals_int (choices[1].mline, 1);
  fail_unless_equals_int (choices[1].pt, 111);

  /* A main-profile stream takes the offered main profile. */
  streams[0] = format_of ("video/x-h264, profile=main, level=(string)3.1");
  gw_sdp_choose (offer, streams, 1, choices, chosen);
  fail_unless (chosen[0]);
  fail_unless_equals_int (choices[0].pt, 108);
  fail_unless_equals_string (choices[0].profile_level_id, "4d001f");

  /* G.711 by its static payload type, with no rtpmap line. */
  streams[0] = format_of ("audio/x-mulaw, rate=8000, channels=1");
  gw_sdp_choose (offer, streams, 1, choices, chosen);
  fail_unless (chosen[0]);
  fail_unless_equals_int (choices[0].mline, 1);
  fail_unless_equals_int (choices[0].pt, 0);
  gst_sdp_message_free (offer);
}
GST_END_TEST;

GST_START_TEST (test_choose_nothing_to_serve)
{
  /* Only VP8 and H.264 packetization-mode=0: nothing an H.264 stream fits. */
  GstSDPMessage *offer = parse_ok (
      SESSION
      "m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:sha-256 00:11\r\n"
      "a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n"
      "a=fmtp:102 packetization-mode=0;profile-level-id=42e01f\r\n");
  GwStreamFormat streams[1] = { format_of ("video/x-h264, profile=constrained-baseline") };
  GwOfferChoice choices[1];
  gboolean chosen[1];
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 1, choices, chosen), 0);
  fail_if (chosen[0]);
  gst_sdp_message_free (offer);

  /* A sendonly or rejected (port 0) m-line cannot receive our video. */
  offer = parse_ok (
      SESSION
      "m=video 9 UDP/TLS/RTP/SAVPF 127\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:sha-256 00:11\r\n"
      "a=rtpmap:127 H264/90000\r\na=fmtp:127 packetization-mode=1;profile-level-id=42e01f\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 127\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:sha-256 00:11\r\n"
      "a=rtpmap:127 H264/90000\r\na=fmtp:127 packetization-mode=1;profile-level-id=42e01f\r\n");
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 1, choices, chosen), 0);
  gst_sdp_message_free (offer);

  /* Audio-only offer for a video stream. */
  offer = parse_ok (SESSION AUDIO_CHROME);
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 1, choices, chosen), 0);
  gst_sdp_message_free (offer);
}
GST_END_TEST;

GST_START_TEST (test_rtp_caps)
{
  GwStreamFormat f = format_of ("video/x-h264, profile=high, level=(string)4");
  GstCaps *caps = gw_sdp_rtp_caps (&f, 127, "42e01f");
  GstCaps *want
      = gst_caps_from_string ("application/x-rtp, media=video, encoding-name=H264, "
                              "clock-rate=90000, payload=127, packetization-mode=(string)1, "
                              "profile-level-id=(string)42e01f");
  fail_unless (gst_caps_is_equal (caps, want));
  gst_caps_unref (caps);
  gst_caps_unref (want);

  /* As offerer: the stream's own profile and level. */
  caps = gw_sdp_rtp_caps (&f, gw_sdp_default_pt (&f), NULL);
  fail_unless_equals_string (
      gst_structure_get_string (gst_caps_get_structure (caps, 0), "profile-level-id"), "640028");
  gst_caps_unref (caps);

  GstCaps *vp8 = gst_caps_from_string ("video/x-vp8");
  fail_if (gw_stream_format_from_caps (vp8, &f));
  gst_caps_unref (vp8);
}
GST_END_TEST;

/* A viewer that offers H.265 (Main and Main 10, as Chrome with a hardware
 * decoder does) besides H.264 gets an H.265 stream untouched on an H.265
 * payload type, answered with the offer's fields; an H.264 stream
 * still goes to H.264; an offer without H.265 cannot take an H.265 stream. */
GST_START_TEST (test_choose_h265)
{
  GstSDPMessage *offer = parse_ok (
      SESSION
      "m=video 9 UDP/TLS/RTP/SAVPF 102 49 51\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:sha-256 00:11\r\n"
      "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n"
      "a=rtpmap:49 H265/90000\r\na=fmtp:49 level-id=156;profile-id=2;tier-flag=0;tx-mode=SRST\r\n"
      "a=rtpmap:51 H265/90000\r\na=fmtp:51 level-id=156;profile-id=1;tier-flag=0;tx-mode=SRST\r\n");
  GwStreamFormat streams[1]
      = { format_of ("video/x-h265, profile=main, tier=main, level=(string)3.1") };
  GwOfferChoice choices[1];
  gboolean chosen[1];
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 1, choices, chosen), 1);
  fail_unless (chosen[0]);
  fail_unless_equals_int (choices[0].pt, 51); /* Main before Main 10 */
  fail_unless_equals_string (choices[0].profile_level_id, "1/0/156");
  GstCaps *caps = gw_sdp_rtp_caps (&streams[0], choices[0].pt, choices[0].profile_level_id);
  GstCaps *want = gst_caps_from_string (
      "application/x-rtp, media=video, encoding-name=H265, clock-rate=90000, payload=51, "
      "profile-id=(string)1, tier-flag=(string)0, level-id=(string)156, tx-mode=(string)SRST");
  fail_unless (gst_caps_is_equal (caps, want), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_caps_unref (want);

  GwStreamFormat h264[1] = { format_of ("video/x-h264, profile=constrained-baseline") };
  fail_unless_equals_int (gw_sdp_choose (offer, h264, 1, choices, chosen), 1);
  fail_unless_equals_int (choices[0].pt, 102);
  gst_sdp_message_free (offer);

  /* Chromium without an H.265 decoder: nothing for an H.265 stream. */
  offer = parse_ok (SESSION VIDEO_CHROME AUDIO_CHROME);
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 1, choices, chosen), 0);
  fail_if (chosen[0]);
  gst_sdp_message_free (offer);

  /* As offerer: the stream's own profile, tier and level. */
  caps = gw_sdp_rtp_caps (&streams[0], gw_sdp_default_pt (&streams[0]), NULL);
  want = gst_caps_from_string (
      "application/x-rtp, media=video, encoding-name=H265, clock-rate=90000, payload=98, "
      "profile-id=(string)1, tier-flag=(string)0, level-id=(string)93, tx-mode=(string)SRST");
  fail_unless (gst_caps_is_equal (caps, want), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_caps_unref (want);
}
GST_END_TEST;

/* aiortc's default audio+video offer: BUNDLE, but every m-line gathered by
 * its own ICE agent (own ufrag, password and candidates). */
#define AIORTC_OFFER                                                                               \
  "v=0\r\no=- 3912345678 3912345678 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"                            \
  "a=group:BUNDLE 0 1\r\na=msid-semantic:WMS *\r\n"                                                \
  "m=video 40001 UDP/TLS/RTP/SAVPF 97 98 99 100 101 102\r\n"                                       \
  "c=IN IP4 10.99.0.2\r\na=recvonly\r\na=mid:0\r\na=rtcp-mux\r\n"                                  \
  "a=rtpmap:97 VP8/90000\r\na=rtpmap:98 rtx/90000\r\na=fmtp:98 apt=97\r\n"                         \
  "a=rtpmap:99 H264/90000\r\n"                                                                     \
  "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"           \
  "a=rtpmap:100 rtx/90000\r\na=fmtp:100 apt=99\r\n"                                                \
  "a=rtpmap:101 H264/90000\r\n"                                                                    \
  "a=fmtp:101 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"          \
  "a=rtpmap:102 rtx/90000\r\na=fmtp:102 apt=101\r\n"                                               \
  "a=candidate:a1 1 udp 2130706431 10.99.0.2 40001 typ host\r\na=end-of-candidates\r\n"            \
  "a=ice-ufrag:vVVV\r\na=ice-pwd:videovideovideovideovid\r\n"                                      \
  "a=fingerprint:sha-256 "                                                                         \
  "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:"  \
  "99\r\na=setup:actpass\r\n"                                                                      \
  "m=audio 40002 UDP/TLS/RTP/SAVPF 96 0 8\r\n"                                                     \
  "c=IN IP4 10.99.0.2\r\na=recvonly\r\na=mid:1\r\na=rtcp-mux\r\n"                                  \
  "a=rtpmap:96 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"                   \
  "a=candidate:b1 1 udp 2130706431 10.99.0.2 40002 typ host\r\na=end-of-candidates\r\n"            \
  "a=ice-ufrag:aAAA\r\na=ice-pwd:audioaudioaudioaudioaud\r\n"                                      \
  "a=fingerprint:sha-256 "                                                                         \
  "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:"  \
  "99\r\na=setup:actpass\r\n"

/* What webrtcbin offers with bundle-policy=max-bundle: the m-lines after the
 * first are bundle-only (port 0, a=bundle-only, RFC 8843). */
#define MAX_BUNDLE_OFFER                                                                           \
  "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-options:trickle\r\n"                     \
  "a=group:BUNDLE video0 audio1\r\n"                                                               \
  "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\n"                      \
  "a=ice-ufrag:mmmm\r\na=ice-pwd:maxbundlemaxbundlemaxbu\r\n"                                      \
  "a=rtcp-mux\r\na=rtcp-rsize\r\na=recvonly\r\n"                                                   \
  "a=rtpmap:96 H264/90000\r\n"                                                                     \
  "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n"                                     \
  "a=mid:video0\r\na=fingerprint:sha-256 "                                                         \
  "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:"  \
  "99\r\n"                                                                                         \
  "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\n"                       \
  "a=setup:actpass\r\na=ice-ufrag:mmmm\r\na=ice-pwd:maxbundlemaxbundlemaxbu\r\n"                   \
  "a=rtcp-mux\r\na=rtcp-rsize\r\na=recvonly\r\na=rtpmap:111 OPUS/48000/2\r\n"                      \
  "a=mid:audio1\r\na=fingerprint:sha-256 "                                                         \
  "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:"  \
  "99\r\n"

static guint
count_attributes (const GstSDPMedia *media, const gchar *key)
{
  guint n = 0;
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++)
    if (g_strcmp0 (gst_sdp_media_get_attribute (media, i)->key, key) == 0)
      n++;
  return n;
}

/* Gives @sdp (taken) to a fresh webrtcbin as the remote offer; returns its
 * error message, or NULL when webrtcbin took it. */
static gchar *
webrtcbin_takes_offer (GstSDPMessage *sdp)
{
  GstElement *webrtc = gst_element_factory_make ("webrtcbin", NULL);
  fail_unless (webrtc != NULL, "webrtcbin is missing");
  g_object_set (webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, NULL);
  fail_unless (gst_element_set_state (webrtc, GST_STATE_READY) != GST_STATE_CHANGE_FAILURE);
  GstWebRTCSessionDescription *desc
      = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  GstPromise *promise = gst_promise_new ();
  g_signal_emit_by_name (webrtc, "set-remote-description", desc, promise);
  fail_unless_equals_int (gst_promise_wait (promise), GST_PROMISE_RESULT_REPLIED);
  const GstStructure *reply = gst_promise_get_reply (promise);
  gchar *message = NULL;
  GError *err = NULL;
  if (reply && gst_structure_get (reply, "error", G_TYPE_ERROR, &err, NULL)) {
    message = g_strdup (err->message);
    g_error_free (err);
  }
  gst_promise_unref (promise);
  gst_webrtc_session_description_free (desc);
  gst_element_set_state (webrtc, GST_STATE_NULL);
  gst_object_unref (webrtc);
  return message;
}

GST_START_TEST (test_bundle_with_per_mline_credentials)
{
  /* As offered, webrtcbin refuses it: the reason this normalisation exists. */
  GstSDPMessage *raw = NULL;
  gst_sdp_message_new_from_text (AIORTC_OFFER, &raw);
  fail_unless (raw != NULL);
  g_autofree gchar *refused = webrtcbin_takes_offer (raw);
  fail_unless (refused && strstr (refused, "ice-ufrag"), "webrtcbin took it: %s", refused);

  GstSDPMessage *offer = parse_ok (AIORTC_OFFER);
  const GstSDPMedia *video = gst_sdp_message_get_media (offer, 0);
  const GstSDPMedia *audio = gst_sdp_message_get_media (offer, 1);
  /* The tagged m-line (mid 0) is untouched... */
  fail_unless_equals_string (gst_sdp_media_get_attribute_val (video, "ice-ufrag"), "vVVV");
  fail_unless_equals_int (count_attributes (video, "candidate"), 1);
  /* ...the other takes its credentials and drops the candidates of the
   * agent aiortc stops once the answer bundles. */
  fail_unless_equals_string (gst_sdp_media_get_attribute_val (audio, "ice-ufrag"), "vVVV");
  fail_unless_equals_string (gst_sdp_media_get_attribute_val (audio, "ice-pwd"),
                             "videovideovideovideovid");
  fail_unless_equals_int (count_attributes (audio, "ice-ufrag"), 1);
  fail_unless_equals_int (count_attributes (audio, "candidate"), 0);
  fail_unless_equals_int (count_attributes (audio, "end-of-candidates"), 0);
  /* Normalising again changes nothing. */
  fail_unless_equals_int (gw_sdp_normalize_bundle (offer), 0);

  /* Both streams have an m-line. */
  GwStreamFormat streams[2] = {
    format_of ("video/x-h264, stream-format=byte-stream, alignment=au, "
               "profile=constrained-baseline"),
    format_of ("audio/x-opus"),
  };
  GwOfferChoice choices[2];
  gboolean chosen[2];
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 2, choices, chosen), 2);
  fail_unless_equals_int (choices[0].mline, 0);
  fail_unless_equals_int (choices[0].pt, 101);
  fail_unless_equals_int (choices[1].mline, 1);
  fail_unless_equals_int (choices[1].pt, 96);

  /* And webrtcbin takes the normalised offer. */
  g_autofree gchar *error = webrtcbin_takes_offer (offer);
  fail_unless (error == NULL, "webrtcbin refused the normalised offer: %s", error);
}
GST_END_TEST;

GST_START_TEST (test_bundle_only_is_not_refused)
{
  GstSDPMessage *offer = parse_ok (MAX_BUNDLE_OFFER);
  fail_if (gw_sdp_media_is_bundle_only (offer, 0));
  fail_unless (gw_sdp_media_is_bundle_only (offer, 1));
  fail_if (gw_sdp_media_is_bundle_only (offer, 2));
  GwStreamFormat streams[2] = {
    format_of ("video/x-h264, stream-format=byte-stream, alignment=au, "
               "profile=constrained-baseline"),
    format_of ("audio/x-opus"),
  };
  GwOfferChoice choices[2];
  gboolean chosen[2];
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 2, choices, chosen), 2);
  fail_unless_equals_int (choices[1].mline, 1);
  fail_unless_equals_int (choices[1].pt, 111);
  /* An audio-only stream is served on the bundle-only m-line too. */
  fail_unless_equals_int (gw_sdp_choose (offer, &streams[1], 1, choices, chosen), 1);
  fail_unless_equals_int (choices[0].mline, 1);
  gst_sdp_message_free (offer);

  /* Bundle-only with only the group's tagged m-line carrying ICE and DTLS
   * attributes: the member gets them, the offer parses and is served. */
  GString *bare = g_string_new (MAX_BUNDLE_OFFER);
  const gchar *audio_at = strstr (bare->str, "m=audio");
  gsize from = audio_at - bare->str;
  g_autofree gchar *audio = g_strdup (bare->str + from);
  g_string_truncate (bare, from);
  g_auto (GStrv) lines = g_strsplit (audio, "\r\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (!*lines[i] || g_str_has_prefix (lines[i], "a=ice-")
        || g_str_has_prefix (lines[i], "a=setup") || g_str_has_prefix (lines[i], "a=fingerprint"))
      continue;
    g_string_append_printf (bare, "%s\r\n", lines[i]);
  }
  offer = parse_ok (bare->str);
  g_string_free (bare, TRUE);
  const GstSDPMedia *m = gst_sdp_message_get_media (offer, 1);
  fail_unless_equals_string (gst_sdp_media_get_attribute_val (m, "ice-ufrag"), "mmmm");
  fail_unless_equals_string (gst_sdp_media_get_attribute_val (m, "setup"), "actpass");
  fail_unless (gst_sdp_media_get_attribute_val (m, "fingerprint") != NULL);
  fail_unless_equals_int (gw_sdp_choose (offer, streams, 2, choices, chosen), 2);
  g_autofree gchar *error = webrtcbin_takes_offer (offer);
  fail_unless (error == NULL, "webrtcbin refused the offer: %s", error);

  /* Port 0 without a=bundle-only, or with its mid outside any BUNDLE group,
   * stays a refused m-line. */
  gchar *text = g_strdup (MAX_BUNDLE_OFFER);
  gchar *attr = strstr (text, "a=bundle-only");
  memcpy (attr, "a=bundle-xxxx", strlen ("a=bundle-only"));
  offer = parse_ok (text);
  fail_if (gw_sdp_media_is_bundle_only (offer, 1));
  fail_unless_equals_int (gw_sdp_choose (offer, &streams[1], 1, choices, chosen), 0);
  gst_sdp_message_free (offer);
  g_free (text);
  text = g_strdup (MAX_BUNDLE_OFFER);
  gchar *group = strstr (text, "BUNDLE video0 audio1");
  memcpy (group, "BUNDLE video0 audioX", strlen ("BUNDLE video0 audio1"));
  offer = parse_ok (text);
  fail_if (gw_sdp_media_is_bundle_only (offer, 1));
  fail_unless_equals_int (gw_sdp_choose (offer, &streams[1], 1, choices, chosen), 0);
  gst_sdp_message_free (offer);
  g_free (text);
}
GST_END_TEST;

GST_START_TEST (test_describe_for_people)
{
  GwStreamFormat f = format_of ("video/x-h264, stream-format=byte-stream, alignment=au, "
                                "profile=high-4:4:4, level=(string)3");
  g_autofree gchar *stream = gw_sdp_describe_stream (&f);
  fail_unless (g_str_has_prefix (stream, "H.264 (") && strstr (stream, "packetization-mode=1")
                   && strstr (stream, "profile-level-id=f4001e"),
               "%s", stream);
  GwStreamFormat opus = format_of ("audio/x-opus");
  g_autofree gchar *audio_stream = gw_sdp_describe_stream (&opus);
  fail_unless_equals_string (audio_stream, "Opus");

  /* Each codec once, the fmtp where the codec's rules read it. */
  GstSDPMessage *offer = parse_ok (AIORTC_OFFER);
  g_autofree gchar *video = gw_sdp_describe_offer (offer, TRUE);
  fail_unless_equals_string (video, "VP8/90000, RTX/90000, H264/90000 "
                                    "(level-asymmetry-allowed=1;packetization-mode=1;"
                                    "profile-level-id=42001f), H264/90000 "
                                    "(level-asymmetry-allowed=1;packetization-mode=1;"
                                    "profile-level-id=42e01f)");
  g_autofree gchar *audio = gw_sdp_describe_offer (offer, FALSE);
  fail_unless_equals_string (audio, "OPUS/48000, PCMU/8000, PCMA/8000");
  gst_sdp_message_free (offer);

  offer = parse_ok (SESSION VIDEO_CHROME);
  g_autofree gchar *none = gw_sdp_describe_offer (offer, FALSE);
  fail_unless_equals_string (none, "none");
  gst_sdp_message_free (offer);
}
GST_END_TEST;

static Suite *
gwsdp_suite (void)
{
  Suite *s = suite_create ("gwsdp");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_parse_rejects_garbage);
  tcase_add_test (tc, test_choose_chrome_offer);
  tcase_add_test (tc, test_choose_nothing_to_serve);
  tcase_add_test (tc, test_rtp_caps);
  tcase_add_test (tc, test_choose_h265);
  tcase_add_test (tc, test_bundle_with_per_mline_credentials);
  tcase_add_test (tc, test_bundle_only_is_not_refused);
  tcase_add_test (tc, test_describe_for_people);
  return s;
}

GST_CHECK_MAIN (gwsdp);
