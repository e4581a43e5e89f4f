#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsdp.h"
#include "gwreaderbin.h"

#include <gst/pbutils/pbutils.h>
#include <string.h>

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

gboolean
gw_stream_format_from_caps (const GstCaps *caps, GwStreamFormat *out)
{
  memset (out, 0, sizeof (*out));
  if (!caps || gst_caps_get_size (caps) < 1)
    return FALSE;

  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const gchar *name = gst_structure_get_name (s);

  if (g_str_equal (name, "video/x-h264")) {
    out->codec = GW_CODEC_H264;
    out->video = TRUE;
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
    return TRUE;
  }
  if (g_str_equal (name, "audio/x-opus"))
    out->codec = GW_CODEC_OPUS;
  else if (g_str_equal (name, "audio/x-mulaw"))
    out->codec = GW_CODEC_PCMU;
  else if (g_str_equal (name, "audio/x-alaw"))
    out->codec = GW_CODEC_PCMA;
  else
    return FALSE;
  return TRUE;
}

/* The encoding name / clock rate a payload type of @media stands for, from its
 * rtpmap or, for static types, RFC 3551. */
static gboolean
media_pt_encoding (const GstSDPMedia *media, guint pt, gchar **encoding, guint *clock_rate)
{
  g_autofree gchar *prefix = g_strdup_printf ("%u ", pt);
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++) {
    const GstSDPAttribute *a = gst_sdp_media_get_attribute (media, i);
    if (g_strcmp0 (a->key, "rtpmap") != 0 || !a->value || !g_str_has_prefix (a->value, prefix))
      continue;
    const gchar *rest = a->value + strlen (prefix);
    while (*rest == ' ')
      rest++;
    g_auto (GStrv) parts = g_strsplit (rest, "/", 3);
    if (!parts[0] || !parts[1])
      return FALSE;
    *encoding = g_ascii_strup (parts[0], -1);
    *clock_rate = (guint)g_ascii_strtoull (parts[1], NULL, 10);
    return TRUE;
  }
  if (pt == 0 || pt == 8) {
    *encoding = g_strdup (pt == 0 ? "PCMU" : "PCMA");
    *clock_rate = 8000;
    return TRUE;
  }
  return FALSE;
}

/* The fmtp parameter @key of @pt in @media, or NULL. */
static gchar *
media_pt_fmtp (const GstSDPMedia *media, guint pt, const gchar *key)
{
  g_autofree gchar *prefix = g_strdup_printf ("%u ", pt);
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++) {
    const GstSDPAttribute *a = gst_sdp_media_get_attribute (media, i);
    if (g_strcmp0 (a->key, "fmtp") != 0 || !a->value || !g_str_has_prefix (a->value, prefix))
      continue;
    g_auto (GStrv) params = g_strsplit (a->value + strlen (prefix), ";", -1);
    for (guint j = 0; params[j]; j++) {
      gchar *p = g_strstrip (params[j]);
      gsize klen = strlen (key);
      if (g_ascii_strncasecmp (p, key, klen) == 0 && p[klen] == '=')
        return g_strdup (p + klen + 1);
    }
  }
  return NULL;
}

/* Whether the remote side of @media wants to receive (the offer's direction is
 * sendrecv or recvonly; no attribute means sendrecv). */
static gboolean
media_receives (const GstSDPMedia *media)
{
  if (gst_sdp_media_get_port (media) == 0)
    return FALSE;
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++) {
    const gchar *key = gst_sdp_media_get_attribute (media, i)->key;
    if (g_strcmp0 (key, "sendonly") == 0 || g_strcmp0 (key, "inactive") == 0)
      return FALSE;
  }
  return TRUE;
}

/* Score of payload type @pt of @media for @format: 0 = unusable, higher is
 * better. Fills @plid for H.264. */
