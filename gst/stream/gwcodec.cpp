/* The codec table: see gwcodec.h. The rows are at the bottom, after the
 * codec-specific rules they point to. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwcodec.h"
#include "gwnal.h"

#include <gst/codecparsers/gsth264parser.h>
#include <gst/codecparsers/gsth265parser.h>
#include <gst/pbutils/pbutils.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ H.264 */

/* profile name (as h264parse writes it in caps) -> profile_idc + constraint
 * flags byte of profile-level-id. */
static const struct
{
  const char *name;
  guint8 idc;
  guint8 constraints;
} h264_profiles[] = {
  { "constrained-baseline", 0x42, 0xe0 },
  { "baseline", 0x42, 0x00 },
  { "main", 0x4d, 0x00 },
  { "extended", 0x58, 0x00 },
  { "constrained-high", 0x64, 0x0c },
  { "high", 0x64, 0x00 },
  { "progressive-high", 0x64, 0x08 },
  { "high-10", 0x6e, 0x00 },
  { "high-4:2:2", 0x7a, 0x00 },
  { "high-4:4:4", 0xf4, 0x00 },
};

static void
h264_read_caps (const GstStructure *s, GwStreamFormat *out)
{
  const gchar *profile = gst_structure_get_string (s, "profile");
  for (guint i = 0; profile && i < G_N_ELEMENTS (h264_profiles); i++) {
    if (g_str_equal (profile, h264_profiles[i].name)) {
      out->profile_idc = h264_profiles[i].idc;
      out->constraints = h264_profiles[i].constraints;
      break;
    }
  }
  const gchar *level = gst_structure_get_string (s, "level");
  if (level)
    out->level_idc = gst_codec_utils_h264_get_level_idc (level);
}

/* RFC 6184: we send FU-A fragments, so packetization-mode=1 only. The
 * profile-level-id we answer with is the offered one; among the offered
 * ones, the stream's exact profile ranks first, then the same profile_idc,
 * then anything a constrained-baseline stream fits into, then any other:
 * decoders in browsers take every profile they list, the profile-level-id
 * only ranks our choice. */
static guint
h264_rank_offer (const GwStreamFormat *stream, const gchar *fmtp, gchar *profile)
{
  g_autofree gchar *mode = gw_fmtp_get (fmtp, "packetization-mode");
  if (!mode || !g_str_equal (mode, "1"))
    return 0;

  g_autofree gchar *offered = gw_fmtp_get (fmtp, "profile-level-id");
  guint32 v = 0x42e01f; /* RFC 6184 default is baseline; take CB */
  if (offered && strlen (offered) == 6) {
    gchar *end = NULL;
    guint64 parsed = g_ascii_strtoull (offered, &end, 16);
    if (end && *end == '\0')
      v = (guint32)parsed;
  }
  g_snprintf (profile, GW_CODEC_PROFILE_LEN, "%06x", v & 0xffffff);

  guint8 idc = v >> 16, constraints = (v >> 8) & 0xff;
  if (stream->profile_idc && idc == stream->profile_idc
      && (constraints & 0xfc) == (stream->constraints & 0xfc))
    return 4;
  if (stream->profile_idc && idc == stream->profile_idc)
    return 3;
  if (idc == 0x42 && (constraints & 0x40))
    return 2;
  return 1;
}

/* As answerer: the profile-level-id chosen from the offer. As offerer: the
 * stream's own profile and level (level 3.1 if unknown), or constrained
 * baseline 3.1 when the profile is unknown. */
static void
h264_set_rtp_fields (const GwStreamFormat *stream, const gchar *profile, GstStructure *rtp)
{
  g_autofree gchar *plid = NULL;
  if (profile)
    plid = g_strdup (profile);
  else if (stream->profile_idc)
    plid = g_strdup_printf ("%02x%02x%02x", stream->profile_idc, stream->constraints,
                            stream->level_idc ? stream->level_idc : 0x1f);
  else
    plid = g_strdup ("42e01f");
  gst_structure_set (rtp, "packetization-mode", G_TYPE_STRING, "1", "profile-level-id",
                     G_TYPE_STRING, plid, NULL);
}

