/* The codec table: every row found by each of its keys, template caps built
 * from it, unknown codecs refused, keyframes found. No network. */
#include <gst/check/gstcheck.h>

#include <initializer_list>
#include <vector>

#include "gwcodec.h"
#include "gwnal.h"
#include "gwreaderbin.h"
#include "gwsink.h"
#include "gwsourcebin.h"

/* What each row must say; the table is checked against this, and this
 * against RFC 3551 / RFC 6184 / RFC 7798 / RFC 7587. */
static const struct
{
  GwCodec codec;
  gboolean video;
  const gchar *media_type;
  const gchar *encoding_name;
  guint clock_rate;
  gint static_pt;
  guint default_pt;
  gboolean has_keyframes;
} expected[] = {
  { GW_CODEC_H264, TRUE, "video/x-h264", "H264", 90000, -1, 96, TRUE },
  { GW_CODEC_H265, TRUE, "video/x-h265", "H265", 90000, -1, 98, TRUE },
  { GW_CODEC_OPUS, FALSE, "audio/x-opus", "OPUS", 48000, -1, 111, FALSE },
  { GW_CODEC_PCMU, FALSE, "audio/x-mulaw", "PCMU", 8000, 0, 0, FALSE },
  { GW_CODEC_PCMA, FALSE, "audio/x-alaw", "PCMA", 8000, 8, 8, FALSE },
};

GST_START_TEST (test_every_row)
{
  fail_unless_equals_int (G_N_ELEMENTS (expected), GW_N_CODECS - 1);
  for (auto &e : expected) {
    const GwCodecInfo *info = gw_codec_info (e.codec);
    fail_unless (info != NULL, "no row for codec %d", e.codec);
    fail_unless_equals_int (info->codec, e.codec);
    fail_unless (info->name && *info->name);
    fail_unless_equals_int (info->video, e.video);
    fail_unless_equals_string (info->media_type, e.media_type);
    fail_unless_equals_string (info->encoding_name, e.encoding_name);
    fail_unless_equals_int (info->clock_rate, e.clock_rate);
    fail_unless_equals_int (info->static_pt, e.static_pt);
    fail_unless_equals_int (info->default_pt, e.default_pt);
    fail_unless_equals_int (info->has_keyframes, e.has_keyframes);
    /* A codec with keyframes says how to find them in the bytes. */
    fail_unless_equals_int (info->nal != NULL, e.has_keyframes);

    /* By the caps our parsed streams carry, and by their media type alone. */
    GstCaps *caps = gst_caps_from_string (info->caps);
    fail_unless (caps != NULL, "row caps do not parse: %s", info->caps);
    fail_unless (gw_codec_from_caps (caps) == info);
    fail_unless_equals_string (gst_structure_get_name (gst_caps_get_structure (caps, 0)),
                               e.media_type);
    gst_caps_unref (caps);
    caps = gst_caps_new_empty_simple (e.media_type);
    fail_unless (gw_codec_from_caps (caps) == info);
    fail_unless (gw_codec_from_rtp_caps (caps) == NULL, "elementary caps taken for RTP");
    gst_caps_unref (caps);

    /* By RTP caps, as rtspsrc gives them and as its select-stream does. */
    for (const gchar *name : { "application/x-rtp", "application/x-unknown" }) {
      caps = gst_caps_new_simple (name, "media", G_TYPE_STRING, e.video ? "video" : "audio",
                                  "encoding-name", G_TYPE_STRING, e.encoding_name, "clock-rate",
                                  G_TYPE_INT, (gint)e.clock_rate, NULL);
      fail_unless (gw_codec_from_rtp_caps (caps) == info, "%s %s", name, e.encoding_name);
      fail_unless (gw_codec_from_caps (caps) == NULL, "RTP caps taken for elementary");
      gst_caps_unref (caps);
    }

    /* By encoding name (any case) and clock rate; 0 is any rate. */
    fail_unless (gw_codec_from_encoding (e.encoding_name, e.clock_rate) == info);
    g_autofree gchar *lower = g_ascii_strdown (e.encoding_name, -1);
    fail_unless (gw_codec_from_encoding (lower, e.clock_rate) == info);
    fail_unless (gw_codec_from_encoding (e.encoding_name, 0) == info);
    fail_unless (gw_codec_from_encoding (e.encoding_name, e.clock_rate + 1) == NULL);

    /* By static payload type. */
    if (e.static_pt >= 0)
      fail_unless (gw_codec_from_static_pt ((guint)e.static_pt) == info);

    /* The stream format read from the row's caps. */
    GwStreamFormat f;
    caps = gst_caps_from_string (info->caps);
    fail_unless (gw_stream_format_from_caps (caps, &f));
    fail_unless_equals_int (f.codec, e.codec);
    fail_unless_equals_int (f.video, e.video);
    gst_caps_unref (caps);

    /* The elements the row names exist, with the properties it sets. */
    GstElement *depay = gw_codec_make_depayloader (info);
    fail_unless (depay != NULL, "no %s", info->depayloader);
    gst_object_unref (gst_object_ref_sink (depay));
    if (info->parser) {
      GstElement *parser = gw_codec_make_parser (info);
      fail_unless (parser != NULL, "no %s", info->parser);
      gst_object_unref (gst_object_ref_sink (parser));
    }
    /* Every video row names a decoder (snapshots), and it exists. */
    fail_unless (!info->video || info->decoder, "%s has no decoder", info->name);
    if (info->decoder) {
      fail_unless (info->decoder_package != NULL);
      GstElement *dec = gw_codec_make_decoder (info);
      fail_unless (dec != NULL, "no %s", info->decoder);
      gst_object_unref (gst_object_ref_sink (dec));
    }
    GstElement *pay = gw_codec_make_payloader (info, 101);
    fail_unless (pay != NULL, "no %s", info->payloader);
    guint pt = 0, mtu = 0;
    g_object_get (pay, "pt", &pt, "mtu", &mtu, NULL);
    fail_unless_equals_int (pt, 101);
    fail_unless_equals_int (mtu, GW_RTP_MTU);
    gst_object_unref (gst_object_ref_sink (pay));
  }
  fail_unless (gw_codec_info (GW_CODEC_NONE) == NULL);
  fail_unless (gw_codec_info (GW_N_CODECS) == NULL);
}
GST_END_TEST;

