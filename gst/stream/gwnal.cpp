/* NAL unit tools: see gwnal.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwnal.h"

void
gw_nal_split_annexb (const guint8 *d, gsize n, GwNals &out)
{
  out.clear ();
  gsize i = 0, start = G_MAXSIZE;
  while (i + 3 <= n) {
    if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
      if (start != G_MAXSIZE) {
        gsize end = i;
        while (end > start && d[end - 1] == 0)
          end--; /* trailing zeros belong to the next start code */
        out.emplace_back (start, end - start);
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start != G_MAXSIZE && start < n)
    out.emplace_back (start, n - start);
}

gsize
gw_nal_start_code_offset (const guint8 *d, gsize nal)
{
  return (nal >= 4 && d[nal - 4] == 0) ? nal - 4 : nal - 3;
}

gboolean
gw_h264_keep_parameter_sets (GstBuffer *buf, GstBuffer **sps, GstBuffer **pps)
{
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return FALSE;
  const guint8 *d = map.data;
  gboolean has_sps = FALSE;
  GwNals nals;
  gw_nal_split_annexb (d, map.size, nals);
  for (auto &n : nals) {
    guint type = gw_h264_nal_type (d[n.first]);
    if (type != GW_H264_NAL_SPS && type != GW_H264_NAL_PPS)
      continue;
    gsize start = gw_nal_start_code_offset (d, n.first);
    GstBuffer *copy = gst_buffer_new_memdup (d + start, n.first + n.second - start);
    gst_buffer_replace (type == GW_H264_NAL_SPS ? sps : pps, copy);
    gst_buffer_unref (copy);
    if (type == GW_H264_NAL_SPS)
      has_sps = TRUE;
  }
  gst_buffer_unmap (buf, &map);
  return has_sps;
}

GstBuffer *
gw_h264_with_parameter_sets (GstBuffer *key, gboolean has_sps, GstBuffer *sps, GstBuffer *pps)
{
  if (has_sps || !sps || !pps)
    return key;
  GstBuffer *out = gst_buffer_new ();
  gst_buffer_copy_into (out, key, (GstBufferCopyFlags)(GST_BUFFER_COPY_METADATA), 0, -1);
  gst_buffer_append_memory (out, gst_buffer_get_all_memory (sps));
  gst_buffer_append_memory (out, gst_buffer_get_all_memory (pps));
  return gst_buffer_append (out, key);
}