static const gchar *const h264_rtp_fields[] = { "packetization-mode", "profile-level-id", NULL };

static const GwSdpRules h264_sdp = {
  .read_caps = h264_read_caps,
  .rank_offer = h264_rank_offer,
  .set_rtp_fields = h264_set_rtp_fields,
  .requirement = "packetization-mode=1",
  .rtp_fields = h264_rtp_fields,
};

/* A parameter set check: an SPS or PPS must parse (a PPS needs the SPS it
 * refers to, which the parser remembers). */
static gpointer
h264_checker_new (void)
{
  return gst_h264_nal_parser_new ();
}

static void
h264_checker_free (gpointer checker)
{
  gst_h264_nal_parser_free (static_cast<GstH264NalParser *> (checker));
}

static gboolean
h264_checker_accepts (gpointer checker, const guint8 *au, gsize nal, gsize len)
{
  GstH264NalParser *parser = static_cast<GstH264NalParser *> (checker);
  GstH264NalUnit nalu;
  /* identify_nalu wants the start code in front: nal - 3 holds it */
  if (nal < 3
      || gst_h264_parser_identify_nalu_unchecked (parser, au, nal - 3, nal + len, &nalu)
             != GST_H264_PARSER_OK)
    return FALSE;
  if (nalu.type == GST_H264_NAL_SPS) {
    GstH264SPS sps;
    if (gst_h264_parser_parse_sps (parser, &nalu, &sps) != GST_H264_PARSER_OK)
      return FALSE;
    gst_h264_sps_clear (&sps);
    return TRUE;
  }
  if (nalu.type == GST_H264_NAL_PPS) {
    GstH264PPS pps;
    if (gst_h264_parser_parse_pps (parser, &nalu, &pps) != GST_H264_PARSER_OK)
      return FALSE;
    gst_h264_pps_clear (&pps);
    return TRUE;
  }
  return FALSE;
}

/* ITU-T H.264 table 7-1. */
static const GwNalSyntax h264_nal = {
  .type_shift = 0,
  .type_mask = 0x1f,
  .keyframe_types = GW_NAL_BIT (5),                       /* IDR slice */
  .parameter_set_types = GW_NAL_BIT (7) | GW_NAL_BIT (8), /* SPS, PPS */
  .delimiter_types = GW_NAL_BIT (9),                      /* AUD */
  .checker_new = h264_checker_new,
  .checker_accepts = h264_checker_accepts,
  .checker_free = h264_checker_free,
};

/* ITU-T H.264 7.3.1: forbidden_zero_bit, nal_ref_idc, nal_unit_type. */
#define H264_FORBIDDEN_BIT 0x80
#define H264_NAL_END_OF_SEQUENCE 10
#define H264_NAL_END_OF_STREAM 11
#define H264_NAL_SPS 7
#define H264_NAL_SUBSET_SPS 15

/* Whether the SPS (or subset SPS, which h264parse takes for the stream's
 * format too) whose header is at @nal of @au (@len bytes) describes no
 * picture: it parses in full, but its size, once cropped, is zero or
 * negative or its crop window leaves the frame. Such an SPS is garbage (a
 * camera's random bytes that happen to parse): h264parse would take it for
 * the stream's new format and hand it on, and a viewer's decoder, told the
 * picture is -18x28, stops for good. An SPS that does not parse is left to
 * the parser, which drops it. */