GST_START_TEST (test_h264_elements)
{
  /* Parameter sets (H.264 SPS/PPS, H.265 VPS/SPS/PPS) before every
   * keyframe, from the parser and the payloader; the payloader sends each
   * NAL unit as soon as it has it. */
  for (GwCodec c : { GW_CODEC_H264, GW_CODEC_H265 }) {
    const GwCodecInfo *info = gw_codec_info (c);
    GstElement *parser = gw_codec_make_parser (info);
    gint interval = 0;
    g_object_get (parser, "config-interval", &interval, NULL);
    fail_unless_equals_int (interval, -1);
    gst_object_unref (gst_object_ref_sink (parser));
    fail_unless (info->parse_inputs);

    GstElement *pay = gw_codec_make_payloader (info, 96);
    interval = 0;
    gint aggregate = -1;
    g_object_get (pay, "config-interval", &interval, "aggregate-mode", &aggregate, NULL);
    fail_unless_equals_int (interval, -1);
    fail_unless_equals_int (aggregate, 1); /* zero-latency */
    gst_object_unref (gst_object_ref_sink (pay));
  }

  /* Audio inputs of gwsink are not parsed again. */
  for (GwCodec c : { GW_CODEC_OPUS, GW_CODEC_PCMU, GW_CODEC_PCMA })
    fail_if (gw_codec_info (c)->parse_inputs);
}
GST_END_TEST;

GST_START_TEST (test_unknown_refused)
{
  const gchar *unknown_caps[] = {
    "video/x-vp8",
    "audio/mpeg, mpegversion=4",
    "video/x-raw",
    "application/x-rtp, media=video, encoding-name=VP8, clock-rate=90000",
    "application/x-rtp, media=video, clock-rate=90000", /* no encoding name */
    "application/x-unknown, media=audio, encoding-name=MPEG4-GENERIC, clock-rate=48000",
  };
  for (const gchar *text : unknown_caps) {
    GstCaps *caps = gst_caps_from_string (text);
    fail_unless (caps != NULL);
    fail_unless (gw_codec_from_caps (caps) == NULL, "%s taken", text);
    fail_unless (gw_codec_from_rtp_caps (caps) == NULL, "%s taken", text);
    GwStreamFormat f;
    fail_if (gw_stream_format_from_caps (caps, &f), "%s taken", text);
    fail_unless_equals_int (f.codec, GW_CODEC_NONE);
    gst_caps_unref (caps);
  }
  fail_unless (gw_codec_from_caps (NULL) == NULL);
  fail_unless (gw_codec_from_rtp_caps (NULL) == NULL);

  fail_unless (gw_codec_from_encoding ("VP8", 90000) == NULL);
  fail_unless (gw_codec_from_encoding ("H266", 0) == NULL);
  fail_unless (gw_codec_from_encoding ("H264X", 90000) == NULL);
  fail_unless (gw_codec_from_encoding ("", 0) == NULL);
  fail_unless (gw_codec_from_encoding (NULL, 0) == NULL);
  fail_unless (gw_codec_from_encoding ("OPUS", 8000) == NULL);
  fail_unless (gw_codec_from_encoding ("PCMU", 16000) == NULL);

  /* Static payload types the table has no row for (GSM, G722, dynamic). */
  for (guint pt : { 3u, 9u, 18u, 96u, 111u })
    fail_unless (gw_codec_from_static_pt (pt) == NULL, "pt %u taken", pt);
}
GST_END_TEST;

