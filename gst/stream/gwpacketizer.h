/* GwPacketizer: an encoded stream cut into RTP payloads, once per stream.
 *
 * Fed with the stream's caps and each of its buffers, it gives the packets
 * of a buffer with their 12-byte RTP header left blank, for each viewer to
 * fill with its own payload type, SSRC, sequence number and timestamp (see
 * gwsender.h). H.264 is packetization-mode 1 (single NAL units and FU-A,
 * RFC 6184); H.265 is RFC 7798 (single NAL units, aggregation packets and
 * fragmentation units, one RTP stream, no decoding order numbers); for
 * both, a keyframe without its parameter sets gets the last valid ones in
 * front. Opus, PCMU and PCMA frames are one packet each.
 *
 * Not thread-safe: its owner (the sender) calls it under its own lock, from
 * the stream's streaming thread.
 */
#pragma once

#include "gwcodec.h"
#include "gwnal.h"

#include <gst/gst.h>

#include <vector>

/* Largest RTP packet (header included) is GW_RTP_MTU, as our payloaders
 * are set up (gwcodec.h). */
#define GW_RTP_HEADER 12

/* One packet: GW_RTP_HEADER blank bytes, then the payload. */
struct GwRtpPacket
{
  gsize offset; /* in gw_packetizer's data() */
  gsize size;   /* header included */
  gboolean marker;
};

class GwPacketizer
{
public:
  GwPacketizer ();
  ~GwPacketizer ();
  GwPacketizer (const GwPacketizer &) = delete;
  GwPacketizer &operator= (const GwPacketizer &) = delete;

  /* The stream's caps: FALSE if it is not a stream we packetize (the
   * packetizer then gives no packets until caps it knows): a codec not in
   * the codec table, or one made of NAL units without a payload format
   * here. */
  gboolean set_caps (GstCaps *caps);
  gboolean
  ready () const
  {
    return codec_ != NULL;
  }
  guint
  clock_rate () const
  {
    return clock_rate_;
  }
  /* Whether a viewer can start with @buf (a keyframe, or any audio frame). */
  gboolean starts_stream (GstBuffer *buf) const;

  /* Each live buffer, once, before packetize (@buf, TRUE): remembers its
   * parameter sets and its NAL units. */
  void observe (GstBuffer *buf);
  /* Cuts @buf into packets(); @observed says @buf is the one observe() just
   * saw (its NAL units are known). FALSE if it gives no packet. */
  gboolean packetize (GstBuffer *buf, gboolean observed);

  const guint8 *
  data () const
  {
    return arena_.data ();
  }
  const std::vector<GwRtpPacket> &
  packets () const
  {
    return packets_;
  }

private:
  /* How a buffer becomes packets. */
  enum class Format
  {
    FRAME,   /* one packet per frame (audio) */
    RFC6184, /* H.264: single NAL units and FU-A */
    RFC7798, /* H.265: single NAL units, AP and FU */
  };

  void add_packet (const guint8 *a, gsize alen, const guint8 *b, gsize blen);
  void packetize_h264_nal (const guint8 *nal, gsize len);
  void packetize_h265_nal (const guint8 *nal, gsize len);
  void flush_h265_aggregate ();
  void packetize_nal (const guint8 *nal, gsize len);
  void keep_parameter_sets (const guint8 *d, const GwNals &nals);
  void packetize_nals (const guint8 *d, const GwNals &nals);

  const GwCodecInfo *codec_ = NULL; /* the stream's row, NULL: none */
  Format format_ = Format::FRAME;
  guint clock_rate_ = 0;
  /* Last valid parameter sets by place (gw_nal_parameter_set_index),
   * without start code; empty while unknown. */
  std::vector<guint8> sets_[GW_NAL_MAX_PARAMETER_SETS];
  /* checks them: the row's checker, made for checker_syntax_, or NULL */
  gpointer checker_ = NULL;
  const GwNalSyntax *checker_syntax_ = NULL;
  /* RFC 7798: NAL units waiting to go in one aggregation packet, and the
   * size of that packet's payload so far. */
  std::vector<std::pair<const guint8 *, gsize> > aggregate_;
  gsize aggregate_size_ = 0;
  GwNals nals_;               /* the NAL units of the observed buffer */
  std::vector<guint8> arena_; /* this buffer's packets */
  std::vector<GwRtpPacket> packets_;
};