static gboolean
h264_sps_is_impossible (const guint8 *au, gsize nal, gsize len)
{
  GstH264NalUnit nalu;
  if (nal < 3
      || gst_h264_parser_identify_nalu_unchecked (NULL, au, nal - 3, nal + len, &nalu)
             != GST_H264_PARSER_OK)
    return FALSE;
  GstH264SPS sps;
  GstH264ParserResult parsed = nalu.type == GST_H264_NAL_SUBSET_SPS
                                   ? gst_h264_parse_subset_sps (&nalu, &sps)
                                   : gst_h264_parse_sps (&nalu, &sps);
  if (parsed != GST_H264_PARSER_OK)
    return FALSE;
  gboolean impossible = sps.width <= 0 || sps.height <= 0;
  if (sps.frame_cropping_flag)
    impossible |= sps.crop_rect_width <= 0 || sps.crop_rect_height <= 0 || sps.crop_rect_x < 0
                  || sps.crop_rect_y < 0 || sps.crop_rect_x + sps.crop_rect_width > sps.width
                  || sps.crop_rect_y + sps.crop_rect_height > sps.height;
  gst_h264_sps_clear (&sps);
  return impossible;
}

/* Whether a depayloaded access unit is safe for h264parse (see
 * gw_codec_au_is_sane in gwcodec.h). */
static gboolean
h264_depayloaded_ok (const guint8 *d, gsize size)
{
  /* a start code first */
  if (size < 4 || d[0] != 0 || d[1] != 0 || !(d[2] == 1 || (d[2] == 0 && d[3] == 1)))
    return FALSE;
  GwNals nals;
  gw_nal_split_annexb (d, size, nals);
  if (nals.empty () || nals.back ().first + nals.back ().second != size)
    return FALSE; /* a start code and nothing after it */
  for (gsize i = 0; i < nals.size (); i++) {
    gsize nal = nals[i].first, end = nal + nals[i].second;
    if (i + 1 == nals.size ())
      while (end > nal && d[end - 1] == 0)
        end--; /* trailing zeros end the last unit too */
    if (end <= nal || (d[nal] & H264_FORBIDDEN_BIT))
      return FALSE; /* no header byte, or the forbidden bit set */
    guint type = gw_nal_type (&h264_nal, d + nal);
    if ((type == H264_NAL_END_OF_SEQUENCE || type == H264_NAL_END_OF_STREAM) && end - nal != 1)
      return FALSE; /* the parser takes these as one byte and loses sync */
    if ((type == H264_NAL_SPS || type == H264_NAL_SUBSET_SPS)
        && h264_sps_is_impossible (d, nal, end - nal))
      return FALSE; /* garbage that parses as a format */
  }
  return TRUE;
}

/* ------------------------------------------------------------------ H.265 */

/* ITU-T H.265 annex A: general_profile_idc of the profile names h265parse
 * writes in caps. The format range extensions profiles (monochrome, 4:2:2,
 * 4:4:4, 12 and 16 bit, intra) share 4; names not listed leave the profile
 * unknown. */
static guint8
h265_profile_idc (const gchar *name)
{
  static const struct
  {
    const char *name;
    guint8 idc;
  } exact[] = {
    { "main", 1 },           { "main-10", 2 },       { "main-still-picture", 3 },
    { "multiview-main", 6 }, { "scalable-main", 7 }, { "scalable-main-10", 7 },
    { "3d-main", 8 },
  };
  for (auto &p : exact)
    if (g_str_equal (name, p.name))
      return p.idc;
  if (g_str_has_prefix (name, "screen-extended-high-throughput-"))
    return 11;
  if (g_str_has_prefix (name, "screen-extended-"))
    return 9;
  if (g_str_has_prefix (name, "high-throughput-"))
    return 5;
  if (g_str_has_prefix (name, "monochrome") || g_str_has_prefix (name, "main-"))
    return 4;
  return 0;
}

static void
h265_read_caps (const GstStructure *s, GwStreamFormat *out)
{
  const gchar *profile = gst_structure_get_string (s, "profile");
  if (profile)
    out->profile_idc = h265_profile_idc (profile);
  const gchar *tier = gst_structure_get_string (s, "tier");
  out->tier = tier && g_str_equal (tier, "high") ? 1 : 0;
  const gchar *level = gst_structure_get_string (s, "level");
  if (level)
    out->level_idc = gst_codec_utils_h265_get_level_idc (level);
}

