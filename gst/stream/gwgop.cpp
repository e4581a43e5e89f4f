/* GwGop: see gwgop.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwgop.h"

void
gw_gop_init (GwGop *gop)
{
  g_queue_init (&gop->frames);
  gop->bytes = 0;
}

void
gw_gop_clear (GwGop *gop)
{
  g_queue_clear_full (&gop->frames, (GDestroyNotify)gst_buffer_unref);
  gop->bytes = 0;
}

void
gw_gop_keep (GwGop *gop, GstBuffer *buf)
{
  if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
    gw_gop_clear (gop);
  else if (g_queue_is_empty (&gop->frames))
    return; /* no keyframe to start from yet */
  gsize size = gst_buffer_get_size (buf);
  if (gop->frames.length >= GW_GOP_MAX_BUFFERS || gop->bytes + size > GW_GOP_MAX_BYTES) {
    GST_DEBUG ("GOP over %u buffers or %u bytes: not kept", GW_GOP_MAX_BUFFERS, GW_GOP_MAX_BYTES);
    gw_gop_clear (gop);
    return;
  }
  g_queue_push_tail (&gop->frames, gst_buffer_ref (buf));
  gop->bytes += size;
}

GstClockTime
gw_gop_retime_time (guint i, guint n, GstClockTime next, GstClockTime orig)
{
  if (!GST_CLOCK_TIME_IS_VALID (next) || next < (GstClockTime)n * GW_GOP_STEP)
    return orig;
  return next - (GstClockTime)(n - i) * GW_GOP_STEP;
}

GstBuffer *
gw_gop_retime (GstBuffer *buf, guint i, guint n, GstClockTime next)
{
  GstClockTime t = gw_gop_retime_time (i, n, next, GST_BUFFER_PTS (buf));
  if (t == GST_BUFFER_PTS (buf))
    return buf;
  buf = gst_buffer_make_writable (buf);
  GST_BUFFER_PTS (buf) = t;
  if (GST_BUFFER_DTS_IS_VALID (buf))
    GST_BUFFER_DTS (buf) = t;
  GST_BUFFER_DURATION (buf) = GW_GOP_STEP;
  return buf;
}
