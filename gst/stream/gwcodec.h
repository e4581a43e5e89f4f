/* The codec table: everything the gateway knows about a codec, in one row.
 *
 * Every other file asks the table (by caps, by RTP encoding name and clock
 * rate, by static payload type or by GwCodec) instead of naming a codec:
 * the source bin builds its depayloader and parser from a row, the reader
 * its payloader and SDP, gwsink and the reader their pad templates, the
 * shared sender and the keyframe gate the clock rate and how to find a
 * keyframe. Adding a codec is one row in gwcodec.cpp plus, where the shared
 * sender must cut its frames into RTP packets itself, a packetizer
 * (docs/codecs.md).
 *
 * The table is constant: every function here is safe from any thread.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum
{
  GW_CODEC_NONE = 0,
  GW_CODEC_H264,
  GW_CODEC_H265,
  GW_CODEC_OPUS,
  GW_CODEC_PCMU,
  GW_CODEC_PCMA,
  GW_N_CODECS
} GwCodec;

/* The largest RTP packet we send (payloaders' "mtu", the shared sender):
 * fits a 1280-byte IPv6 path with SRTP, UDP and IP headers. */
#define GW_RTP_MTU 1200

/* What one of our elementary streams is, read from its caps. */
typedef struct
{
  GwCodec codec;
  gboolean video;
  /* Read from the caps' profile/tier/level fields (0 when unknown).
   * H.264: profile_idc, constraint flags, level_idc.
   * H.265: general_profile_idc, tier (0 main, 1 high), general_level_idc
   * (30 times the level). */
  guint8 profile_idc;
  guint8 constraints;
  guint8 tier;
  guint8 level_idc;
} GwStreamFormat;

/* Room for the SDP profile a codec's rules answer with, NUL included
 * (H.264: profile-level-id, 6 hex digits; H.265: "profile-id/tier-flag/
 * level-id", e.g. "1/0/93"). */
#define GW_CODEC_PROFILE_LEN 16

/* A codec's SDP fmtp rules. NULL in a row: any payload type offered with
 * the row's encoding name and clock rate takes the stream, and the RTP caps
 * carry no fmtp fields. */
typedef struct
{
  /* Reads the stream's profile (and level) from its caps into @out. */
  void (*read_caps) (const GstStructure *caps, GwStreamFormat *out);
  /* Ranks a payload type offered with the fmtp parameters @fmtp (the text
   * after "a=fmtp:PT ", or NULL) for @stream: 0 = it cannot carry the
   * stream, higher is better. Writes the profile to answer with to
   * @profile (GW_CODEC_PROFILE_LEN bytes). */
  guint (*rank_offer) (const GwStreamFormat *stream, const gchar *fmtp, gchar *profile);
  /* Sets the fmtp fields of the RTP caps we send @stream with: @profile is
   * what rank_offer chose, or NULL when we are the offerer. */
  void (*set_rtp_fields) (const GwStreamFormat *stream, const gchar *profile, GstStructure *rtp);
  /* What the rules require, for error messages ("packetization-mode=1"). */
  const gchar *requirement;
  /* The fields set_rtp_fields writes, NULL-terminated: a payloader is asked
   * about downstream caps without them, so that it takes any profile of the
   * stream (the negotiated values are put on its caps afterwards). */
  const gchar *const *rtp_fields;
} GwSdpRules;

/* How keyframes and parameter sets are found in a codec made of NAL units
 * (Annex B access units: start codes, then NAL units). The only place NAL
 * unit types are known; the NAL tools (gwnal.h) read them from here. */
typedef struct
{
  /* NAL unit type = (first header byte >> type_shift) & type_mask */
  guint8 type_shift;
  guint8 type_mask;
  /* One bit per NAL unit type (GW_NAL_BIT (type), types below 64). */
  guint64 keyframe_types; /* a slice that starts a keyframe (IDR) */
  /* What a decoder needs before a keyframe (SPS, PPS), in ascending type
   * order; an access unit holding the first of them carries its own. At
   * most GW_NAL_MAX_PARAMETER_SETS. */
  guint64 parameter_set_types;
  guint64 delimiter_types; /* access unit delimiters (AUD) */

  /* Whether a parameter set is sound enough to keep for later keyframes
   * (it parses): so that a camera sending garbage cannot leave every later
   * keyframe with broken parameter sets in front. The NAL unit's header is
   * at offset @nal of @au, after a start code, and is @len bytes long. A
   * checker keeps state (a set may refer to earlier ones): make one per
   * stream with checker_new, free it with checker_free. NULL: every
   * parameter set is kept. */
  gpointer (*checker_new) (void);
  gboolean (*checker_accepts) (gpointer checker, const guint8 *au, gsize nal, gsize len);
  void (*checker_free) (gpointer checker);
} GwNalSyntax;

/* One codec. Strings are static; element properties are "name=value" pairs
 * separated by spaces, as gst-launch writes them. */
