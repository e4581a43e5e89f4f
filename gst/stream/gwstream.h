/* GwStream: one encoded stream of a path or of a gwsink input, and
 * everything that serves it to many readers (in the spirit of
 * gst-rtsp-server's rtsp-stream):
 *   - the tee (allow-not-linked=true), fed by the upstream src pad;
 *   - the one kept GOP (gwgop.h): the access units since the last keyframe,
 *     from which every reader starts;
 *   - the shared sender (gwsender.h, with its packetizer), fed from the tee's
 *     sink pad before the tee;
 *   - the readers attached to it.
 *
 * Readers. gw_stream_attach() first asks the branch, with a custom query on
 * its sink pad (gw_stream_accept_attach), whether it decides itself when it
 * needs buffers. A branch that answers (gwreaderbin) is NOT linked to the
 * tee: it gets the stream's events (stream-start, caps, segment, ... as the
 * tee would give them, from the streaming thread) for its negotiation, and
 * the stream's sender through gw_stream_get_sender(). When its viewer is
 * connected it either has the sender send its packets, or calls
 * gw_stream_feed() to be linked to the tee (its fallback send path), and then
 * gets the kept GOP first, retimed to end just before the live buffer. A
 * branch that does not answer (a fakesink, an appsink) is linked at once and
 * gets the kept GOP first the same way.
 *
 * Branches are linked after they are brought to the parent's state (a tee
 * linked to a branch that is not yet PLAYING gets FLUSHING back and stalls
 * the source), and unlinked from an IDLE probe on their tee pad, so no buffer
 * is in flight when the link goes away.
 *
 * Threads and locks: attach/detach/feed/get_* from any thread, never from the
 * stream's streaming thread. The stream's mutex guards the readers list and
 * the kept GOP; it is never held while pushing or sending an event, linking,
 * calling the sender or emitting a signal. The GOP is written only by the
 * streaming thread (which therefore may read it without the mutex, as it does
 * when handing it to the sender). The sender has its own lock, taken only
 * from the stream's streaming thread and from the readers' threads, never
 * under the stream's mutex.
 */
#pragma once

#include "gwgop.h"
#include "gwsender.h"

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GwStream GwStream;

/* Creates the tee in @bin, named @name (may be NULL), links @upstream to it
 * and syncs its state with @bin. Returns NULL (with a warning) if linking
 * fails. The caller owns one reference. */
GwStream *gw_stream_new (GstBin *bin, GstPad *upstream, const gchar *name);

GwStream *gw_stream_ref (GwStream *stream);
void gw_stream_unref (GwStream *stream);
/* The owner's unref: the tee stays in the bin and goes with it. */
void gw_stream_free (GwStream *stream);

/* The tee's sink pad's current caps, or NULL before the first caps. */
GstCaps *gw_stream_get_caps (GwStream *stream);

/* The kept keyframe, for a picture of the stream without a decoder running
 * beside it (snapshots): a sample holding the access unit that starts the
 * kept GOP, with the stream's last parameter sets in front if it does not
 * carry its own, and the stream's current caps. Its buffer is a new ref
 * on the kept one (its memory is shared: read it, do not write it), so
 * the GOP is neither copied nor held. NULL while no GOP is kept (before
 * the first keyframe, after new caps, a flush, or a GOP over the bounds of
 * gwgop.h) and for streams without keyframes (audio). Any thread but the
 * stream's streaming thread; takes the stream's mutex briefly. Free with
 * gst_sample_unref. */
GstSample *gw_stream_get_keyframe (GwStream *stream);

/* The stream's shared sender (a new ref). */
GwSender *gw_stream_get_sender (GwStream *stream);

/* Attaches a branch's sink pad @sink: see above. Call it once the branch
 * owning @sink is in its parent's state. Returns FALSE if the link fails
 * (the tee pad is then released). */
gboolean gw_stream_attach (GwStream *stream, GstPad *sink);

/* For a branch that accepted the attach query: links @sink to the tee from
 * now on; its first buffers are the kept GOP. Idempotent. FALSE if @sink is
 * not attached or the link fails. */
gboolean gw_stream_feed (GwStream *stream, GstPad *sink);

/* Detaches @sink (unlinking it from the tee from an IDLE probe, if linked).
 * If @branch is not NULL and none of its sink pads is attached to a stream
 * any more once this is done, @branch is set to NULL and removed from its
 * parent bin from a GStreamer helper thread (gst_element_call_async), never
 * from a streaming thread. A branch attached to several streams (video and
 * audio) is so removed once, after its last pad is detached. @branch's state
 * is locked at once, so its parent's state changes no longer reach it.
 * Returns FALSE if @sink was not attached. */
gboolean gw_stream_detach (GwStream *stream, GstPad *sink, GstElement *branch);

/* Number of attached branches' pads (linked to the tee or not). */
guint gw_stream_get_n_attached (GwStream *stream);

/* Number of attached pads the tee feeds (the others get events only). */
guint gw_stream_get_n_fed (GwStream *stream);

/* For a branch's sink pad (a QUERY_DOWNSTREAM probe or query function): if
 * @query is a stream's attach query, answers it ("I decide when to be fed")
 * and returns the stream (a new ref); else NULL. */
GwStream *gw_stream_accept_attach (GstQuery *query);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GwStream, gw_stream_free)

G_END_DECLS
