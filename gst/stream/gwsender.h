/* GwSender: the per-packet work of every viewer of one stream, done once.
 *
 * One per fan-out (per stream of a path or of a gwsink input), fed from the
 * tee's sink pad before the tee. It packetizes the encoded stream into RTP once (H.264
 * packetization-mode 1, Opus, PCMU, PCMA) and, for every connected viewer,
 * copies each packet, rewrites its payload type, SSRC, sequence number and
 * timestamp base, protects it with the viewer's SRTP keys and sends it on the
 * socket ICE selected for that viewer, all packets of a NAL unit in one
 * sendmmsg(). All in the stream's own streaming thread: no thread, queue or
 * element per viewer and per packet.
 *
 * Each viewer's webrtcbin still does what it is good at — SDP, ICE (including
 * consent checks on the same socket), DTLS, RTCP — and its own send path stays
 * idle. A viewer joining starts at the latest keyframe: the packets since it
 * are kept and sent first, retimed to just before the live packet.
 *
 * Thread-safe: viewers are added and removed from any thread; removal returns
 * once the sender no longer uses the viewer's socket.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GwSender GwSender;

/* What one viewer needs from its negotiation to be sent to. */
typedef struct
{
  guint32 ssrc;
  guint8 pt;
  /* SRTP master key and salt from the DTLS handshake (30 bytes for the
   * AES-128 profiles), and whether the tag is 80 bits (else 32). */
  const guint8 *key;
  gsize key_len;
  gboolean auth_80;
  /* The selected ICE pair: the local socket's descriptor (stays owned by
   * the ICE agent) and the remote address. */
  int fd;
  const struct sockaddr *remote;
  guint remote_len;
} GwSenderViewer;

GwSender *gw_sender_new (void);
/* The stream, from its streaming thread: each buffer, and the events
 * (caps, flushes, stream starts). */
void gw_sender_handle_buffer (GwSender *sender, GstBuffer *buf);
void gw_sender_handle_event (GwSender *sender, GstEvent *event);

GwSender *gw_sender_ref (GwSender *sender);
void gw_sender_unref (GwSender *sender);

/* Starts sending to a viewer; returns its id (> 0), or 0 with @error set if
 * the stream is not one the sender can packetize or the keys are refused. */
guint gw_sender_add (GwSender *sender, const GwSenderViewer *viewer, GError **error);
/* Stops sending to viewer @id; when it returns, its socket is no longer used. */
void gw_sender_remove (GwSender *sender, guint id);
/* Viewers being sent to. */
guint gw_sender_get_n_viewers (GwSender *sender);

/* The sender of the fan-out a reader's sink pad @pad is attached to, or NULL
 * (a plain tee, or no sender). Returns a new ref. */
GwSender *gw_sender_from_pad (GstPad *pad);
/* Used by gwfanout: marks @pad as fed by @sender (NULL to clear). */
void gw_sender_mark_pad (GstPad *pad, GwSender *sender);

G_END_DECLS
