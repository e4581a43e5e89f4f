#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsdp.h"
#include "gwreaderbin.h"

#include <string.h>

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
  const GwCodecInfo *info = gw_codec_from_static_pt (pt);
  if (info) {
    *encoding = g_strdup (info->encoding_name);
    *clock_rate = info->clock_rate;
    return TRUE;
  }
  return FALSE;
}

/* The fmtp parameters of @pt in @media ("k=v;k=v", every a=fmtp line of
 * @pt joined), or NULL. */
static gchar *
media_pt_fmtp (const GstSDPMedia *media, guint pt)
{
  g_autofree gchar *prefix = g_strdup_printf ("%u ", pt);
  GString *joined = NULL;
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++) {
    const GstSDPAttribute *a = gst_sdp_media_get_attribute (media, i);
    if (g_strcmp0 (a->key, "fmtp") != 0 || !a->value || !g_str_has_prefix (a->value, prefix))
      continue;
    if (joined)
      g_string_append_c (joined, ';');
    else
      joined = g_string_new (NULL);
    g_string_append (joined, a->value + strlen (prefix));
  }
  return joined ? g_string_free (joined, FALSE) : NULL;
}

/* ---------------------------------------------------------------- BUNDLE */

/* The mids of the BUNDLE group of @sdp that lists @mid (or, when @mid is
 * NULL, of its @nth BUNDLE group); NULL when there is none. */
static GStrv
bundle_group (const GstSDPMessage *sdp, const gchar *mid, guint nth)
{
  guint seen = 0;
  for (guint i = 0; i < gst_sdp_message_attributes_len (sdp); i++) {
    const GstSDPAttribute *a = gst_sdp_message_get_attribute (sdp, i);
    if (g_strcmp0 (a->key, "group") != 0 || !a->value)
      continue;
    g_auto (GStrv) words = g_strsplit_set (a->value, " \t", -1);
    if (!words[0] || g_strcmp0 (words[0], "BUNDLE") != 0)
      continue;
    /* The mids, without the semantics and empty words. */
    GPtrArray *mids = g_ptr_array_new ();
    for (guint w = 1; words[w]; w++)
      if (*words[w])
        g_ptr_array_add (mids, g_strdup (words[w]));
    g_ptr_array_add (mids, NULL);
    GStrv group = (GStrv)g_ptr_array_free (mids, FALSE);
    gboolean match = mid ? g_strv_contains ((const gchar *const *)group, mid) : seen == nth;
    seen++;
    if (match && group[0])
      return group;
    g_strfreev (group);
  }
  return NULL;
}

static gint
media_index_of_mid (const GstSDPMessage *sdp, const gchar *mid)
{
  for (guint i = 0; i < gst_sdp_message_medias_len (sdp); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media (sdp, i);
    if (g_strcmp0 (gst_sdp_media_get_attribute_val (m, "mid"), mid) == 0)
      return (gint)i;
  }
  return -1;
}

static gboolean
media_has_attribute (const GstSDPMedia *media, const gchar *key)
{
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++)
    if (g_strcmp0 (gst_sdp_media_get_attribute (media, i)->key, key) == 0)
      return TRUE;
  return FALSE;
}

/* Removes every @key attribute of @media. Returns how many. */
static guint
media_remove_attributes (GstSDPMedia *media, const gchar *key)
{
  guint removed = 0;
  for (guint i = gst_sdp_media_attributes_len (media); i > 0; i--) {
    if (g_strcmp0 (gst_sdp_media_get_attribute (media, i - 1)->key, key) == 0) {
      gst_sdp_media_remove_attribute (media, i - 1);
      removed++;
    }
  }
  return removed;
}

/* Makes @media's @key attribute @value (NULL: none). TRUE if it changed. */
static gboolean
media_set_attribute (GstSDPMedia *media, const gchar *key, const gchar *value)
{
  const gchar *now = gst_sdp_media_get_attribute_val (media, key);
  guint count = 0;
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++)
    if (g_strcmp0 (gst_sdp_media_get_attribute (media, i)->key, key) == 0)
      count++;
  if (g_strcmp0 (now, value) == 0 && count <= 1)
    return FALSE;
  media_remove_attributes (media, key);
  if (value)
    gst_sdp_media_add_attribute (media, key, value);
  return TRUE;
}

