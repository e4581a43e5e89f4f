/* GwKeyframeGate: the per-reader gate in front of the payloader.
 *
 * Not registered as a plugin feature: gwreaderbin instantiates it with
 * g_object_new (GW_TYPE_KEYFRAME_GATE, NULL).
 *
 * Modes:
 *  CLOSED  — passes nothing (before the peer connection is up);
 *  WAITING — drops until a keyframe (a buffer without DELTA_UNIT) and lets it
 *            through with SPS/PPS in front (prepending the last ones seen if
 *            the keyframe lacks them), asking upstream for a keyframe once
 *            if a delta unit comes first;
 *  OPEN    — passes everything.
 * The gate keeps no frames: a reader fed by the stream's tee is linked when
 * it connects, and the stream (gwstream.h) gives it its one kept GOP first,
 * a keyframe at its head, which opens the gate at once.
 * For streams without delta units (audio), WAITING behaves as OPEN.
 * Threads: the mode is atomic, set from any thread; the rest belongs to the
 * streaming thread.
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

/* Thread-safe. Setting WAITING on an OPEN gate re-arms it (after a drop). */
void gw_keyframe_gate_set_mode (GwKeyframeGate *gate, GwGateMode mode);
GwGateMode gw_keyframe_gate_get_mode (GwKeyframeGate *gate);
/* Buffers dropped so far. */
guint64 gw_keyframe_gate_get_dropped (GwKeyframeGate *gate);

G_END_DECLS
