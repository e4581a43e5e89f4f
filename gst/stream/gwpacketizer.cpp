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
}

GwPacketizer::~GwPacketizer ()
{
  if (checker_)
    checker_syntax_->checker_free (checker_);
}

gboolean
GwPacketizer::set_caps (GstCaps *caps)
{
  const GwCodecInfo *info = gw_codec_from_caps (caps);
  codec_ = NULL;
  clock_rate_ = 0;
  format_ = Format::FRAME;
  nals_.clear ();
  if (!info)
    return FALSE;
  if (info->nal) {
    /* A codec made of NAL units needs its own RTP payload format. */
    if (info->codec == GW_CODEC_H264) {
      format_ = Format::RFC6184;
    } else if (info->codec == GW_CODEC_H265) {
      format_ = Format::RFC7798;
    } else {
      GST_WARNING ("no RTP payload format for %s here", info->name);
      return FALSE;
    }
    /* One checker per codec: it remembers the sets it has seen across
     * caps changes, as the stream's later sets may refer to them. */
    if (checker_syntax_ != info->nal) {
      if (checker_)
        checker_syntax_->checker_free (checker_);
      checker_syntax_ = info->nal;
      checker_ = info->nal->checker_new ? info->nal->checker_new () : NULL;
    }
  }
  codec_ = info;
  clock_rate_ = info->clock_rate;
  return TRUE;
}