GST_START_TEST (test_template_caps)
{
  GstCaps *video = gw_codec_template_caps (TRUE);
  GstCaps *want = gst_caps_from_string (
      "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au; "
      "video/x-h265, stream-format=(string)byte-stream, alignment=(string)au");
  fail_unless (gst_caps_is_equal (video, want), "video template %" GST_PTR_FORMAT, video);
  gst_caps_unref (want);

  GstCaps *audio = gw_codec_template_caps (FALSE);
  want = gst_caps_from_string ("audio/x-opus; audio/x-mulaw; audio/x-alaw");
  fail_unless (gst_caps_is_equal (audio, want), "audio template %" GST_PTR_FORMAT, audio);
  gst_caps_unref (want);

  /* Every row's caps are in its kind's template, and in no other. */
  for (auto &e : expected) {
    GstCaps *caps = gst_caps_from_string (gw_codec_info (e.codec)->caps);
    fail_unless (gst_caps_is_subset (caps, e.video ? video : audio));
    fail_if (gst_caps_can_intersect (caps, e.video ? audio : video));
    gst_caps_unref (caps);
  }
  /* A parsed stream in another layout does not fit the video pads. */
  GstCaps *avc = gst_caps_from_string ("video/x-h264, stream-format=avc, alignment=au");
  fail_if (gst_caps_can_intersect (avc, video));
  gst_caps_unref (avc);
  GstCaps *hvc1 = gst_caps_from_string ("video/x-h265, stream-format=hvc1, alignment=au");
  fail_if (gst_caps_can_intersect (hvc1, video));
  gst_caps_unref (hvc1);
  gst_caps_unref (video);
  gst_caps_unref (audio);

  /* The pad templates built from them, and those of our elements. */
  for (int k = 0; k < 2; k++) {
    const gboolean is_video = k == 0;
    const gchar *name = is_video ? "video_%u" : "audio_%u";
    GstCaps *kind = gw_codec_template_caps (is_video);
    GstPadTemplate *templ = gw_codec_pad_template (is_video, GST_PAD_SINK, GST_PAD_REQUEST);
    gst_object_ref_sink (templ);
    fail_unless_equals_string (GST_PAD_TEMPLATE_NAME_TEMPLATE (templ), name);
    fail_unless_equals_int (GST_PAD_TEMPLATE_DIRECTION (templ), GST_PAD_SINK);
    fail_unless_equals_int (GST_PAD_TEMPLATE_PRESENCE (templ), GST_PAD_REQUEST);
    GstCaps *tcaps = gst_pad_template_get_caps (templ);
    fail_unless (gst_caps_is_equal (tcaps, kind));
    gst_caps_unref (tcaps);
    gst_object_unref (templ);

    for (GType type : { GW_TYPE_READER_BIN, GW_TYPE_SINK, GW_TYPE_SOURCE_BIN }) {
      GstElementClass *klass = GST_ELEMENT_CLASS (g_type_class_ref (type));
      GstPadTemplate *t = gst_element_class_get_pad_template (klass, name);
      fail_unless (t != NULL, "%s has no %s template", g_type_name (type), name);
      tcaps = gst_pad_template_get_caps (t);
      fail_unless (gst_caps_is_equal (tcaps, kind), "%s %s: %" GST_PTR_FORMAT, g_type_name (type),
                   name, tcaps);
      gst_caps_unref (tcaps);
      g_type_class_unref (klass);
    }
    gst_caps_unref (kind);
  }

  g_autofree gchar *names = gw_codec_names ("and");
  fail_unless_equals_string (names, "H.264, H.265, Opus, PCMU and PCMA");
  g_autofree gchar *all = gw_codec_describe_all ();
  fail_unless_equals_string (all,
                             "H.264 packetization-mode=1, H.265 tx-mode=SRST, Opus, PCMU or PCMA");
}
GST_END_TEST;

GST_START_TEST (test_keyframes)
{
  const GwCodecInfo *h264 = gw_codec_info (GW_CODEC_H264);
  /* SPS, PPS, IDR slice */
  const guint8 idr[] = { 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88 };
  /* AUD, non-IDR slice */
  const guint8 delta[] = { 0, 0, 0, 1, 0x09, 0x10, 0, 0, 1, 0x41, 0x9a, 0x33 };
  fail_unless (gw_codec_au_is_keyframe (h264, idr, sizeof (idr)));
  fail_if (gw_codec_au_is_keyframe (h264, delta, sizeof (delta)));
  fail_if (gw_codec_au_is_keyframe (h264, idr, 0));

  fail_unless_equals_int (gw_codec_nal_type (h264, idr + 4), 7);
  fail_unless_equals_int (gw_codec_nal_type (h264, idr + 9), 8);
  fail_unless_equals_int (gw_codec_nal_type (h264, idr + 15), 5);
  fail_unless (gw_codec_nal_is_parameter_set (h264, 7));
  fail_unless (gw_codec_nal_is_parameter_set (h264, 8));
  fail_if (gw_codec_nal_is_parameter_set (h264, 5));
  fail_unless (gw_codec_nal_is_keyframe (h264, 5));
  fail_if (gw_codec_nal_is_keyframe (h264, 1));
  fail_if (gw_codec_nal_is_keyframe (h264, 7));
  fail_if (gw_codec_nal_is_keyframe (h264, 200));

  /* From the parser's flag. */
  GstBuffer *buf = gst_buffer_new ();
  fail_unless (gw_codec_buffer_is_keyframe (h264, buf));
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  fail_if (gw_codec_buffer_is_keyframe (h264, buf));

  /* Audio has no keyframes: every frame starts a stream. */
  for (GwCodec c : { GW_CODEC_OPUS, GW_CODEC_PCMU, GW_CODEC_PCMA }) {
    const GwCodecInfo *info = gw_codec_info (c);
    fail_unless (gw_codec_buffer_is_keyframe (info, buf));
    fail_unless (gw_codec_au_is_keyframe (info, delta, sizeof (delta)));
    fail_if (gw_codec_nal_is_parameter_set (info, 7));
    fail_unless (gw_codec_au_is_sane (info, delta, 1));
  }
  gst_buffer_unref (buf);

  /* The H.264 check before the parser. */
  fail_unless (gw_codec_au_is_sane (h264, idr, sizeof (idr)));
  const guint8 forbidden[] = { 0, 0, 0, 1, 0xc1, 0x9a, 0x33 };
  fail_if (gw_codec_au_is_sane (h264, forbidden, sizeof (forbidden)));
  /* No start code first; a start code with nothing after it; an empty unit;
   * an end-of-stream unit longer than one byte (trailing zeros do not
   * count). */
  const guint8 no_start[] = { 0, 1, 0, 0, 1, 0x41, 0x9a };
  fail_if (gw_codec_au_is_sane (h264, no_start, sizeof (no_start)));
  const guint8 dangling[] = { 0, 0, 1, 0x41, 0x9a, 0, 0, 0, 1 };
  fail_if (gw_codec_au_is_sane (h264, dangling, sizeof (dangling)));
  const guint8 empty[] = { 0, 0, 1, 0, 0, 1, 0x41, 0x9a };
  fail_if (gw_codec_au_is_sane (h264, empty, sizeof (empty)));
  const guint8 eos_long[] = { 0, 0, 1, 0x41, 0x9a, 0, 0, 1, 0x0b, 0x01 };
  fail_if (gw_codec_au_is_sane (h264, eos_long, sizeof (eos_long)));
  const guint8 eos_zeros[] = { 0, 0, 1, 0x41, 0x9a, 0, 0, 1, 0x0b, 0, 0 };
  fail_unless (gw_codec_au_is_sane (h264, eos_zeros, sizeof (eos_zeros)));
}
GST_END_TEST;