static guint
score_pt (const GstSDPMedia *media, guint pt, const GwStreamFormat *format, gchar plid[7])
{
  g_autofree gchar *encoding = NULL;
  guint clock_rate = 0;
  if (!media_pt_encoding (media, pt, &encoding, &clock_rate))
    return 0;

  switch (format->codec) {
  case GW_CODEC_OPUS:
    return (g_str_equal (encoding, "OPUS") && clock_rate == 48000) ? 1 : 0;
  case GW_CODEC_PCMU:
    return (g_str_equal (encoding, "PCMU") && clock_rate == 8000) ? 1 : 0;
  case GW_CODEC_PCMA:
    return (g_str_equal (encoding, "PCMA") && clock_rate == 8000) ? 1 : 0;
  case GW_CODEC_H264:
    break;
  default:
    return 0;
  }

  if (!g_str_equal (encoding, "H264") || clock_rate != 90000)
    return 0;
  g_autofree gchar *mode = media_pt_fmtp (media, pt, "packetization-mode");
  if (!mode || !g_str_equal (g_strstrip (mode), "1"))
    return 0; /* we send FU-A fragments: mode 1 only */

  g_autofree gchar *offered = media_pt_fmtp (media, pt, "profile-level-id");
  guint32 v = 0x42e01f; /* RFC 6184 default is baseline; take CB */
  if (offered && strlen (g_strstrip (offered)) == 6) {
    gchar *end = NULL;
    guint64 parsed = g_ascii_strtoull (offered, &end, 16);
    if (end && *end == '\0')
      v = (guint32)parsed;
  }
  g_snprintf (plid, 7, "%06x", v & 0xffffff);

  guint8 idc = v >> 16, constraints = (v >> 8) & 0xff;
  /* Exact profile match first, then anything a constrained-baseline stream
   * fits into, then any H.264 with mode 1: decoders in browsers take every
   * profile they list, the profile-level-id only ranks our choice. */
  if (format->profile_idc && idc == format->profile_idc
      && (constraints & 0xfc) == (format->constraints & 0xfc))
    return 4;
  if (format->profile_idc && idc == format->profile_idc)
    return 3;
  if (idc == 0x42 && (constraints & 0x40))
    return 2;
  return 1;
}

guint
gw_sdp_choose (const GstSDPMessage *offer, const GwStreamFormat *streams, guint n_streams,
               GwOfferChoice *choices, gboolean *chosen)
{
  guint n_medias = gst_sdp_message_medias_len (offer);
  g_autofree gboolean *used = g_new0 (gboolean, MAX (n_medias, 1));
  guint placed = 0;

  for (guint s = 0; s < n_streams; s++) {
    chosen[s] = FALSE;
    const gchar *kind = streams[s].video ? "video" : "audio";
    for (guint m = 0; m < n_medias && !chosen[s]; m++) {
      const GstSDPMedia *media = gst_sdp_message_get_media (offer, m);
      if (used[m] || g_strcmp0 (gst_sdp_media_get_media (media), kind) != 0
          || !media_receives (media))
        continue;
      guint best = 0;
      for (guint f = 0; f < gst_sdp_media_formats_len (media); f++) {
        const gchar *fmt = gst_sdp_media_get_format (media, f);
        gchar *end = NULL;
        guint64 pt = g_ascii_strtoull (fmt, &end, 10);
        if (!end || *end != '\0' || pt > 127)
          continue;
        gchar plid[7] = "";
        guint score = score_pt (media, (guint)pt, &streams[s], plid);
        if (score > best) {
          best = score;
          choices[s].mline = m;
          choices[s].pt = (guint)pt;
          memcpy (choices[s].profile_level_id, plid, sizeof (plid));
        }
      }
      if (best > 0) {
        used[m] = TRUE;
        chosen[s] = TRUE;
        placed++;
      }
    }
  }
  return placed;
}

