/* GwKeyframeGate: the per-reader gate in front of the payloader.
 *
 * Not registered as a plugin feature: gwreaderbin instantiates it with
 * g_object_new (GW_TYPE_KEYFRAME_GATE, NULL).
 *
 * Modes:
 *  CLOSED  — passes nothing (before the peer connection is up), but keeps
 *            the video since the last keyframe (up to GW_GOP_MAX_*);
 *  WAITING — if a keyframe and what followed it were kept, sends them at once
 *            retimed to end just before the next buffer, and opens; else
 *            drops until a keyframe (a buffer without DELTA_UNIT) and lets it
 *            through with SPS/PPS in front (prepending the last ones seen if
 *            the keyframe lacks them), asking upstream for a keyframe once;
 *  OPEN    — passes everything.
 * For streams without delta units (audio), WAITING behaves as OPEN.
 * A push that returns NOT_LINKED is swallowed, so a gate whose output is not
 * linked yet never stops the queue in front of it.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GW_TYPE_KEYFRAME_GATE (gw_keyframe_gate_get_type ())
G_DECLARE_FINAL_TYPE (GwKeyframeGate, gw_keyframe_gate, GW, KEYFRAME_GATE, GstElement)

typedef enum
{
  GW_GATE_CLOSED,
  GW_GATE_WAITING,
  GW_GATE_OPEN,
} GwGateMode;

/* Bounds of the frames kept since the last keyframe (a 4 s GOP at
 * 8 Mbit/s fits); over them nothing is kept until the next keyframe. */
#define GW_GOP_MAX_BUFFERS 600
#define GW_GOP_MAX_BYTES (8 * 1024 * 1024)
/* Spacing of the retimed kept frames. */
#define GW_GOP_STEP (GST_MSECOND)

/* Buffer @i of @n kept frames, retimed to (n - i) steps before @next (or
 * unchanged if @next is not a valid time). Takes and returns a ref. */
GstBuffer *gw_gop_retime (GstBuffer *buf, guint i, guint n, GstClockTime next);
/* The time gw_gop_retime() gives buffer @i of @n whose time is @orig. */
GstClockTime gw_gop_retime_time (guint i, guint n, GstClockTime next, GstClockTime orig);

/* The access units since the latest keyframe, as the fan-out, the gate and
 * the shared sender keep them for a viewer that joins mid-GOP. */
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

/* Thread-safe. Setting WAITING on an OPEN gate re-arms it (after a drop). */
void gw_keyframe_gate_set_mode (GwKeyframeGate *gate, GwGateMode mode);
GwGateMode gw_keyframe_gate_get_mode (GwKeyframeGate *gate);
/* Buffers dropped so far. */
guint64 gw_keyframe_gate_get_dropped (GwKeyframeGate *gate);

G_END_DECLS
