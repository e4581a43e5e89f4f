/* SDP and codec choices for a send-only WebRTC reader: pure functions, no
 * GStreamer elements, so they are unit-tested without a network. */
#pragma once

#include <gst/gst.h>
#include <gst/sdp/sdp.h>

G_BEGIN_DECLS

typedef enum
{
  GW_CODEC_NONE = 0,
  GW_CODEC_H264,
  GW_CODEC_OPUS,
  GW_CODEC_PCMU,
  GW_CODEC_PCMA,
} GwCodec;

/* What one of our elementary streams is, read from its caps. */
typedef struct
{
  GwCodec codec;
  gboolean video;
  /* H.264 only: profile_idc, constraint flags, level_idc of the stream as
   * read from the caps' profile/level fields (0 when unknown). */
  guint8 profile_idc;
  guint8 constraints;
  guint8 level_idc;
} GwStreamFormat;

/* Fills @out from parsed elementary stream caps (video/x-h264, audio/x-opus,
 * audio/x-mulaw, audio/x-alaw). Returns FALSE for caps we cannot serve. */
gboolean gw_stream_format_from_caps (const GstCaps *caps, GwStreamFormat *out);

/* One stream's place in an offer: which m-line and payload type carry it. */
typedef struct
{
  guint mline;
  guint pt;
  /* H.264: the offer's profile-level-id for @pt, as 6 hex digits. */
  gchar profile_level_id[7];
} GwOfferChoice;

/* For each of @n_streams formats, picks an m-line of the offer (in order,
 * each m-line used once) that receives media of that kind with a codec we can
 * send, and its payload type. H.264 requires packetization-mode=1 and prefers
 * the offered profile that matches the stream's. @chosen[i] is FALSE for a
 * stream the offer cannot take. Returns the number of streams placed; 0 means
 * nothing in the offer can be served. */
guint gw_sdp_choose (const GstSDPMessage *offer, const GwStreamFormat *streams, guint n_streams,
                     GwOfferChoice *choices, gboolean *chosen);

/* The application/x-rtp caps we send a stream with: encoding, clock rate,
 * payload type and, for H.264, packetization-mode=1 and @profile_level_id
 * (NULL: derived from @format, or 42e01f). */
GstCaps *gw_sdp_rtp_caps (const GwStreamFormat *format, guint pt, const gchar *profile_level_id);

/* The payload type we offer a stream with when we are the offerer. */
guint gw_sdp_default_pt (const GwStreamFormat *format);

/* Parses SDP text; returns NULL and sets @error (GW_READER_ERROR_BAD_SDP) on
 * anything that is not a usable session description with at least one
 * m-line. */
GstSDPMessage *gw_sdp_parse (const gchar *text, GError **error);

G_END_DECLS
