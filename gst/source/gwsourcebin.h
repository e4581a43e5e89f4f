/* gwsourcebin: the shared upstream of one camera or path.
 *
 * Pulls one source, either an RTSP URL ("location", rtsp:// or rtsps://) or a
 * gst-launch description ("pipeline") whose unlinked src pads are encoded
 * streams, and exposes one sometimes src pad per elementary stream:
 *
 *   video_%u  video/x-h264 | video/x-h265, stream-format=byte-stream,
 *             alignment=au (parameter sets in front of every keyframe)
 *   audio_%u  audio/x-opus | audio/x-mulaw | audio/x-alaw
 *
 * Streams of other codecs are ignored with a warning. An unlinked pad drops
 * its data (it never stops the other pads).
 *
 * The element hides camera trouble: the client chain runs in an inner
 * pipeline owned by the element; when it fails, ends (or one of its streams
 * ends) or goes silent for "timeout" ms, it is torn down and rebuilt after a
 * backoff ("retry-initial" doubling up to "retry-max"), while the pads stay
 * linked and downstream never sees EOS nor an error. Timestamps continue
 * monotonically across reconnects (each connection keeps its own frame
 * spacing, rebased onto the pipeline's running time). Pads appear on the
 * first successful connection and stay until the element is disposed; a
 * reconnect feeds the same pads (matched by kind, codec and order);
 * "no-more-pads" is emitted once the first connection has exposed all its
 * streams.
 *
 * The source runs only in PLAYING: it connects on PAUSED->PLAYING and
 * disconnects on PLAYING->PAUSED. It is live (READY->PAUSED returns
 * NO_PREROLL) and reports "latency" ms of latency. Like a demuxer's,
 * "pad-added" and "no-more-pads" are emitted from a streaming thread (or the
 * element's own thread): link there, but never block it on the thread that
 * changes the element's state. State changes return at once, except
 * READY->NULL, which waits for the current connection's teardown (rtspsrc
 * cancels a pending connect; a few ms in practice).
 *
 * Bus messages: an element message named "gwsourcebin-state" for each state
 * change, with fields
 *   state        G_TYPE_STRING  "connecting", "streaming", "retrying", "stopped"
 *   attempt      G_TYPE_UINT    1-based number of the connection attempt
 *                               since the start or since the last connection
 *                               that delivered data ("retrying": the attempt
 *                               that failed; "stopped": 0)
 *   error        G_TYPE_STRING  "retrying" only: why, without any password
 *   retry-in-ms  G_TYPE_UINT    "retrying" only: delay before the next attempt
 *
 * Passwords (in the URL or "user-pw") are never logged nor put in messages:
 * every URL shown has its password replaced by "***" (reading "location"
 * back too; "user-pw" is write-only).
 *
 * Bad settings (no source, both sources, a location that is not an RTSP URL,
 * a description that does not parse or has no usable output) fail NULL->READY
 * with an element error.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GW_TYPE_SOURCE_BIN (gw_source_bin_get_type ())
G_DECLARE_FINAL_TYPE (GwSourceBin, gw_source_bin, GW, SOURCE_BIN, GstBin)

/* Lower transports tried for RTSP ("protocols"). */
typedef enum
{
  GW_SOURCE_BIN_PROTOCOLS_AUTO, /* UDP first, then TCP if no data arrives */
  GW_SOURCE_BIN_PROTOCOLS_TCP,  /* RTP interleaved in the RTSP connection */
  GW_SOURCE_BIN_PROTOCOLS_UDP,  /* RTP over UDP (unicast or multicast) */
} GwSourceBinProtocols;

#define GW_TYPE_SOURCE_BIN_PROTOCOLS (gw_source_bin_protocols_get_type ())
GType gw_source_bin_protocols_get_type (void);

/* The read-only "state"; the nicks are the "state" strings of the messages. */
typedef enum
{
  GW_SOURCE_BIN_STATE_STOPPED,
  GW_SOURCE_BIN_STATE_CONNECTING,
  GW_SOURCE_BIN_STATE_STREAMING,
  GW_SOURCE_BIN_STATE_RETRYING,
} GwSourceBinState;

#define GW_TYPE_SOURCE_BIN_STATE (gw_source_bin_state_get_type ())
GType gw_source_bin_state_get_type (void);

/* Returns @url with the password of its user info replaced by "***" (and
 * nothing else changed); a copy of @url if it has none. NULL for NULL. */
gchar *gw_source_bin_redact_url (const gchar *url);

G_END_DECLS