/* An H.264 byte-stream access unit: a baseline SPS for 320x240 (NAL
 * header @header: 0x67 an SPS, 0x6f a subset SPS) whose frame_cropping
 * fields are @crop (left, right, top, bottom, in chroma samples; NULL: no
 * cropping), a PPS and an IDR slice. */
static std::vector<guint8>
h264_au_with_sps (const guint *crop, guint8 header = 0x67)
{
  std::vector<guint8> bits;
  auto put = [&bits] (guint v, guint n) {
    for (guint i = n; i > 0; i--)
      bits.push_back ((v >> (i - 1)) & 1);
  };
  auto put_ue = [&put] (guint v) {
    guint n = g_bit_storage (v + 1);
    put (0, n - 1);
    put (v + 1, n);
  };
  put (66, 8);   /* profile_idc: baseline */
  put (0xc0, 8); /* constraint flags */
  put (30, 8);   /* level_idc */
  put_ue (0);    /* seq_parameter_set_id */
  put_ue (0);    /* log2_max_frame_num_minus4 */
  put_ue (2);    /* pic_order_cnt_type */
  put_ue (1);    /* max_num_ref_frames */
  put (0, 1);    /* gaps_in_frame_num_value_allowed_flag */
  put_ue (19);   /* pic_width_in_mbs_minus1: 320 */
  put_ue (14);   /* pic_height_in_map_units_minus1: 240 */
  put (1, 1);    /* frame_mbs_only_flag */
  put (1, 1);    /* direct_8x8_inference_flag */
  put (crop != NULL, 1);
  for (guint i = 0; crop && i < 4; i++)
    put_ue (crop[i]);
  put (0, 1); /* vui_parameters_present_flag */
  put (1, 1); /* rbsp_stop_one_bit */
  while (bits.size () % 8)
    bits.push_back (0);

  std::vector<guint8> au = { 0, 0, 0, 1, header };
  guint zeros = 0;
  for (gsize i = 0; i < bits.size (); i += 8) {
    guint8 byte = 0;
    for (gsize j = 0; j < 8; j++)
      byte = (byte << 1) | bits[i + j];
    if (zeros >= 2 && byte <= 3) {
      au.push_back (3); /* emulation prevention */
      zeros = 0;
    }
    au.push_back (byte);
    zeros = byte == 0 ? zeros + 1 : 0;
  }
  for (guint8 b : { 0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21 })
    au.push_back (b);
  return au;
}

/* A camera sending garbage RTP makes SPS units of random bytes (a FU-A
 * start whose NAL type is 7 or 15); one that parses as a picture of negative
 * size, handed on, left the viewers' decoders refusing the format for good.
 * The check before the parser drops such an access unit; a sound SPS, with
 * or without cropping, and one that does not parse at all (the parser drops
 * that itself) pass. */
GST_START_TEST (test_garbage_sps)
{
  const GwCodecInfo *h264 = gw_codec_info (GW_CODEC_H264);
  std::vector<guint8> sound = h264_au_with_sps (NULL);
  fail_unless (gw_codec_au_is_sane (h264, sound.data (), sound.size ()));
  const guint crop_sound[] = { 4, 4, 0, 8 }; /* 304x224 */
  std::vector<guint8> cropped = h264_au_with_sps (crop_sound);
  fail_unless (gw_codec_au_is_sane (h264, cropped.data (), cropped.size ()));

  /* 320 - 2 * (100 + 69) = -18 wide, as a garbage SPS seen from a camera */
  const guint crop_negative[] = { 100, 69, 0, 0 };
  std::vector<guint8> negative = h264_au_with_sps (crop_negative);
  fail_if (gw_codec_au_is_sane (h264, negative.data (), negative.size ()));
  /* nothing left: 320 - 2 * 160 = 0 wide */
  const guint crop_all[] = { 80, 80, 0, 0 };
  std::vector<guint8> nothing = h264_au_with_sps (crop_all);
  fail_if (gw_codec_au_is_sane (h264, nothing.data (), nothing.size ()));
  /* only the height gone */
  const guint crop_height[] = { 0, 0, 60, 61 };
  std::vector<guint8> flat = h264_au_with_sps (crop_height);
  fail_if (gw_codec_au_is_sane (h264, flat.data (), flat.size ()));

  /* A subset SPS gives h264parse the stream's format as well. */
  std::vector<guint8> subset = h264_au_with_sps (crop_sound, 0x6f);
  fail_unless (gw_codec_au_is_sane (h264, subset.data (), subset.size ()));
  std::vector<guint8> subset_negative = h264_au_with_sps (crop_negative, 0x6f);
  fail_if (gw_codec_au_is_sane (h264, subset_negative.data (), subset_negative.size ()));

  /* The same impossible SPS in the middle of an access unit, after a sound
   * slice: the whole unit goes, as a lost packet would. */
  std::vector<guint8> mixed = { 0, 0, 0, 1, 0x41, 0x9a, 0x33 };
  mixed.insert (mixed.end (), negative.begin (), negative.end ());
  fail_if (gw_codec_au_is_sane (h264, mixed.data (), mixed.size ()));
}
GST_END_TEST;

