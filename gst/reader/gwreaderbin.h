/* gwreaderbin: one WebRTC viewer.
 *
 * Request sink pads video_%u / audio_%u take parsed elementary streams
 * (video/x-h264 or video/x-h265 stream-format=byte-stream alignment=au;
 * audio/x-opus; audio/x-mulaw; audio/x-alaw). Per pad: a bounded leaky
 * queue, a keyframe gate (video), then, once the session is negotiated, a
 * payloader configured from the SDP (payload type, the codec's fmtp fields,
 * config-interval=-1, MTU 1200) feeding webrtcbin.
 *
 * Attached by a gw stream object (gwstream.h: gwsink, the gateway), a pad
 * answers the stream's attach query and gets only the stream's events (its
 * caps, for negotiation) until the viewer is connected; then the stream's
 * shared sender sends its packets (shared-sender=true, a direct ICE pair, an
 * AES-128 SRTP profile), or it asks the stream to feed it and its own path
 * sends them, starting from the stream's kept GOP. Linked to anything else,
 * it is fed from the start and its own path sends once connected.
 *
 * The bin speaks SDP and ICE, never HTTP:
 *
 *  Action signals (call with g_signal_emit_by_name):
 *   "handle-offer"  (const gchar *offer_sdp, GstPromise *promise)
 *       WHEP flow: applies a remote offer and replies @promise with a
 *       structure named "gw-answer" holding "sdp" (G_TYPE_STRING, the answer
 *       with the gathered local candidates) or "error" (G_TYPE_ERROR). When
 *       the answer leaves out some of the input streams (the offer takes
 *       none of their codecs), it also holds "dropped" (G_TYPE_STRV): for
 *       each, its pad, codec and why, for a warning. No stream at all gives
 *       GW_READER_ERROR_NO_COMMON_CODEC naming the streams' codecs and the
 *       offer's.
 *   "create-offer"  (GstPromise *promise)
 *       Websocket flow: replies with "gw-offer" holding "sdp" or "error".
 *   "set-answer"    (const gchar *answer_sdp, GstPromise *promise)
 *       Applies the remote answer to our offer; replies "gw-result" with
 *       nothing or "error", and "dropped" (as above) when the answer does
 *       not receive some of the streams.
 *   "add-ice-candidate" (guint mline, const gchar *candidate)
 *       A remote trickle candidate ("candidate:..." or "a=candidate:...");
 *       an empty string marks the end of candidates.
 *
 *  Signals:
 *   "ice-candidate" (guint mline, const gchar *candidate) — a local candidate,
 *       emitted from a GStreamer thread.
 *   "reader-error"  (GError *error) — this reader failed; the element never
 *       posts an ERROR on the bus for it, so the pipeline lives on. Emitted from
 *       a GStreamer thread.
 *   "notify::connection-state" — the peer connection state changed.
 *
 * Every promise reply and signal may come from a GStreamer thread: marshal to
 * your own context before touching state that is not thread-safe.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GW_TYPE_READER_BIN (gw_reader_bin_get_type ())
G_DECLARE_FINAL_TYPE (GwReaderBin, gw_reader_bin, GW, READER_BIN, GstBin)

/* Quark of the GError domain used in "gw-answer"/"gw-offer"/"reader-error". */
#define GW_READER_ERROR (gw_reader_error_quark ())
GQuark gw_reader_error_quark (void);

typedef enum
{
  /* The offer could not be parsed. */
  GW_READER_ERROR_BAD_SDP,
  /* The offer has no media we can serve (no matching codec). */
  GW_READER_ERROR_NO_COMMON_CODEC,
  /* Negotiation failed inside webrtcbin. */
  GW_READER_ERROR_NEGOTIATION,
  /* ICE or DTLS failed, or the peer went away. */
  GW_READER_ERROR_CONNECTION,
  /* Called in the wrong order (e.g. a second offer). */
  GW_READER_ERROR_STATE,
} GwReaderError;

/* Makes the process's DTLS certificate now (a fraction of a second) instead
 * of when the first viewer connects, when every viewer answered meanwhile
 * would wait for it. Idempotent; servers call it at start-up, gwsink when it
 * starts. */
void gw_reader_bin_prepare (void);

/* Waits at most @timeout_us until no gwreaderbin of this process is alive
 * (a removed reader finishes its teardown on a GStreamer helper thread).
 * TRUE when none is; for a clean exit. Any thread but a GStreamer one. */
gboolean gw_reader_bin_wait_all_gone (gint64 timeout_us);

G_END_DECLS
