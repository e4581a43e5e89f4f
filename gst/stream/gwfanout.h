/* GwFanout: the one place where one upstream stream becomes many branches.
 *
 * A tee (allow-not-linked=true) inside a bin, fed by an upstream src pad.
 * Branches are attached after they are brought to the parent's state (a tee
 * linked to a branch that is not yet PLAYING gets FLUSHING back and stalls the
 * source), and detached from an IDLE probe on their tee pad, so no buffer is
 * in flight when the link goes away.
 *
 * Every fan-out in the project goes through this file, so that the mechanism
 * can change (payload once before the tee, a shared sender, ...) in one place.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GwFanout GwFanout;

/* Creates the tee in @bin, named @name (may be NULL), links @upstream to it
 * and syncs its state with @bin. Returns NULL (with a warning) if linking
 * fails. */
GwFanout *gw_fanout_new (GstBin *bin, GstPad *upstream, const gchar *name);

/* The tee's sink pad's current caps, or NULL before the first caps. */
GstCaps *gw_fanout_get_caps (GwFanout *fanout);

/* Links a new tee src pad to @sink. Call it once the branch owning @sink is
 * in its parent's state. Returns FALSE if the link fails (the tee pad is then
 * released). */
gboolean gw_fanout_attach (GwFanout *fanout, GstPad *sink);

/* Unlinks @sink from the tee from an IDLE probe and releases the tee pad.
 * If @branch is not NULL and none of its sink pads is linked any more once
 * this unlink is done, @branch is set to NULL and removed from its parent bin
 * from a GStreamer helper thread (gst_element_call_async), never from a
 * streaming thread. A branch fed by several fanouts (video and audio) is so
 * removed once, after its last pad is detached. @branch's state is locked
 * at once, so its parent's state changes no longer reach it.
 * Safe from any thread. Returns FALSE if @sink was not attached. */
gboolean gw_fanout_detach (GwFanout *fanout, GstPad *sink, GstElement *branch);

/* Number of attached branches' pads. */
guint gw_fanout_get_n_attached (GwFanout *fanout);

/* Drops the fanout's reference to its tee; the tee stays in the bin and goes
 * with it. */
void gw_fanout_free (GwFanout *fanout);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GwFanout, gw_fanout_free)

G_END_DECLS
