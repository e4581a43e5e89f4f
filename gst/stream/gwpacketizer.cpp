/* GwPacketizer: see gwpacketizer.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwpacketizer.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gw_packetizer_debug);
#define GST_CAT_DEFAULT gw_packetizer_debug

GwPacketizer::GwPacketizer ()
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_packetizer_debug, "gwpacketizer", 0, "gw RTP packetizer");
    g_once_init_leave (&once, 1);
  }
  parser_ = gst_h264_nal_parser_new ();
}

GwPacketizer::~GwPacketizer () { gst_h264_nal_parser_free (parser_); }

gboolean
GwPacketizer::set_caps (GstCaps *caps)
{
  const GstStructure *st = gst_caps_get_structure (caps, 0);
  const gchar *name = gst_structure_get_name (st);
  codec_ = Codec::NONE;
  clock_rate_ = 0;
  if (g_str_equal (name, "video/x-h264")) {
    codec_ = Codec::H264;
    clock_rate_ = 90000;
  } else if (g_str_equal (name, "audio/x-opus")) {
    codec_ = Codec::OPUS;
    clock_rate_ = 48000;
  } else if (g_str_equal (name, "audio/x-mulaw")) {
    codec_ = Codec::PCMU;
    clock_rate_ = 8000;
  } else if (g_str_equal (name, "audio/x-alaw")) {
    codec_ = Codec::PCMA;
    clock_rate_ = 8000;
  }
  nals_.clear ();
  return ready ();
}

gboolean
GwPacketizer::starts_stream (GstBuffer *buf) const
{
  return codec_ != Codec::H264 || !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
}

void
GwPacketizer::add_packet (const guint8 *a, gsize alen, const guint8 *b, gsize blen)
{
  GwRtpPacket p;
  p.offset = arena_.size ();
  p.size = GW_RTP_HEADER + alen + blen;
  p.marker = FALSE;
  arena_.resize (p.offset + p.size);
  guint8 *d = arena_.data () + p.offset + GW_RTP_HEADER;
  if (alen)
    memcpy (d, a, alen);
  if (blen)
    memcpy (d + alen, b, blen);
  packets_.push_back (p);
}

/* One NAL unit (no start code): a single-NAL packet, or FU-A fragments. */
void
GwPacketizer::packetize_h264_nal (const guint8 *nal, gsize len)
{
  const gsize room = GW_RTP_MTU - GW_RTP_HEADER;
  if (len == 0)
    return;
  if (len <= room) {
    add_packet (nal, len, NULL, 0);
    return;
  }
  guint8 fu[2];
  fu[0] = (nal[0] & 0xe0) | GW_H264_NAL_FU_A;
  const guint8 type = gw_h264_nal_type (nal[0]);
  gsize off = 1;
  while (off < len) {
    gsize chunk = MIN (room - 2, len - off);
    fu[1] = type | (off == 1 ? 0x80 : 0) | (off + chunk == len ? 0x40 : 0);
    add_packet (fu, 2, nal + off, chunk);
    off += chunk;
  }
}

/* Remembers the stream's last SPS and PPS, for a keyframe without them:
 * only ones that parse, so that a camera sending garbage cannot leave every
 * later keyframe with broken parameter sets in front. */
void
GwPacketizer::keep_parameter_sets (const guint8 *d, const GwNals &nals)
{
  for (auto &n : nals) {
    guint type = gw_h264_nal_type (d[n.first]);
    if (type != GW_H264_NAL_SPS && type != GW_H264_NAL_PPS)
      continue;
    GstH264NalUnit nalu;
    /* identify_nalu wants the start code in front: n.first - 3 holds it */
    if (n.first < 3
        || gst_h264_parser_identify_nalu_unchecked (parser_, d, n.first - 3, n.first + n.second,
                                                    &nalu)
               != GST_H264_PARSER_OK)
      continue;
    gboolean ok;
    if (type == GW_H264_NAL_SPS) {
      GstH264SPS sps;
      ok = gst_h264_parser_parse_sps (parser_, &nalu, &sps) == GST_H264_PARSER_OK;
      if (ok)
        gst_h264_sps_clear (&sps);
    } else {
      GstH264PPS pps;
      ok = gst_h264_parser_parse_pps (parser_, &nalu, &pps) == GST_H264_PARSER_OK;
      if (ok)
        gst_h264_pps_clear (&pps);
    }
    if (!ok) {
      GST_DEBUG ("ignoring a %s that does not parse", type == GW_H264_NAL_SPS ? "SPS" : "PPS");
      continue;
    }
    (type == GW_H264_NAL_SPS ? sps_ : pps_).assign (d + n.first, d + n.first + n.second);
  }
}

void
GwPacketizer::observe (GstBuffer *buf)
{
  nals_.clear ();
  if (codec_ != Codec::H264)
    return;
  /* One scan of the access unit serves the parameter sets and the
   * packetizing. */
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return;
  gw_nal_split_annexb (map.data, map.size, nals_);
  keep_parameter_sets (map.data, nals_);
  gst_buffer_unmap (buf, &map);
}

gboolean
GwPacketizer::packetize (GstBuffer *buf, gboolean observed)
{
  arena_.clear ();
  packets_.clear ();
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return FALSE;

  if (codec_ == Codec::H264) {
    GwNals own;
    const GwNals *nals = &nals_;
    if (!observed) {
      gw_nal_split_annexb (map.data, map.size, own);
      nals = &own;
    }
    gboolean has_sps = FALSE, has_idr = FALSE;
    for (auto &n : *nals) {
      guint type = gw_h264_nal_type (map.data[n.first]);
      has_sps |= type == GW_H264_NAL_SPS;
      has_idr |= type == GW_H264_NAL_IDR;
    }
    /* A keyframe without its parameter sets gets the last ones. */
    if (has_idr && !has_sps && !sps_.empty () && !pps_.empty ()) {
      packetize_h264_nal (sps_.data (), sps_.size ());
      packetize_h264_nal (pps_.data (), pps_.size ());
    }
    for (auto &n : *nals) {
      guint type = gw_h264_nal_type (map.data[n.first]);
      if (type == GW_H264_NAL_AUD)
        continue; /* access unit delimiter: the marker bit says it */
      if (!gw_h264_nal_is_payload (type))
        continue;
      packetize_h264_nal (map.data + n.first, n.second);
    }
  } else if (codec_ != Codec::NONE && map.size > 0 && map.size <= GW_RTP_MTU - GW_RTP_HEADER) {
    add_packet (map.data, map.size, NULL, 0);
  } else if (codec_ != Codec::NONE && map.size > 0) {
    GST_WARNING ("audio frame of %" G_GSIZE_FORMAT " bytes is over the MTU: dropped", map.size);
  }
  gst_buffer_unmap (buf, &map);
  if (packets_.empty ())
    return FALSE;
  if (codec_ == Codec::H264)
    packets_.back ().marker = TRUE;
  return TRUE;
}
