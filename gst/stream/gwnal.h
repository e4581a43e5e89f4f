/* NAL unit tools: how an encoded video access unit is cut into NAL units,
 * and what their headers say, for any codec made of NAL units.
 *
 * Annex B byte streams, as the parsers in front of our streams give them
 * (stream-format=byte-stream, alignment=au). The splitter is the same for
 * H.264 and H.265. What a NAL header says (its type, which types start a
 * keyframe, which are parameter sets) is not written here but read from the
 * codec's row of the codec table (GwNalSyntax, gwcodec.h); every function
 * that needs it takes the row's syntax. Pure functions, any thread; a
 * GwParameterSets belongs to its caller, who locks it if shared.
 */
#pragma once

#include "gwcodec.h"

#include <gst/gst.h>

#include <utility>
#include <vector>

/* One bit of GwNalSyntax's type sets. */
#define GW_NAL_BIT(type) (G_GUINT64_CONSTANT (1) << (type))

/* NAL units of an access unit: (offset of the NAL header byte, length). */
typedef std::vector<std::pair<gsize, gsize> > GwNals;

/* Splits @d (@n bytes) at its start codes (00 00 01, any zero bytes before
 * one counted as its own, not as the end of the previous unit) into @out
 * (cleared first). */
void gw_nal_split_annexb (const guint8 *d, gsize n, GwNals &out);

/* Offset of the start code (00 00 01 or 00 00 00 01) in front of the NAL
 * unit whose header is at @nal (as gw_nal_split_annexb gives it). */
gsize gw_nal_start_code_offset (const guint8 *d, gsize nal);

/* What the header of a NAL unit says, read with a row's @syntax. */
guint gw_nal_type (const GwNalSyntax *syntax, const guint8 *nal);
gboolean gw_nal_is_keyframe (const GwNalSyntax *syntax, guint type);
gboolean gw_nal_is_parameter_set (const GwNalSyntax *syntax, guint type);
/* An access unit delimiter: RTP's marker bit says the same. */
gboolean gw_nal_is_delimiter (const GwNalSyntax *syntax, guint type);

/* A codec's parameter sets are its parameter_set_types in ascending order
 * (H.264: SPS, PPS; H.265: VPS, SPS, PPS), which is the order a decoder
 * needs them in. At most this many. */
#define GW_NAL_MAX_PARAMETER_SETS 4

/* How many parameter sets the codec has. */
guint gw_nal_n_parameter_sets (const GwNalSyntax *syntax);
/* The place of parameter set @type among the codec's sets, or -1 if @type
 * is not one. */
gint gw_nal_parameter_set_index (const GwNalSyntax *syntax, guint type);

/* The last parameter sets of a stream, by place: each one NAL unit with its
 * start code, or NULL while unknown. Zero-initialise; free the buffers with
 * gw_parameter_sets_clear. */
typedef struct
{
  GstBuffer *sets[GW_NAL_MAX_PARAMETER_SETS];
} GwParameterSets;

void gw_parameter_sets_clear (GwParameterSets *ps);
/* @dst (cleared first) takes a ref on each of @src's buffers. */
void gw_parameter_sets_copy (GwParameterSets *dst, const GwParameterSets *src);

/* Remembers in @ps (replacing what it held) the parameter sets of the
 * access unit @buf if it carries all of them. Returns whether
 * @buf carries its own: it holds the first of them (H.264: an SPS). @ps may
 * be NULL: only the answer. */
gboolean gw_nal_keep_parameter_sets (const GwNalSyntax *syntax, GstBuffer *buf,
                                     GwParameterSets *ps);

/* @key (taken) with @ps's parameter sets in front, in their order, if it
 * does not carry its own (@has_own) and all of them are known; else @key. */
GstBuffer *gw_nal_with_parameter_sets (const GwNalSyntax *syntax, GstBuffer *key, gboolean has_own,
                                       const GwParameterSets *ps);
