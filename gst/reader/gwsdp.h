/* SDP and codec choices for a send-only WebRTC reader: pure functions, no
 * GStreamer elements, so they are unit-tested without a network. What each
 * codec requires (encoding name, clock rate, fmtp rules) is in the codec
 * table (gwcodec.h); GwStreamFormat and gw_stream_format_from_caps are
 * there too. */
#pragma once

#include <gst/gst.h>
#include <gst/sdp/sdp.h>

#include "gwcodec.h"

G_BEGIN_DECLS

/* One stream's place in an offer: which m-line and payload type carry it. */
typedef struct
{
  guint mline;
  guint pt;
  /* The profile the codec's SDP rules chose from the offer for @pt (H.264:
   * its profile-level-id, 6 hex digits); empty for codecs without rules. */
  gchar profile_level_id[GW_CODEC_PROFILE_LEN];
} GwOfferChoice;

/* For each of @n_streams formats, picks an m-line of the offer (in order,
 * each m-line used once) that receives media of that kind with a codec we can
 * send, and its payload type, as ranked by the codec's SDP rules (H.264
 * requires packetization-mode=1 and prefers the offered profile that matches
 * the stream's). @chosen[i] is FALSE for a stream the offer cannot take.
 * Returns the number of streams placed; 0 means nothing in the offer can be
 * served. */
guint gw_sdp_choose (const GstSDPMessage *offer, const GwStreamFormat *streams, guint n_streams,
                     GwOfferChoice *choices, gboolean *chosen);

/* Whether the remote side of m-line @index of @sdp receives: its direction
 * is sendrecv or recvonly (none means sendrecv), and its port is not 0
 * unless it is bundle-only. */
gboolean gw_sdp_media_receives (const GstSDPMessage *sdp, guint index);

/* The application/x-rtp caps we send a stream with: encoding, clock rate,
 * payload type and the fields of the codec's SDP rules (H.264:
 * packetization-mode=1 and @profile_level_id, or when NULL the stream's own,
 * or 42e01f). */
GstCaps *gw_sdp_rtp_caps (const GwStreamFormat *format, guint pt, const gchar *profile_level_id);

/* The payload type we offer a stream with when we are the offerer. */
guint gw_sdp_default_pt (const GwStreamFormat *format);

/* For people: a stream's codec and the fmtp fields it is sent with, e.g.
 * "H.264 (packetization-mode=1;profile-level-id=f4001f)". */
gchar *gw_sdp_describe_stream (const GwStreamFormat *format);

/* For people: the codecs the m-lines of @offer that receive video (@video)
 * or audio take, each once, e.g. "VP8/90000, H264/90000
 * (packetization-mode=1;profile-level-id=42e01f)"; "none" when no such
 * m-line receives. */
gchar *gw_sdp_describe_offer (const GstSDPMessage *offer, gboolean video);

/* Makes the BUNDLE groups of @sdp (an offer, or an answer to our offer)
 * what webrtcbin 1.22 takes: it refuses a group whose m-lines carry
 * different ICE credentials, and a bundle-only m-line (port 0,
 * a=bundle-only, RFC 8843) without its own ICE and DTLS attributes. Offerers
 * that gather per m-line before knowing whether the answer bundles (aiortc)
 * give each m-line its own ufrag, password and candidates; once the answer
 * accepts the group, only the transport of the group's tagged m-line (its
 * first mid) is used. So each other member gets the tagged m-line's
 * ice-ufrag and ice-pwd, its fingerprint and setup where it has none, and
 * loses candidates gathered under other credentials. Returns the number of
 * m-lines changed. */
guint gw_sdp_normalize_bundle (GstSDPMessage *sdp);

/* Whether m-line @index of @sdp is bundle-only: port 0 with a=bundle-only
 * and its mid in a BUNDLE group (RFC 8843). Such an m-line is not
 * refused: it shares the group's transport. */
gboolean gw_sdp_media_is_bundle_only (const GstSDPMessage *sdp, guint index);

/* Parses SDP text; returns NULL and sets @error (GW_READER_ERROR_BAD_SDP) on
 * anything that is not a usable session description with at least one
 * m-line. Its BUNDLE groups are normalised (gw_sdp_normalize_bundle). */
GstSDPMessage *gw_sdp_parse (const gchar *text, GError **error);

G_END_DECLS
