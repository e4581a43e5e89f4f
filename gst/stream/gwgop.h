/* GwGop: the access units since the latest keyframe of a video stream.
 *
 * Kept once per stream, by the stream object (gwstream.h), on its streaming
 * thread: a viewer that joins mid-GOP starts from it at once instead of
 * waiting up to a keyframe interval. The shared sender and the readers fed
 * by the tee both start from this one copy.
 *
 * Not thread-safe by itself: the owner says which thread writes it.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* Bounds of the frames kept since the last keyframe (a 4 s GOP at
 * 8 Mbit/s fits); over them nothing is kept until the next keyframe. */
#define GW_GOP_MAX_BUFFERS 600
#define GW_GOP_MAX_BYTES (8 * 1024 * 1024)
/* Spacing of the retimed kept frames. */
#define GW_GOP_STEP (GST_MSECOND)

typedef struct
{
  GQueue frames; /* GstBuffer refs, a keyframe first */
  gsize bytes;
} GwGop;

void gw_gop_init (GwGop *gop);
void gw_gop_clear (GwGop *gop);
/* A keyframe restarts the GOP; a delta unit is added if there is a GOP to
 * add it to. Beyond GW_GOP_MAX_* nothing is kept until the next keyframe. */
void gw_gop_keep (GwGop *gop, GstBuffer *buf);

/* Buffer @i of @n kept frames, retimed to (n - i) steps before @next (or
 * unchanged if @next is not a valid time). Takes and returns a ref. */
GstBuffer *gw_gop_retime (GstBuffer *buf, guint i, guint n, GstClockTime next);
/* The time gw_gop_retime() gives buffer @i of @n whose time is @orig. */
GstClockTime gw_gop_retime_time (guint i, guint n, GstClockTime next, GstClockTime orig);

G_END_DECLS