static gboolean
buffer_equals (GstBuffer *buf, const guint8 *data, gsize size)
{
  return gst_buffer_get_size (buf) == size && gst_buffer_memcmp (buf, 0, data, size) == 0;
}

/* The NAL tools, driven by the H.264 row's syntax: the parameter sets kept
 * with their start codes, in the decoder's order, and put in front of a
 * keyframe that lacks them. */
GST_START_TEST (test_nal_tools)
{
  const GwNalSyntax *nal = gw_codec_info (GW_CODEC_H264)->nal;
  fail_unless (nal != NULL);
  fail_unless_equals_int (gw_nal_n_parameter_sets (nal), 2);
  fail_unless_equals_int (gw_nal_parameter_set_index (nal, 7), 0); /* SPS */
  fail_unless_equals_int (gw_nal_parameter_set_index (nal, 8), 1); /* PPS */
  fail_unless_equals_int (gw_nal_parameter_set_index (nal, 5), -1);
  fail_unless_equals_int (gw_nal_parameter_set_index (nal, 200), -1);
  fail_unless (gw_nal_is_delimiter (nal, 9));
  fail_if (gw_nal_is_delimiter (nal, 1));
  fail_unless_equals_int (gw_nal_n_parameter_sets (NULL), 0);
  fail_if (gw_nal_is_keyframe (NULL, 5));

  /* Split: trailing zeros belong to the next start code. */
  const guint8 idr[] = { 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88 };
  GwNals nals;
  gw_nal_split_annexb (idr, sizeof (idr), nals);
  fail_unless_equals_int (nals.size (), 3);
  fail_unless_equals_int (nals[0].first, 4);
  fail_unless_equals_int (nals[0].second, 2);
  fail_unless_equals_int (nals[1].first, 9);
  fail_unless_equals_int (nals[1].second, 2);
  fail_unless_equals_int (nals[2].first, 15);
  fail_unless_equals_int (nals[2].second, 2);
  fail_unless_equals_int (gw_nal_start_code_offset (idr, 4), 0);
  fail_unless_equals_int (gw_nal_start_code_offset (idr, 9), 6);

  GwParameterSets sets = {};
  GstBuffer *with_sets = gst_buffer_new_memdup (idr, sizeof (idr));
  fail_unless (gw_nal_keep_parameter_sets (nal, with_sets, &sets));
  const guint8 sps[] = { 0, 0, 0, 1, 0x67, 0x42 };
  const guint8 pps[] = { 0, 0, 1, 0x68, 0xce };
  fail_unless (buffer_equals (sets.sets[0], sps, sizeof (sps)));
  fail_unless (buffer_equals (sets.sets[1], pps, sizeof (pps)));
  /* It has its own: unchanged. */
  fail_unless (gw_nal_with_parameter_sets (nal, with_sets, TRUE, &sets) == with_sets);
  gst_buffer_unref (with_sets);

  /* A keyframe alone gets them in front, its metadata kept. */
  const guint8 alone[] = { 0, 0, 0, 1, 0x65, 0x88 };
  GstBuffer *key = gst_buffer_new_memdup (alone, sizeof (alone));
  GST_BUFFER_PTS (key) = 42;
  fail_if (gw_nal_keep_parameter_sets (nal, key, NULL));
  GstBuffer *whole = gw_nal_with_parameter_sets (nal, key, FALSE, &sets);
  const guint8 expected[] = { 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88 };
  fail_unless (buffer_equals (whole, expected, sizeof (expected)));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (whole), 42);
  gst_buffer_unref (whole);

  /* A set without the rest of its group (a stray PPS, as a corrupt camera
   * sends) does not replace the kept ones. */
  const guint8 stray[] = { 0, 0, 0, 1, 0x68, 0x53, 0, 0, 0, 1, 0x41, 0x9a };
  GstBuffer *stray_buf = gst_buffer_new_memdup (stray, sizeof (stray));
  gw_nal_keep_parameter_sets (nal, stray_buf, &sets);
  gst_buffer_unref (stray_buf);
  fail_unless (buffer_equals (sets.sets[1], pps, sizeof (pps)));

  /* A PPS alone does not make a keyframe self-contained: both go in front. */
  const guint8 pps_key[] = { 0, 0, 0, 1, 0x68, 0xcf, 0, 0, 0, 1, 0x65, 0x88 };
  key = gst_buffer_new_memdup (pps_key, sizeof (pps_key));
  fail_if (gw_nal_keep_parameter_sets (nal, key, NULL));
  whole = gw_nal_with_parameter_sets (nal, key, FALSE, &sets);
  fail_unless_equals_int (gst_buffer_get_size (whole),
                          sizeof (sps) + sizeof (pps) + sizeof (pps_key));
  gst_buffer_unref (whole);

  /* Without every set known, nothing goes in front. */
  GwParameterSets some = {};
  gw_parameter_sets_copy (&some, &sets);
  gst_clear_buffer (&some.sets[1]);
  key = gst_buffer_new_memdup (alone, sizeof (alone));
  fail_unless (gw_nal_with_parameter_sets (nal, key, FALSE, &some) == key);
  gst_buffer_unref (key);
  gw_parameter_sets_clear (&some);
  gw_parameter_sets_clear (&sets);
  fail_unless (sets.sets[0] == NULL && sets.sets[1] == NULL);

  /* The row's check: garbage is not kept. */
  fail_unless (nal->checker_new && nal->checker_accepts && nal->checker_free);
  gpointer checker = nal->checker_new ();
  const guint8 garbage[] = { 0, 0, 1, 0x67, 0xff };
  fail_if (nal->checker_accepts (checker, garbage, 3, 2));
  nal->checker_free (checker);
}
GST_END_TEST;