/* An fmtp number of @fmtp, or @dflt when absent; G_MAXUINT when present
 * but not a number below @limit. */
static guint
fmtp_uint (const gchar *fmtp, const gchar *key, guint dflt, guint limit)
{
  g_autofree gchar *v = gw_fmtp_get (fmtp, key);
  if (!v)
    return dflt;
  guint64 n = 0;
  if (!g_ascii_string_to_unsigned (v, 10, 0, limit - 1, &n, NULL))
    return G_MAXUINT;
  return (guint)n;
}

/* RFC 7798 section 7.1 defaults: Main profile, Main tier, level 3.1. */
#define H265_DEFAULT_PROFILE_ID 1
#define H265_DEFAULT_LEVEL_ID 93

/* Whether a decoder of profile @offered decodes a stream of profile
 * @stream (H.265 annex A: a Main 10 decoder decodes Main and Main Still
 * Picture streams, a Main decoder Main Still Picture ones). */
static gboolean
h265_profile_decodes (guint offered, guint stream)
{
  if (offered == stream)
    return TRUE;
  if (offered == 2)
    return stream == 1 || stream == 3;
  return offered == 1 && stream == 3;
}

/* RFC 7798: we send one RTP stream (tx-mode SRST) with no decoding order
 * numbers (sprop-max-don-diff 0), which every receiver takes. The offered
 * profile-id must decode the stream's profile (when the stream's is
 * known): a viewer that does not list it cannot decode it. Among those,
 * the stream's exact profile ranks first, and a tier and level at least
 * the stream's rank higher. profile-id, tier-flag and level-id are
 * answered as offered: profile and tier are symmetric (RFC 7798 7.2.2),
 * and webrtcbin keeps only the payload types whose fields equal ours. */
static guint
h265_rank_offer (const GwStreamFormat *stream, const gchar *fmtp, gchar *profile)
{
  g_autofree gchar *tx_mode = gw_fmtp_get (fmtp, "tx-mode");
  if (tx_mode && g_ascii_strcasecmp (tx_mode, "SRST") != 0)
    return 0;
  guint profile_id = fmtp_uint (fmtp, "profile-id", H265_DEFAULT_PROFILE_ID, 32);
  guint tier = fmtp_uint (fmtp, "tier-flag", 0, 2);
  guint level = fmtp_uint (fmtp, "level-id", H265_DEFAULT_LEVEL_ID, 256);
  if (profile_id == G_MAXUINT || tier == G_MAXUINT || level == G_MAXUINT)
    return 0;
  if (stream->profile_idc && !h265_profile_decodes (profile_id, stream->profile_idc))
    return 0;

  g_snprintf (profile, GW_CODEC_PROFILE_LEN, "%u/%u/%u", profile_id, tier, level);

  guint rank = stream->profile_idc == profile_id ? 3 : 1;
  if (tier > stream->tier || (tier == stream->tier && level >= stream->level_idc))
    rank++;
  return rank;
}

/* As answerer: what rank_offer chose. As offerer: the stream's own
 * profile, tier and level (Main, Main tier, 3.1 where unknown). Always
 * tx-mode=SRST. */
static void
h265_set_rtp_fields (const GwStreamFormat *stream, const gchar *profile, GstStructure *rtp)
{
  guint profile_id = stream->profile_idc ? stream->profile_idc : H265_DEFAULT_PROFILE_ID;
  guint tier = stream->tier;
  guint level = stream->level_idc ? stream->level_idc : H265_DEFAULT_LEVEL_ID;
  if (profile) {
    guint p = 0, t = 0, l = 0;
    if (sscanf (profile, "%u/%u/%u", &p, &t, &l) == 3) {
      profile_id = p;
      tier = t;
      level = l;
    }
  }
  g_autofree gchar *p = g_strdup_printf ("%u", profile_id);
  g_autofree gchar *t = g_strdup_printf ("%u", tier);
  g_autofree gchar *l = g_strdup_printf ("%u", level);
  gst_structure_set (rtp, "profile-id", G_TYPE_STRING, p, "tier-flag", G_TYPE_STRING, t, "level-id",
                     G_TYPE_STRING, l, "tx-mode", G_TYPE_STRING, "SRST", NULL);
}