gboolean
gw_sdp_media_is_bundle_only (const GstSDPMessage *sdp, guint index)
{
  if (index >= gst_sdp_message_medias_len (sdp))
    return FALSE;
  const GstSDPMedia *media = gst_sdp_message_get_media (sdp, index);
  const gchar *mid = gst_sdp_media_get_attribute_val (media, "mid");
  if (gst_sdp_media_get_port (media) != 0 || !mid || !media_has_attribute (media, "bundle-only"))
    return FALSE;
  g_auto (GStrv) group = bundle_group (sdp, mid, 0);
  return group != NULL;
}

guint
gw_sdp_normalize_bundle (GstSDPMessage *sdp)
{
  guint changed = 0;
  for (guint g = 0;; g++) {
    g_auto (GStrv) group = bundle_group (sdp, NULL, g);
    if (!group)
      break;
    /* The tagged m-line: the group's first mid (webrtcbin takes the
     * bundled transport's credentials from it too). */
    gint tag_index = media_index_of_mid (sdp, group[0]);
    if (tag_index < 0)
      continue;
    const GstSDPMedia *tag = gst_sdp_message_get_media (sdp, tag_index);
    const gchar *ufrag = gst_sdp_media_get_attribute_val (tag, "ice-ufrag");
    const gchar *pwd = gst_sdp_media_get_attribute_val (tag, "ice-pwd");
    const gchar *fingerprint = gst_sdp_media_get_attribute_val (tag, "fingerprint");
    const gchar *setup = gst_sdp_media_get_attribute_val (tag, "setup");
    for (guint w = 1; group[w]; w++) {
      gint index = media_index_of_mid (sdp, group[w]);
      if (index < 0 || index == tag_index)
        continue;
      GstSDPMedia *media = (GstSDPMedia *)gst_sdp_message_get_media (sdp, index);
      const gchar *own = gst_sdp_media_get_attribute_val (media, "ice-ufrag");
      gboolean other_agent = own && g_strcmp0 (own, ufrag) != 0;
      gboolean touched = FALSE;
      /* Copies first: @ufrag and friends point into the tag's attributes,
       * which setting another m-line's does not move. */
      touched |= media_set_attribute (media, "ice-ufrag", ufrag);
      touched |= media_set_attribute (media, "ice-pwd", pwd);
      if (fingerprint && !gst_sdp_media_get_attribute_val (media, "fingerprint")) {
        gst_sdp_media_add_attribute (media, "fingerprint", fingerprint);
        touched = TRUE;
      }
      if (setup && !gst_sdp_media_get_attribute_val (media, "setup")) {
        gst_sdp_media_add_attribute (media, "setup", setup);
        touched = TRUE;
      }
      /* Candidates of the agent the offerer drops once bundled. */
      if (other_agent) {
        media_remove_attributes (media, "candidate");
        media_remove_attributes (media, "end-of-candidates");
      }
      if (touched)
        changed++;
    }
  }
  return changed;
}

/* ---------------------------------------------------------------- choice */

gboolean
gw_sdp_media_receives (const GstSDPMessage *sdp, guint index)
{
  if (index >= gst_sdp_message_medias_len (sdp))
    return FALSE;
  const GstSDPMedia *media = gst_sdp_message_get_media (sdp, index);
  if (gst_sdp_media_get_port (media) == 0 && !gw_sdp_media_is_bundle_only (sdp, index))
    return FALSE;
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++) {
    const gchar *key = gst_sdp_media_get_attribute (media, i)->key;
    if (g_strcmp0 (key, "sendonly") == 0 || g_strcmp0 (key, "inactive") == 0)
      return FALSE;
  }
  return TRUE;
}

/* Score of payload type @pt of @media for @format: 0 = unusable, higher is
 * better (the codec's SDP rules rank it). Fills @profile for codecs with
 * rules. */