GST_START_TEST (test_fmtp)
{
  const gchar *fmtp = "level-asymmetry-allowed=1; Packetization-Mode=1 ;profile-level-id=42e01f";
  g_autofree gchar *mode = gw_fmtp_get (fmtp, "packetization-mode");
  fail_unless_equals_string (mode, "1");
  g_autofree gchar *plid = gw_fmtp_get (fmtp, "profile-level-id");
  fail_unless_equals_string (plid, "42e01f");
  fail_unless (gw_fmtp_get (fmtp, "level") == NULL);
  fail_unless (gw_fmtp_get (fmtp, "sprop") == NULL);
  fail_unless (gw_fmtp_get (NULL, "profile-level-id") == NULL);

  /* The H.264 rules: mode 1 only; the stream's profile first. */
  const GwSdpRules *rules = gw_codec_info (GW_CODEC_H264)->sdp;
  fail_unless (rules != NULL);
  GwStreamFormat f;
  GstCaps *caps = gst_caps_from_string ("video/x-h264, profile=main, level=(string)3.1");
  fail_unless (gw_stream_format_from_caps (caps, &f));
  gst_caps_unref (caps);
  fail_unless_equals_int (f.profile_idc, 0x4d);
  fail_unless_equals_int (f.level_idc, 31);
  gchar profile[GW_CODEC_PROFILE_LEN] = "";
  fail_unless_equals_int (
      rules->rank_offer (&f, "packetization-mode=0;profile-level-id=4d001f", profile), 0);
  fail_unless_equals_int (rules->rank_offer (&f, NULL, profile), 0);
  guint main_rank = rules->rank_offer (&f, "packetization-mode=1;profile-level-id=4d001f", profile);
  fail_unless_equals_string (profile, "4d001f");
  guint cb_rank = rules->rank_offer (&f, "packetization-mode=1;profile-level-id=42e01f", profile);
  fail_unless_equals_string (profile, "42e01f");
  fail_unless (main_rank > cb_rank && cb_rank > 0);

  /* Audio rows have no fmtp rules. */
  for (GwCodec c : { GW_CODEC_OPUS, GW_CODEC_PCMU, GW_CODEC_PCMA })
    fail_unless (gw_codec_info (c)->sdp == NULL);
}
GST_END_TEST;

/* Real H.265 parameter sets (Main, 64x64, level 2.1, as x265 makes them),
 * without start codes. */
static const guint8 H265_VPS[]
    = { 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
        0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0xba, 0x02, 0x40 };
static const guint8 H265_SPS[]
    = { 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0xa0, 0x20, 0x81, 0x05, 0x96, 0xe9,
        0x29, 0x30, 0xbf, 0xfc, 0x00, 0x04, 0x00, 0x05, 0xa8, 0x30, 0x30, 0x30,
        0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x01, 0xe1 };
static const guint8 H265_PPS[] = { 0x44, 0x01, 0xc0, 0x71, 0x81, 0x12 };

/* Appends a start code and @n bytes of @nal to @au. */
static void
append_nal (std::vector<guint8> &au, const guint8 *nal, gsize n)
{
  for (guint8 b : { 0, 0, 0, 1 })
    au.push_back (b);
  au.insert (au.end (), nal, nal + n);
}

/* The H.265 row: two-byte NAL headers, IRAP pictures (16..21) start a
 * keyframe, VPS, SPS and PPS are kept in that order and put in front of a
 * keyframe that lacks them; the check before the parser. */