static const gchar *const h265_rtp_fields[]
    = { "profile-id", "tier-flag", "level-id", "tx-mode", NULL };

static const GwSdpRules h265_sdp = {
  .read_caps = h265_read_caps,
  .rank_offer = h265_rank_offer,
  .set_rtp_fields = h265_set_rtp_fields,
  .requirement = "tx-mode=SRST",
  .rtp_fields = h265_rtp_fields,
};

/* A parameter set check: a VPS, SPS or PPS must parse (an SPS needs its
 * VPS, a PPS its SPS, which the parser remembers). */
static gpointer
h265_checker_new (void)
{
  return gst_h265_parser_new ();
}

static void
h265_checker_free (gpointer checker)
{
  gst_h265_parser_free (static_cast<GstH265Parser *> (checker));
}

static gboolean
h265_checker_accepts (gpointer checker, const guint8 *au, gsize nal, gsize len)
{
  GstH265Parser *parser = static_cast<GstH265Parser *> (checker);
  GstH265NalUnit nalu;
  /* identify_nalu wants the start code in front: nal - 3 holds it */
  if (nal < 3
      || gst_h265_parser_identify_nalu_unchecked (parser, au, nal - 3, nal + len, &nalu)
             != GST_H265_PARSER_OK)
    return FALSE;
  /* The parsed sets are large (scaling lists): not on the stack. */
  switch (nalu.type) {
  case GST_H265_NAL_VPS: {
    g_autofree GstH265VPS *vps = g_new0 (GstH265VPS, 1);
    return gst_h265_parser_parse_vps (parser, &nalu, vps) == GST_H265_PARSER_OK;
  }
  case GST_H265_NAL_SPS: {
    g_autofree GstH265SPS *sps = g_new0 (GstH265SPS, 1);
    return gst_h265_parser_parse_sps (parser, &nalu, sps, TRUE) == GST_H265_PARSER_OK;
  }
  case GST_H265_NAL_PPS: {
    g_autofree GstH265PPS *pps = g_new0 (GstH265PPS, 1);
    return gst_h265_parser_parse_pps (parser, &nalu, pps) == GST_H265_PARSER_OK;
  }
  default:
    return FALSE;
  }
}

/* ITU-T H.265 table 7-1. The header is two bytes: forbidden_zero_bit,
 * nal_unit_type (6 bits), nuh_layer_id (6), nuh_temporal_id_plus1 (3). */
static const GwNalSyntax h265_nal = {
  .type_shift = 1,
  .type_mask = 0x3f,
  /* IRAP pictures: BLA_W_LP .. CRA_NUT (16..21); decoding starts at one */
  .keyframe_types = GW_NAL_BIT (16) | GW_NAL_BIT (17) | GW_NAL_BIT (18) | GW_NAL_BIT (19)
                    | GW_NAL_BIT (20) | GW_NAL_BIT (21),
  .parameter_set_types = GW_NAL_BIT (32) | GW_NAL_BIT (33) | GW_NAL_BIT (34), /* VPS SPS PPS */
  .delimiter_types = GW_NAL_BIT (35),                                         /* AUD */
  .checker_new = h265_checker_new,
  .checker_accepts = h265_checker_accepts,
  .checker_free = h265_checker_free,
};

#define H265_FORBIDDEN_BIT 0x80
#define H265_TID_MASK 0x07

/* Whether a depayloaded H.265 access unit is safe for h265parse: a start
 * code first, then NAL units each with a whole two-byte header whose
 * forbidden bit is clear and whose temporal id is not the invalid 0 (what
 * random bytes from a broken camera give). */