typedef struct
{
  GwCodec codec;
  const gchar *name; /* for people: "H.264" */
  gboolean video;
  const gchar *media_type; /* elementary stream caps name: "video/x-h264" */
  const gchar *caps;       /* the caps our parsed streams carry */

  /* RTP */
  const gchar *encoding_name; /* upper case, as in a=rtpmap */
  guint clock_rate;
  gint static_pt;   /* RFC 3551 static payload type, or -1 */
  guint default_pt; /* the payload type we offer the stream with */
  const GwSdpRules *sdp;

  /* Elements */
  const gchar *depayloader;
  const gchar *parser; /* NULL: the depayloader's output needs none */
  const gchar *parser_props;
  /* gwsink runs its inputs of this codec through the parser too: with its
   * properties it repeats what a viewer joining later needs. */
  gboolean parse_inputs;
  const gchar *payloader;
  const gchar *payloader_props; /* besides pt and mtu (GW_RTP_MTU) */
  /* A decoder of the parsed stream to raw video or audio (NULL: none we
   * know), and the Debian package that ships it, for error messages. */
  const gchar *decoder;
  const gchar *decoder_package;
  /* A check of depayloaded access units before the parser, for what the
   * parser would fail on for good (NULL: none). See gw_codec_au_is_sane. */
  gboolean (*depayloaded_ok) (const guint8 *data, gsize size);

  /* Keyframes. Without them, every frame decodes alone. With them, the
   * parser marks every other access unit GST_BUFFER_FLAG_DELTA_UNIT, and
   * @nal (if set) finds them in the bytes. */
  gboolean has_keyframes;
  const GwNalSyntax *nal;
} GwCodecInfo;

/* Lookups; each returns a row of the table or NULL. */
const GwCodecInfo *gw_codec_info (GwCodec codec);
/* By an elementary stream's caps (any of their structures' media type). */
const GwCodecInfo *gw_codec_from_caps (const GstCaps *caps);
/* By RTP caps (application/x-rtp, or the application/x-unknown that
 * rtspsrc's select-stream gives, with an encoding-name), matched by
 * encoding name only. */
const GwCodecInfo *gw_codec_from_rtp_caps (const GstCaps *caps);
/* By RTP encoding name (any case) and clock rate (0: any rate). */
const GwCodecInfo *gw_codec_from_encoding (const gchar *encoding_name, guint clock_rate);
/* By an RFC 3551 static payload type (0 PCMU, 8 PCMA). */
const GwCodecInfo *gw_codec_from_static_pt (guint pt);

/* The union, in table order, of the caps of every video (or audio) codec:
 * the caps of our video_%u / audio_%u pad templates. Transfer full. */
GstCaps *gw_codec_template_caps (gboolean video);
/* A pad template "video_%u" (or "audio_%u") with those caps. Floating. */
GstPadTemplate *gw_codec_pad_template (gboolean video, GstPadDirection direction,
                                       GstPadPresence presence);

/* The codecs' names for messages: "H.264, Opus, PCMU or PCMA" with
 * @conjunction "or". Free with g_free. */
gchar *gw_codec_names (const gchar *conjunction);
/* "H.264 packetization-mode=1, Opus, PCMU or PCMA": what we can send, with
 * what the SDP rules require, for error messages. Free with g_free. */
gchar *gw_codec_describe_all (void);

/* Elements for @info, properties set from the table; NULL if the row has
 * none or the plugin is missing. Floating refs. */
GstElement *gw_codec_make_depayloader (const GwCodecInfo *info);
GstElement *gw_codec_make_parser (const GwCodecInfo *info);
/* With payload type @pt and mtu GW_RTP_MTU too. */
GstElement *gw_codec_make_payloader (const GwCodecInfo *info, guint pt);
GstElement *gw_codec_make_decoder (const GwCodecInfo *info);

/* Fills @out from elementary stream caps. Returns FALSE for caps we cannot
 * serve. */
gboolean gw_stream_format_from_caps (const GstCaps *caps, GwStreamFormat *out);

/* Keyframes. */
/* Whether @buf, one access unit from our parsers, starts a keyframe (always
 * TRUE for codecs without keyframes). */
gboolean gw_codec_buffer_is_keyframe (const GwCodecInfo *info, GstBuffer *buf);
/* Whether the Annex B access unit @data holds a keyframe slice, read from the
 * bytes (codecs with NAL syntax; TRUE for codecs without keyframes, FALSE
 * for codecs with keyframes but no NAL syntax). */
gboolean gw_codec_au_is_keyframe (const GwCodecInfo *info, const guint8 *data, gsize size);
/* The type of the NAL unit whose header starts at @nal (codecs with NAL
 * syntax only), and what it is. */
guint gw_codec_nal_type (const GwCodecInfo *info, const guint8 *nal);
gboolean gw_codec_nal_is_keyframe (const GwCodecInfo *info, guint type);
gboolean gw_codec_nal_is_parameter_set (const GwCodecInfo *info, guint type);

/* Whether @data, one H.264 byte-stream access unit as a depayloader made
 * it, is safe to give to h264parse: it starts with a start code and each NAL
 * unit has a header with the forbidden bit clear, end-of-sequence and
 * end-of-stream units are one byte, and no SPS that parses describes an
 * impossible picture (zero or negative size once cropped: random bytes that
 * h264parse would otherwise take for the stream's format and pass on to
 * every viewer). h264parse fails for good (a flow error
 * that stops the whole RTSP stream) on some of these breaks, which a camera
 * sending garbage RTP produces; a dropped access unit is only packet loss.
 * Codecs without such a check: always TRUE. */
gboolean gw_codec_au_is_sane (const GwCodecInfo *info, const guint8 *data, gsize size);

/* An fmtp parameter: the value of @key (any case) in "k=v;k=v" @fmtp, or
 * NULL. Free with g_free. */
gchar *gw_fmtp_get (const gchar *fmtp, const gchar *key);

G_END_DECLS