GST_START_TEST (test_h265_nal)
{
  const GwCodecInfo *h265 = gw_codec_info (GW_CODEC_H265);
  const GwNalSyntax *nal = h265->nal;
  fail_unless (nal != NULL);

  /* Type from the first header byte: F, 6 type bits, the top bit of the
   * layer id. */
  const guint8 idr_w_radl[] = { 0x26, 0x01 };
  const guint8 trail_r[] = { 0x02, 0x01 };
  const guint8 layered_cra[] = { 0x2b, 0x09 }; /* CRA, layer id 33 */
  fail_unless_equals_int (gw_codec_nal_type (h265, idr_w_radl), 19);
  fail_unless_equals_int (gw_codec_nal_type (h265, trail_r), 1);
  fail_unless_equals_int (gw_codec_nal_type (h265, layered_cra), 21);
  fail_unless_equals_int (gw_codec_nal_type (h265, H265_VPS), 32);
  fail_unless_equals_int (gw_codec_nal_type (h265, H265_SPS), 33);
  fail_unless_equals_int (gw_codec_nal_type (h265, H265_PPS), 34);

  for (guint t = 0; t < 64; t++) {
    fail_unless (!gw_codec_nal_is_keyframe (h265, t) == !(t >= 16 && t <= 21), "type %u", t);
    fail_unless (!gw_codec_nal_is_parameter_set (h265, t) == !(t >= 32 && t <= 34), "type %u", t);
    fail_unless (!gw_nal_is_delimiter (nal, t) == !(t == 35), "type %u", t);
  }
  fail_unless_equals_int (gw_nal_n_parameter_sets (nal), 3);
  fail_unless_equals_int (gw_nal_parameter_set_index (nal, 32), 0);
  fail_unless_equals_int (gw_nal_parameter_set_index (nal, 33), 1);
  fail_unless_equals_int (gw_nal_parameter_set_index (nal, 34), 2);
  fail_unless_equals_int (gw_nal_parameter_set_index (nal, 19), -1);

  /* Access units: AUD, VPS, SPS, PPS, IDR; a CRA alone; a trailing picture. */
  std::vector<guint8> key;
  const guint8 aud[] = { 0x46, 0x01, 0x10 };
  append_nal (key, aud, sizeof (aud));
  append_nal (key, H265_VPS, sizeof (H265_VPS));
  append_nal (key, H265_SPS, sizeof (H265_SPS));
  append_nal (key, H265_PPS, sizeof (H265_PPS));
  const guint8 idr_slice[] = { 0x26, 0x01, 0xaf, 0x1d, 0x80 };
  append_nal (key, idr_slice, sizeof (idr_slice));
  fail_unless (gw_codec_au_is_keyframe (h265, key.data (), key.size ()));
  std::vector<guint8> cra;
  const guint8 cra_slice[] = { 0x2a, 0x01, 0xaf, 0x1d };
  append_nal (cra, cra_slice, sizeof (cra_slice));
  fail_unless (gw_codec_au_is_keyframe (h265, cra.data (), cra.size ()));
  std::vector<guint8> delta;
  const guint8 trail_slice[] = { 0x02, 0x01, 0xd0, 0x0c };
  append_nal (delta, trail_slice, sizeof (trail_slice));
  fail_if (gw_codec_au_is_keyframe (h265, delta.data (), delta.size ()));
  /* Not read as H.264: 0x26 would be type 6 (SEI) there, 0x02 type 2. */
  fail_if (gw_codec_au_is_keyframe (gw_codec_info (GW_CODEC_H264), key.data (), key.size ()));

  /* Parameter sets kept with their start codes, in the decoder's order,
   * and put in front of a keyframe without them. */
  GwParameterSets sets = {};
  GstBuffer *buf = gst_buffer_new_memdup (key.data (), key.size ());
  fail_unless (gw_nal_keep_parameter_sets (nal, buf, &sets));
  gst_buffer_unref (buf);
  for (guint i = 0; i < 3; i++)
    fail_unless (sets.sets[i] != NULL);
  fail_unless_equals_int (gst_buffer_get_size (sets.sets[0]), 4 + sizeof (H265_VPS));
  fail_unless_equals_int (gst_buffer_get_size (sets.sets[1]), 4 + sizeof (H265_SPS));
  fail_unless_equals_int (gst_buffer_get_size (sets.sets[2]), 4 + sizeof (H265_PPS));
  GstBuffer *alone = gst_buffer_new_memdup (cra.data (), cra.size ());
  fail_if (gw_nal_keep_parameter_sets (nal, alone, NULL));
  GstBuffer *whole = gw_nal_with_parameter_sets (nal, alone, FALSE, &sets);
  std::vector<guint8> want;
  append_nal (want, H265_VPS, sizeof (H265_VPS));
  append_nal (want, H265_SPS, sizeof (H265_SPS));
  append_nal (want, H265_PPS, sizeof (H265_PPS));
  want.insert (want.end (), cra.begin (), cra.end ());
  fail_unless (buffer_equals (whole, want.data (), want.size ()));
  gst_buffer_unref (whole);
  gw_parameter_sets_clear (&sets);

  /* The row's check keeps sets that parse, in their order (an SPS refers
   * to its VPS, a PPS to its SPS), and refuses garbage. */
  gpointer checker = nal->checker_new ();
  GwNals nals;
  gw_nal_split_annexb (key.data (), key.size (), nals);
  fail_unless_equals_int (nals.size (), 5);
  for (guint i = 1; i <= 3; i++)
    fail_unless (nal->checker_accepts (checker, key.data (), nals[i].first, nals[i].second),
                 "set %u refused", i);
  const guint8 garbage[] = { 0, 0, 1, 0x42, 0x01, 0xff, 0xff };
  fail_if (nal->checker_accepts (checker, garbage, 3, 4));
  fail_if (nal->checker_accepts (checker, key.data (), nals[4].first, nals[4].second));
  nal->checker_free (checker);

  /* The check before the parser: whole two-byte headers, forbidden bit
   * clear, temporal id not 0. */
  fail_unless (gw_codec_au_is_sane (h265, key.data (), key.size ()));
  const guint8 forbidden[] = { 0, 0, 0, 1, 0x82, 0x01, 0x33 };
  fail_if (gw_codec_au_is_sane (h265, forbidden, sizeof (forbidden)));
  const guint8 tid_zero[] = { 0, 0, 0, 1, 0x02, 0x00, 0x33 };
  fail_if (gw_codec_au_is_sane (h265, tid_zero, sizeof (tid_zero)));
  const guint8 half_header[] = { 0, 0, 1, 0x02, 0x01, 0x55, 0, 0, 1, 0x02 };
  fail_if (gw_codec_au_is_sane (h265, half_header, sizeof (half_header)));
  const guint8 no_start[] = { 0, 1, 0, 0, 1, 0x02, 0x01 };
  fail_if (gw_codec_au_is_sane (h265, no_start, sizeof (no_start)));
}
GST_END_TEST;

/* The H.265 SDP rules (RFC 7798): profile, tier and level from the caps;
 * offers ranked by profile-id, tier-flag and level-id; tx-mode SRST only;
 * the fields of the RTP caps we send. */
