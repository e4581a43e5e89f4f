/* NAL unit tools: the one place that knows how an encoded video access unit
 * is cut into NAL units and what their headers say.
 *
 * Annex B byte streams, as the parsers in front of our streams give them
 * (stream-format=byte-stream, alignment=au). The splitter is the same for
 * H.264 and H.265; the header helpers are per codec (H.264 now; H.265, whose
 * header is two bytes with the type in bits 1-6 of the first, goes beside
 * them). Pure functions, any thread.
 */
#pragma once

#include <gst/gst.h>

#include <utility>
#include <vector>

/* NAL units of an access unit: (offset of the NAL header byte, length). */
typedef std::vector<std::pair<gsize, gsize> > GwNals;

/* Splits @d (@n bytes) at its start codes (00 00 01, any zero bytes before
 * one counted as its own, not as the end of the previous unit) into @out
 * (cleared first). */
void gw_nal_split_annexb (const guint8 *d, gsize n, GwNals &out);

/* Offset of the start code (00 00 01 or 00 00 00 01) in front of the NAL
 * unit whose header is at @nal (as gw_nal_split_annexb gives it). */
gsize gw_nal_start_code_offset (const guint8 *d, gsize nal);

/* H.264 NAL unit types we act on (ITU-T H.264, table 7-1). */
enum
{
  GW_H264_NAL_IDR = 5,
  GW_H264_NAL_SPS = 7,
  GW_H264_NAL_PPS = 8,
  GW_H264_NAL_AUD = 9,
  /* 24 and up are RTP aggregation and fragmentation types (RFC 6184). */
  GW_H264_NAL_FIRST_RTP = 24,
  GW_H264_NAL_FU_A = 28,
};

static inline guint
gw_h264_nal_type (guint8 header)
{
  return header & 0x1f;
}

/* Whether a NAL unit of @type may go in an RTP packet as itself: not
 * unspecified (0) and not an RTP framing type a receiver would misread. */
static inline gboolean
gw_h264_nal_is_payload (guint type)
{
  return type != 0 && type < GW_H264_NAL_FIRST_RTP;
}

/* Remembers in @sps and @pps (replacing what they held) the SPS and PPS NAL
 * units of the H.264 access unit @buf, each with its start code; returns
 * whether @buf holds an SPS. */
gboolean gw_h264_keep_parameter_sets (GstBuffer *buf, GstBuffer **sps, GstBuffer **pps);

/* @key (taken) with @sps and @pps in front, if it has no SPS of its own
 * (@has_sps) and both are known; else @key. */
GstBuffer *gw_h264_with_parameter_sets (GstBuffer *key, gboolean has_sps, GstBuffer *sps,
                                        GstBuffer *pps);