gboolean
GwPacketizer::starts_stream (GstBuffer *buf) const
{
  return gw_codec_buffer_is_keyframe (codec_, buf);
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

/* RFC 6184 framing. The NAL unit header is F (1 bit), NRI (2), type (5);
 * types 24 to 31 are the payload format's aggregation and fragmentation
 * packets (STAP, MTAP, FU), 0 is unspecified: a NAL unit of those types
 * cannot go in a packet as itself, a receiver would misread it. */
enum
{
  RFC6184_FNRI_MASK = 0xe0,
  RFC6184_TYPE_MASK = 0x1f,
  RFC6184_FIRST_FRAMING_TYPE = 24,
  RFC6184_FU_A = 28,
  RFC6184_FU_START = 0x80,
  RFC6184_FU_END = 0x40,
};

static gboolean
rfc6184_is_payload (guint8 header)
{
  guint type = header & RFC6184_TYPE_MASK;
  return type != 0 && type < RFC6184_FIRST_FRAMING_TYPE;
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
  fu[0] = (nal[0] & RFC6184_FNRI_MASK) | RFC6184_FU_A;
  const guint8 type = nal[0] & RFC6184_TYPE_MASK;
  gsize off = 1;
  while (off < len) {
    gsize chunk = MIN (room - 2, len - off);
    fu[1] = type | (off == 1 ? RFC6184_FU_START : 0) | (off + chunk == len ? RFC6184_FU_END : 0);
    add_packet (fu, 2, nal + off, chunk);
    off += chunk;
  }
}

/* RFC 7798 framing. The payload header is the NAL unit header: F (1 bit),
 * type (6), LayerId (6), TID (3). Types 48 (AP), 49 (FU) and 50 (PACI) are
 * the payload format's; 51 to 63 are unspecified: a NAL unit of those
 * types cannot go in a packet as itself. VCL NAL units (slices) are types
 * 0 to 31. Without sprop-max-don-diff, packets carry no DONL/DOND. */
enum
{
  RFC7798_HEADER = 2,
  RFC7798_TYPE_SHIFT = 1,
  RFC7798_TYPE_MASK = 0x3f,
  RFC7798_F_MASK = 0x80,
  RFC7798_LAYER_HI_MASK = 0x01, /* LayerId's top bit, in the first byte */
  RFC7798_TID_MASK = 0x07,
  RFC7798_FIRST_NON_VCL = 32,
  RFC7798_AP = 48,
  RFC7798_FU = 49,
  RFC7798_FU_START = 0x80,
  RFC7798_FU_END = 0x40,
  RFC7798_AP_SIZE_FIELD = 2,
};

static guint
rfc7798_type (const guint8 *nal)
{
  return (nal[0] >> RFC7798_TYPE_SHIFT) & RFC7798_TYPE_MASK;
}

static gboolean
rfc7798_is_payload (const guint8 *nal, gsize len)
{
  return len >= RFC7798_HEADER && rfc7798_type (nal) < RFC7798_AP;
}

/* One NAL unit (no start code) too big for a packet, or alone: a single
 * NAL unit packet, or fragmentation units. */
void
GwPacketizer::packetize_h265_nal (const guint8 *nal, gsize len)
{
  const gsize room = GW_RTP_MTU - GW_RTP_HEADER;
  if (len <= room) {
    add_packet (nal, len, NULL, 0);
    return;
  }
  /* Payload header: the NAL unit's, its type replaced by FU; then the FU
   * header: S, E and the NAL unit's type; then the NAL unit after its own
   * header. */
  guint8 fu[3];
  fu[0]
      = (nal[0] & ~(RFC7798_TYPE_MASK << RFC7798_TYPE_SHIFT)) | (RFC7798_FU << RFC7798_TYPE_SHIFT);
  fu[1] = nal[1];
  const guint8 type = rfc7798_type (nal);
  gsize off = RFC7798_HEADER;
  while (off < len) {
    gsize chunk = MIN (room - sizeof (fu), len - off);
    fu[2] = type | (off == RFC7798_HEADER ? RFC7798_FU_START : 0)
            | (off + chunk == len ? RFC7798_FU_END : 0);
    add_packet (fu, sizeof (fu), nal + off, chunk);
    off += chunk;
  }
}

/* Sends the NAL units waiting for an aggregation packet: one alone as a
 * single NAL unit packet, more in an AP whose header has the F bit if any
 * of them has it, and the lowest LayerId and TID among them. */
void
GwPacketizer::flush_h265_aggregate ()
{
  if (aggregate_.size () == 1) {
    packetize_h265_nal (aggregate_[0].first, aggregate_[0].second);
  } else if (aggregate_.size () > 1) {
    guint8 f = 0, layer = 0x3f, tid = RFC7798_TID_MASK;
    for (auto &n : aggregate_) {
      f |= n.first[0] & RFC7798_F_MASK;
      layer = MIN (layer, ((n.first[0] & RFC7798_LAYER_HI_MASK) << 5) | (n.first[1] >> 3));
      tid = MIN (tid, n.first[1] & RFC7798_TID_MASK);
    }
    std::vector<guint8> ap;
    ap.reserve (aggregate_size_);
    ap.push_back (f | (RFC7798_AP << RFC7798_TYPE_SHIFT) | (layer >> 5));
    ap.push_back (((layer & 0x1f) << 3) | tid);
    for (auto &n : aggregate_) {
      ap.push_back (n.second >> 8);
      ap.push_back (n.second & 0xff);
      ap.insert (ap.end (), n.first, n.first + n.second);
    }
    add_packet (ap.data (), ap.size (), NULL, 0);
  }
  aggregate_.clear ();
  aggregate_size_ = 0;
}

/* One NAL unit of the access unit, in the stream's payload format. H.265
 * aggregates as rtph265pay's zero-latency mode does: NAL units that are
 * not slices (parameter sets, SEI) wait for what follows them, up to and
 * including the next slice, in one aggregation packet while it fits. */
void
GwPacketizer::packetize_nal (const guint8 *nal, gsize len)
{
  if (format_ == Format::RFC6184) {
    if (rfc6184_is_payload (nal[0]))
      packetize_h264_nal (nal, len);
    return;
  }
  if (!rfc7798_is_payload (nal, len))
    return;
  const gsize room = GW_RTP_MTU - GW_RTP_HEADER;
  const gsize need = RFC7798_AP_SIZE_FIELD + len;
  if (RFC7798_HEADER + need > room) {
    /* too big to share a packet */
    flush_h265_aggregate ();
    packetize_h265_nal (nal, len);
    return;
  }
  if (!aggregate_.empty () && aggregate_size_ + need > room)
    flush_h265_aggregate ();
  if (aggregate_.empty ())
    aggregate_size_ = RFC7798_HEADER;
  aggregate_.emplace_back (nal, len);
  aggregate_size_ += need;
  if (rfc7798_type (nal) < RFC7798_FIRST_NON_VCL)
    flush_h265_aggregate ();
}

/* Remembers the stream's last parameter sets, for a keyframe without them:
 * only ones that parse, so that a camera sending garbage cannot leave every
 * later keyframe with broken parameter sets in front. */
void
GwPacketizer::keep_parameter_sets (const guint8 *d, const GwNals &nals)
{
  const GwNalSyntax *syntax = codec_->nal;
  for (auto &n : nals) {
    guint type = gw_nal_type (syntax, d + n.first);
    gint index = gw_nal_parameter_set_index (syntax, type);
    if (index < 0)
      continue;
    if (checker_ && !syntax->checker_accepts (checker_, d, n.first, n.second)) {
      GST_DEBUG ("ignoring a parameter set (NAL type %u) that does not parse", type);
      continue;
    }
    sets_[index].assign (d + n.first, d + n.first + n.second);
  }
}

void
GwPacketizer::observe (GstBuffer *buf)
{
  nals_.clear ();
  if (!codec_ || !codec_->nal)
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

/* The NAL units @nals of the access unit @d. */
void
GwPacketizer::packetize_nals (const guint8 *d, const GwNals &nals)
{
  const GwNalSyntax *syntax = codec_->nal;
  gboolean has_own = FALSE, keyframe = FALSE;
  for (auto &n : nals) {
    guint type = gw_nal_type (syntax, d + n.first);
    has_own |= gw_nal_parameter_set_index (syntax, type) == 0;
    keyframe |= gw_nal_is_keyframe (syntax, type);
  }
  /* A keyframe without its parameter sets gets the last ones. */
  if (keyframe && !has_own) {
    guint n_sets = gw_nal_n_parameter_sets (syntax);
    gboolean known = n_sets > 0;
    for (guint i = 0; i < n_sets; i++)
      known &= !sets_[i].empty ();
    for (guint i = 0; known && i < n_sets; i++)
      packetize_nal (sets_[i].data (), sets_[i].size ());
  }
  for (auto &n : nals) {
    guint type = gw_nal_type (syntax, d + n.first);
    if (n.second == 0 || gw_nal_is_delimiter (syntax, type))
      continue; /* access unit delimiter: the marker bit says it */
    packetize_nal (d + n.first, n.second);
  }
  if (format_ == Format::RFC7798)
    flush_h265_aggregate ();
}

gboolean
GwPacketizer::packetize (GstBuffer *buf, gboolean observed)
{
  arena_.clear ();
  packets_.clear ();
  if (!codec_)
    return FALSE;
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return FALSE;

  if (codec_->nal) {
    GwNals own;
    if (!observed)
      gw_nal_split_annexb (map.data, map.size, own);
    packetize_nals (map.data, observed ? nals_ : own);
  } else if (map.size > 0 && map.size <= GW_RTP_MTU - GW_RTP_HEADER) {
    add_packet (map.data, map.size, NULL, 0);
  } else if (map.size > 0) {
    GST_WARNING ("%s frame of %" G_GSIZE_FORMAT " bytes is over the MTU: dropped", codec_->name,
                 map.size);
  }
  gst_buffer_unmap (buf, &map);
  if (packets_.empty ())
    return FALSE;
  if (codec_->nal)
    packets_.back ().marker = TRUE;
  return TRUE;
}