GST_START_TEST (test_h265_fmtp)
{
  const GwSdpRules *rules = gw_codec_info (GW_CODEC_H265)->sdp;
  fail_unless (rules != NULL);
  GwStreamFormat f;
  GstCaps *caps = gst_caps_from_string ("video/x-h265, stream-format=byte-stream, alignment=au, "
                                        "profile=main, tier=main, level=(string)2.1");
  fail_unless (gw_stream_format_from_caps (caps, &f));
  gst_caps_unref (caps);
  fail_unless_equals_int (f.codec, GW_CODEC_H265);
  fail_unless_equals_int (f.profile_idc, 1);
  fail_unless_equals_int (f.tier, 0);
  fail_unless_equals_int (f.level_idc, 63);

  gchar profile[GW_CODEC_PROFILE_LEN] = "";
  /* Nothing said: Main, Main tier, level 3.1, answered as offered. */
  guint dflt = rules->rank_offer (&f, NULL, profile);
  fail_unless_equals_string (profile, "1/0/93");
  guint exact
      = rules->rank_offer (&f, "level-id=90;profile-id=1;tier-flag=0;tx-mode=SRST", profile);
  fail_unless_equals_string (profile, "1/0/90");
  fail_unless_equals_int (exact, dflt);
  /* A lower level than the stream's: still ours to send, ranked lower,
   * answered with the offered level. */
  guint low = rules->rank_offer (&f, "profile-id=1;level-id=30", profile);
  fail_unless_equals_string (profile, "1/0/30");
  fail_unless (low > 0 && low < exact);
  /* A Main 10 decoder decodes Main. */
  guint main10 = rules->rank_offer (&f, "profile-id=2;level-id=93", profile);
  fail_unless_equals_string (profile, "2/0/93");
  fail_unless (main10 > 0 && main10 < exact);
  /* Refused: another profile, several RTP streams, numbers that are not. */
  fail_unless_equals_int (rules->rank_offer (&f, "profile-id=4", profile), 0);
  fail_unless_equals_int (rules->rank_offer (&f, "tx-mode=MRST", profile), 0);
  fail_unless_equals_int (rules->rank_offer (&f, "profile-id=main", profile), 0);
  fail_unless_equals_int (rules->rank_offer (&f, "level-id=999", profile), 0);

  /* general_profile_idc of h265parse's profile names (H.265 annex A). */
  const struct
  {
    const gchar *name;
    guint idc;
  } profiles[] = {
    { "main-still-picture", 3 },
    { "main-444", 4 },
    { "main-10-intra", 4 },
    { "monochrome-12", 4 },
    { "high-throughput-444", 5 },
    { "multiview-main", 6 },
    { "scalable-main-10", 7 },
    { "screen-extended-main", 9 },
    { "screen-extended-high-throughput-444", 11 },
    { "no-such-profile", 0 },
  };
  for (auto &p : profiles) {
    GwStreamFormat pf;
    GstCaps *pc = gst_caps_new_simple ("video/x-h265", "profile", G_TYPE_STRING, p.name, NULL);
    fail_unless (gw_stream_format_from_caps (pc, &pf));
    gst_caps_unref (pc);
    fail_unless (pf.profile_idc == p.idc, "%s: %u", p.name, pf.profile_idc);
  }

  /* A Main 10 stream needs a Main 10 decoder. */
  GwStreamFormat ten;
  caps = gst_caps_from_string ("video/x-h265, profile=main-10, tier=high, level=(string)5");
  fail_unless (gw_stream_format_from_caps (caps, &ten));
  gst_caps_unref (caps);
  fail_unless_equals_int (ten.profile_idc, 2);
  fail_unless_equals_int (ten.tier, 1);
  fail_unless_equals_int (ten.level_idc, 150);
  fail_unless_equals_int (rules->rank_offer (&ten, "profile-id=1", profile), 0);
  fail_unless (rules->rank_offer (&ten, "profile-id=2;tier-flag=1;level-id=150", profile) > 0);
  fail_unless_equals_string (profile, "2/1/150");

  /* The RTP caps: as offerer the stream's own, as answerer the choice. */
  GstStructure *rtp = gst_structure_new_empty ("application/x-rtp");
  rules->set_rtp_fields (&f, NULL, rtp);
  fail_unless_equals_string (gst_structure_get_string (rtp, "profile-id"), "1");
  fail_unless_equals_string (gst_structure_get_string (rtp, "tier-flag"), "0");
  fail_unless_equals_string (gst_structure_get_string (rtp, "level-id"), "63");
  fail_unless_equals_string (gst_structure_get_string (rtp, "tx-mode"), "SRST");
  rules->set_rtp_fields (&ten, "2/1/120", rtp);
  fail_unless_equals_string (gst_structure_get_string (rtp, "profile-id"), "2");
  fail_unless_equals_string (gst_structure_get_string (rtp, "tier-flag"), "1");
  fail_unless_equals_string (gst_structure_get_string (rtp, "level-id"), "120");
  /* Those are the fields a payloader is asked about without. */
  for (guint i = 0; i < (guint)gst_structure_n_fields (rtp); i++) {
    gboolean listed = FALSE;
    for (guint j = 0; rules->rtp_fields[j]; j++)
      listed |= g_str_equal (rules->rtp_fields[j], gst_structure_nth_field_name (rtp, i));
    fail_unless (listed, "%s not listed", gst_structure_nth_field_name (rtp, i));
  }
  gst_structure_free (rtp);
}
GST_END_TEST;

static Suite *
gwcodec_suite (void)
{
  Suite *s = suite_create ("gwcodec");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_every_row);
  tcase_add_test (tc, test_h264_elements);
  tcase_add_test (tc, test_unknown_refused);
  tcase_add_test (tc, test_template_caps);
  tcase_add_test (tc, test_keyframes);
  tcase_add_test (tc, test_garbage_sps);
  tcase_add_test (tc, test_nal_tools);
  tcase_add_test (tc, test_fmtp);
  tcase_add_test (tc, test_h265_nal);
  tcase_add_test (tc, test_h265_fmtp);
  return s;
}

GST_CHECK_MAIN (gwcodec);