static guint
score_pt (const GstSDPMedia *media, guint pt, const GwStreamFormat *format, gchar *profile)
{
  g_autofree gchar *encoding = NULL;
  guint clock_rate = 0;
  if (!media_pt_encoding (media, pt, &encoding, &clock_rate))
    return 0;
  const GwCodecInfo *info = gw_codec_from_encoding (encoding, clock_rate);
  if (!info || info->codec != format->codec)
    return 0;
  if (!info->sdp || !info->sdp->rank_offer)
    return 1;
  g_autofree gchar *fmtp = media_pt_fmtp (media, pt);
  return info->sdp->rank_offer (format, fmtp, profile);
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
          || !gw_sdp_media_receives (offer, m))
        continue;
      guint best = 0;
      for (guint f = 0; f < gst_sdp_media_formats_len (media); f++) {
        const gchar *fmt = gst_sdp_media_get_format (media, f);
        gchar *end = NULL;
        guint64 pt = g_ascii_strtoull (fmt, &end, 10);
        if (!end || *end != '\0' || pt > 127)
          continue;
        gchar plid[GW_CODEC_PROFILE_LEN] = "";
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

gchar *
gw_sdp_describe_stream (const GwStreamFormat *format)
{
  const GwCodecInfo *info = gw_codec_info (format->codec);
  if (!info)
    return g_strdup ("an unknown codec");
  if (!info->sdp || !info->sdp->set_rtp_fields)
    return g_strdup (info->name);
  GstStructure *rtp = gst_structure_new_empty ("fields");
  info->sdp->set_rtp_fields (format, NULL, rtp);
  GString *s = g_string_new (info->name);
  for (gint i = 0; i < gst_structure_n_fields (rtp); i++) {
    const gchar *field = gst_structure_nth_field_name (rtp, i);
    const GValue *v = gst_structure_get_value (rtp, field);
    g_autofree gchar *value
        = G_VALUE_HOLDS_STRING (v) ? g_value_dup_string (v) : gst_value_serialize (v);
    g_string_append_printf (s, "%s%s=%s", i == 0 ? " (" : ";", field, value);
  }
  if (gst_structure_n_fields (rtp) > 0)
    g_string_append_c (s, ')');
  gst_structure_free (rtp);
  return g_string_free (s, FALSE);
}

gchar *
gw_sdp_describe_offer (const GstSDPMessage *offer, gboolean video)
{
  const gchar *kind = video ? "video" : "audio";
  GPtrArray *seen = g_ptr_array_new_with_free_func (g_free);
  for (guint m = 0; m < gst_sdp_message_medias_len (offer); m++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (offer, m);
    if (g_strcmp0 (gst_sdp_media_get_media (media), kind) != 0 || !gw_sdp_media_receives (offer, m))
      continue;
    for (guint f = 0; f < gst_sdp_media_formats_len (media); f++) {
      const gchar *fmt = gst_sdp_media_get_format (media, f);
      gchar *end = NULL;
      guint64 pt = g_ascii_strtoull (fmt, &end, 10);
      g_autofree gchar *encoding = NULL;
      guint clock_rate = 0;
      if (!end || *end != '\0' || pt > 127
          || !media_pt_encoding (media, (guint)pt, &encoding, &clock_rate))
        continue;
      /* The fmtp only where the codec's rules read it. */
      const GwCodecInfo *info = gw_codec_from_encoding (encoding, clock_rate);
      g_autofree gchar *fmtp
          = info && info->sdp && info->sdp->rank_offer ? media_pt_fmtp (media, (guint)pt) : NULL;
      gchar *entry = fmtp ? g_strdup_printf ("%s/%u (%s)", encoding, clock_rate, fmtp)
                          : g_strdup_printf ("%s/%u", encoding, clock_rate);
      gboolean dup = FALSE;
      for (guint i = 0; i < seen->len && !dup; i++)
        dup = g_strcmp0 ((const gchar *)g_ptr_array_index (seen, i), entry) == 0;
      if (dup)
        g_free (entry);
      else
        g_ptr_array_add (seen, entry);
    }
  }
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < seen->len; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", (const gchar *)g_ptr_array_index (seen, i));
  if (seen->len == 0)
    g_string_append (s, "none");
  g_ptr_array_unref (seen);
  return g_string_free (s, FALSE);
}

GstCaps *
gw_sdp_rtp_caps (const GwStreamFormat *format, guint pt, const gchar *profile_level_id)
{
  const GwCodecInfo *info = gw_codec_info (format->codec);
  if (!info)
    return NULL;
  GstCaps *caps = gst_caps_new_simple (
      "application/x-rtp", "media", G_TYPE_STRING, info->video ? "video" : "audio", "encoding-name",
      G_TYPE_STRING, info->encoding_name, "clock-rate", G_TYPE_INT, (gint)info->clock_rate,
      "payload", G_TYPE_INT, (gint)pt, NULL);
  if (info->sdp && info->sdp->set_rtp_fields)
    info->sdp->set_rtp_fields (format, profile_level_id, gst_caps_get_structure (caps, 0));
  return caps;
}

guint
gw_sdp_default_pt (const GwStreamFormat *format)
{
  const GwCodecInfo *info = gw_codec_info (format->codec);
  return info ? info->default_pt : 96;
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
  gw_sdp_normalize_bundle (msg);
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
