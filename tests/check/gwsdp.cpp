/* Offer parsing and codec choice, without a network. */
#include <gst/check/gstcheck.h>

#include "gwreaderbin.h"
#include "gwsdp.h"

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
  return s;
}

GST_CHECK_MAIN (gwsdp);