static gboolean
h265_depayloaded_ok (const guint8 *d, gsize size)
{
  if (size < 4 || d[0] != 0 || d[1] != 0 || !(d[2] == 1 || (d[2] == 0 && d[3] == 1)))
    return FALSE;
  GwNals nals;
  gw_nal_split_annexb (d, size, nals);
  if (nals.empty () || nals.back ().first + nals.back ().second != size)
    return FALSE;
  for (auto &n : nals) {
    if (n.second < 2 || (d[n.first] & H265_FORBIDDEN_BIT) || (d[n.first + 1] & H265_TID_MASK) == 0)
      return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------------ table */

/* One row per codec, in the order of the pad templates' caps. Fields left
 * out are NULL/FALSE/0. */
static const GwCodecInfo codecs[] = {
  {
      .codec = GW_CODEC_H264,
      .name = "H.264",
      .video = TRUE,
      .media_type = "video/x-h264",
      .caps = "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au",
      .encoding_name = "H264",
      .clock_rate = 90000,
      .static_pt = -1,
      .default_pt = 96,
      .sdp = &h264_sdp,
      .depayloader = "rtph264depay",
      .parser = "h264parse",
      /* SPS and PPS before every keyframe, so that a viewer joining later
       * can decode from the next one. */
      .parser_props = "config-interval=-1",
      .parse_inputs = TRUE,
      .payloader = "rtph264pay",
      /* zero-latency: each NAL unit is sent as soon as it is complete. */
      .payloader_props = "config-interval=-1 aggregate-mode=zero-latency",
      .decoder = "avdec_h264",
      .decoder_package = "gstreamer1.0-libav",
      .depayloaded_ok = h264_depayloaded_ok,
      .has_keyframes = TRUE,
      .nal = &h264_nal,
  },
  {
      .codec = GW_CODEC_H265,
      .name = "H.265",
      .video = TRUE,
      .media_type = "video/x-h265",
      .caps = "video/x-h265, stream-format=(string)byte-stream, alignment=(string)au",
      .encoding_name = "H265",
      .clock_rate = 90000,
      .static_pt = -1,
      .default_pt = 98,
      .sdp = &h265_sdp,
      .depayloader = "rtph265depay",
      .parser = "h265parse",
      /* VPS, SPS and PPS before every keyframe. */
      .parser_props = "config-interval=-1",
      .parse_inputs = TRUE,
      .payloader = "rtph265pay",
      /* RFC 7798 aggregation packets for the parameter sets and what
       * follows them up to a slice; each slice sent as soon as complete. */
      .payloader_props = "config-interval=-1 aggregate-mode=zero-latency",
      .decoder = "avdec_h265",
      .decoder_package = "gstreamer1.0-libav",
      .depayloaded_ok = h265_depayloaded_ok,
      .has_keyframes = TRUE,
      .nal = &h265_nal,
  },
  {
      .codec = GW_CODEC_OPUS,
      .name = "Opus",
      .video = FALSE,
      .media_type = "audio/x-opus",
      .caps = "audio/x-opus",
      .encoding_name = "OPUS",
      .clock_rate = 48000,
      .static_pt = -1,
      .default_pt = 111,
      .depayloader = "rtpopusdepay",
      .parser = "opusparse",
      .payloader = "rtpopuspay",
  },
  {
      .codec = GW_CODEC_PCMU,
      .name = "PCMU",
      .video = FALSE,
      .media_type = "audio/x-mulaw",
      .caps = "audio/x-mulaw",
      .encoding_name = "PCMU",
      .clock_rate = 8000,
      .static_pt = 0,
      .default_pt = 0,
      .depayloader = "rtppcmudepay",
      .payloader = "rtppcmupay",
  },
  {
      .codec = GW_CODEC_PCMA,
      .name = "PCMA",
      .video = FALSE,
      .media_type = "audio/x-alaw",
      .caps = "audio/x-alaw",
      .encoding_name = "PCMA",
      .clock_rate = 8000,
      .static_pt = 8,
      .default_pt = 8,
      .depayloader = "rtppcmadepay",
      .payloader = "rtppcmapay",
  },
};

G_STATIC_ASSERT (G_N_ELEMENTS (codecs) == GW_N_CODECS - 1);

/* ---------------------------------------------------------------- lookups */

const GwCodecInfo *
gw_codec_info (GwCodec codec)
{
  for (const GwCodecInfo &c : codecs)
    if (c.codec == codec)
      return &c;
  return NULL;
}

static const GwCodecInfo *
from_media_type (const gchar *name)
{
  for (const GwCodecInfo &c : codecs)
    if (g_str_equal (name, c.media_type))
      return &c;
  return NULL;
}

const GwCodecInfo *
gw_codec_from_caps (const GstCaps *caps)
{
  if (!caps)
    return NULL;
  for (guint i = 0; i < gst_caps_get_size (caps); i++) {
    const GwCodecInfo *c
        = from_media_type (gst_structure_get_name (gst_caps_get_structure (caps, i)));
    if (c)
      return c;
  }
  return NULL;
}

const GwCodecInfo *
gw_codec_from_rtp_caps (const GstCaps *caps)
{
  if (!caps)
    return NULL;
  for (guint i = 0; i < gst_caps_get_size (caps); i++) {
    const GstStructure *s = gst_caps_get_structure (caps, i);
    const gchar *name = gst_structure_get_name (s);
    const gchar *enc = gst_structure_get_string (s, "encoding-name");
    if (!enc
        || !(g_str_equal (name, "application/x-rtp")
             || g_str_equal (name, "application/x-unknown")))
      continue;
    const GwCodecInfo *c = gw_codec_from_encoding (enc, 0);
    if (c)
      return c;
  }
  return NULL;
}

const GwCodecInfo *
gw_codec_from_encoding (const gchar *encoding_name, guint clock_rate)
{
  if (!encoding_name)
    return NULL;
  for (const GwCodecInfo &c : codecs)
    if (g_ascii_strcasecmp (encoding_name, c.encoding_name) == 0
        && (clock_rate == 0 || clock_rate == c.clock_rate))
      return &c;
  return NULL;
}

const GwCodecInfo *
gw_codec_from_static_pt (guint pt)
{
  for (const GwCodecInfo &c : codecs)
    if (c.static_pt >= 0 && (guint)c.static_pt == pt)
      return &c;
  return NULL;
}

GstCaps *
gw_codec_template_caps (gboolean video)
{
  GstCaps *caps = gst_caps_new_empty ();
  for (const GwCodecInfo &c : codecs)
    if (!c.video == !video)
      gst_caps_append (caps, gst_caps_from_string (c.caps));
  return caps;
}

GstPadTemplate *
gw_codec_pad_template (gboolean video, GstPadDirection direction, GstPadPresence presence)
{
  g_autoptr (GstCaps) caps = gw_codec_template_caps (video);
  return gst_pad_template_new (video ? "video_%u" : "audio_%u", direction, presence, caps);
}

static gchar *
list_codecs (const gchar *conjunction, gboolean requirements)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (codecs); i++) {
    if (i > 0 && i + 1 == G_N_ELEMENTS (codecs))
      g_string_append_printf (s, " %s ", conjunction);
    else if (i > 0)
      g_string_append (s, ", ");
    g_string_append (s, codecs[i].name);
    if (requirements && codecs[i].sdp && codecs[i].sdp->requirement)
      g_string_append_printf (s, " %s", codecs[i].sdp->requirement);
  }
  return g_string_free (s, FALSE);
}