GstCaps *
gw_sdp_rtp_caps (const GwStreamFormat *format, guint pt, const gchar *profile_level_id)
{
  switch (format->codec) {
  case GW_CODEC_H264: {
    g_autofree gchar *plid = NULL;
    if (profile_level_id)
      plid = g_strdup (profile_level_id);
    else if (format->profile_idc)
      plid = g_strdup_printf ("%02x%02x%02x", format->profile_idc, format->constraints,
                              format->level_idc ? format->level_idc : 0x1f);
    else
      plid = g_strdup ("42e01f");
    return gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING, "video",
                                "encoding-name", G_TYPE_STRING, "H264", "clock-rate", G_TYPE_INT,
                                90000, "payload", G_TYPE_INT, (gint)pt, "packetization-mode",
                                G_TYPE_STRING, "1", "profile-level-id", G_TYPE_STRING, plid, NULL);
  }
  case GW_CODEC_OPUS:
    return gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING, "audio",
                                "encoding-name", G_TYPE_STRING, "OPUS", "clock-rate", G_TYPE_INT,
                                48000, "payload", G_TYPE_INT, (gint)pt, NULL);
  case GW_CODEC_PCMU:
  case GW_CODEC_PCMA:
    return gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING, "audio",
                                "encoding-name", G_TYPE_STRING,
                                format->codec == GW_CODEC_PCMU ? "PCMU" : "PCMA", "clock-rate",
                                G_TYPE_INT, 8000, "payload", G_TYPE_INT, (gint)pt, NULL);
  default:
    return NULL;
  }
}

guint
gw_sdp_default_pt (const GwStreamFormat *format)
{
  switch (format->codec) {
  case GW_CODEC_H264:
    return 96;
  case GW_CODEC_OPUS:
    return 111;
  case GW_CODEC_PCMU:
    return 0;
  case GW_CODEC_PCMA:
    return 8;
  default:
    return 96;
  }
}

GstSDPMessage *
gw_sdp_parse (const gchar *text, GError **error)
{
  if (!text || !*text) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_BAD_SDP, "empty SDP");
    return NULL;
  }
  /* A session description starts with its version line. */
  const gchar *p = text;
  while (*p == '\r' || *p == '\n' || *p == ' ')
    p++;
  if (!g_str_has_prefix (p, "v=0")) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_BAD_SDP,
                 "not an SDP session description (no v=0 line)");
    return NULL;
  }
  GstSDPMessage *msg = NULL;
  gst_sdp_message_new (&msg);
  if (gst_sdp_message_parse_buffer ((const guint8 *)text, strlen (text), msg) != GST_SDP_OK) {
    gst_sdp_message_free (msg);
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_BAD_SDP, "unparsable SDP");
    return NULL;
  }
  if (gst_sdp_message_medias_len (msg) == 0) {
    gst_sdp_message_free (msg);
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_BAD_SDP, "SDP has no media (m=) line");
    return NULL;
  }
  for (guint i = 0; i < gst_sdp_message_medias_len (msg); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media (msg, i);
    if (!gst_sdp_media_get_media (m) || !gst_sdp_media_get_proto (m)) {
      gst_sdp_message_free (msg);
      g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_BAD_SDP, "m-line %u is incomplete", i);
      return NULL;
    }
    /* webrtcbin needs ICE credentials and a DTLS fingerprint per media or at
     * session level; reject early with a clear reason. */
    if (!gst_sdp_media_get_attribute_val (m, "ice-ufrag")
        && !gst_sdp_message_get_attribute_val (msg, "ice-ufrag")) {
      gst_sdp_message_free (msg);
      g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_BAD_SDP,
                   "m-line %u has no ICE credentials (a=ice-ufrag)", i);
      return NULL;
    }
    if (!gst_sdp_media_get_attribute_val (m, "fingerprint")
        && !gst_sdp_message_get_attribute_val (msg, "fingerprint")) {
      gst_sdp_message_free (msg);
      g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_BAD_SDP,
                   "m-line %u has no DTLS fingerprint (a=fingerprint)", i);
      return NULL;
    }
  }
  return msg;
}
