/* H.264 Annex B byte streams, as the parsers before our fan-outs give them
 * (stream-format=byte-stream, alignment=au). */
#pragma once

#include <glib.h>

#include <utility>
#include <vector>

/* NAL units of an access unit: (offset of the NAL header byte, length). */
typedef std::vector<std::pair<gsize, gsize> > GwNals;

/* Splits @d (@n bytes) at its start codes (00 00 01, any zero bytes before
 * one counted as its own, not as the end of the previous unit) into @out
 * (cleared first). */
void gw_h264_split_nals (const guint8 *d, gsize n, GwNals &out);