gchar *
gw_codec_names (const gchar *conjunction)
{
  return list_codecs (conjunction, FALSE);
}

gchar *
gw_codec_describe_all (void)
{
  return list_codecs ("or", TRUE);
}

/* --------------------------------------------------------------- elements */

static GstElement *
make_element (const gchar *factory, const gchar *props)
{
  if (!factory)
    return NULL;
  GstElement *e = gst_element_factory_make (factory, NULL);
  if (!e || !props)
    return e;
  g_auto (GStrv) pairs = g_strsplit (props, " ", -1);
  for (guint i = 0; pairs[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (pairs[i], "=", 2);
    if (kv[0] && kv[1])
      gst_util_set_object_arg (G_OBJECT (e), kv[0], kv[1]);
  }
  return e;
}

GstElement *
gw_codec_make_depayloader (const GwCodecInfo *info)
{
  return info ? make_element (info->depayloader, NULL) : NULL;
}

GstElement *
gw_codec_make_parser (const GwCodecInfo *info)
{
  return info ? make_element (info->parser, info->parser_props) : NULL;
}

GstElement *
gw_codec_make_payloader (const GwCodecInfo *info, guint pt)
{
  GstElement *pay = info ? make_element (info->payloader, info->payloader_props) : NULL;
  if (pay)
    g_object_set (pay, "pt", pt, "mtu", (guint)GW_RTP_MTU, NULL);
  return pay;
}

GstElement *
gw_codec_make_decoder (const GwCodecInfo *info)
{
  return info ? make_element (info->decoder, NULL) : NULL;
}

/* ---------------------------------------------------------------- streams */

gboolean
gw_stream_format_from_caps (const GstCaps *caps, GwStreamFormat *out)
{
  memset (out, 0, sizeof (*out));
  if (!caps || gst_caps_get_size (caps) < 1)
    return FALSE;
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const GwCodecInfo *info = from_media_type (gst_structure_get_name (s));
  if (!info)
    return FALSE;
  out->codec = info->codec;
  out->video = info->video;
  if (info->sdp && info->sdp->read_caps)
    info->sdp->read_caps (s, out);
  return TRUE;
}

/* -------------------------------------------------------------- keyframes */

gboolean
gw_codec_buffer_is_keyframe (const GwCodecInfo *info, GstBuffer *buf)
{
  if (!info || !info->has_keyframes)
    return TRUE;
  return !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
}

guint
gw_codec_nal_type (const GwCodecInfo *info, const guint8 *nal)
{
  return info ? gw_nal_type (info->nal, nal) : 0;
}

gboolean
gw_codec_nal_is_keyframe (const GwCodecInfo *info, guint type)
{
  return info && gw_nal_is_keyframe (info->nal, type);
}

gboolean
gw_codec_nal_is_parameter_set (const GwCodecInfo *info, guint type)
{
  return info && gw_nal_is_parameter_set (info->nal, type);
}

gboolean
gw_codec_au_is_keyframe (const GwCodecInfo *info, const guint8 *data, gsize size)
{
  if (!info || !info->has_keyframes)
    return TRUE;
  if (!info->nal)
    return FALSE;
  GwNals nals;
  gw_nal_split_annexb (data, size, nals);
  for (auto &n : nals)
    if (n.second > 0 && gw_codec_nal_is_keyframe (info, gw_codec_nal_type (info, data + n.first)))
      return TRUE;
  return FALSE;
}

gboolean
gw_codec_au_is_sane (const GwCodecInfo *info, const guint8 *data, gsize size)
{
  return !info || !info->depayloaded_ok || info->depayloaded_ok (data, size);
}

/* ------------------------------------------------------------------- SDP */

gchar *
gw_fmtp_get (const gchar *fmtp, const gchar *key)
{
  if (!fmtp || !key)
    return NULL;
  gsize klen = strlen (key);
  g_auto (GStrv) params = g_strsplit (fmtp, ";", -1);
  for (guint i = 0; params[i]; i++) {
    gchar *p = g_strstrip (params[i]);
    if (g_ascii_strncasecmp (p, key, klen) == 0 && p[klen] == '=')
      return g_strstrip (g_strdup (p + klen + 1));
  }
  return NULL;
}
