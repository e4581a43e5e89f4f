/* GwSender: the per-viewer work of one stream: SRTP and sending.
 *
 * One per stream object (gwstream.h), fed by it from its streaming thread
 * before the tee. Its packetizer (gwpacketizer.h) cuts each buffer into RTP
 * payloads once; then, for every connected viewer, the sender copies each
 * packet, writes that viewer's payload type, SSRC, sequence number and
 * timestamp base, protects it with the viewer's SRTP keys (libsrtp) and sends
 * it on the socket ICE selected for that viewer, all packets of a frame in
 * as few sendmmsg() calls as fit. All in the stream's streaming thread: no
 * thread, queue or element per viewer and per packet.
 *
 * Each viewer's webrtcbin still does what it is good at — SDP, ICE (including
 * consent checks on the same socket), DTLS, RTCP. A viewer joining mid-GOP
 * starts from the stream's kept GOP (gwgop.h), passed in with each buffer and
 * sent first, retimed to just before the live frame; the sender keeps no
 * frames of its own.
 *
 * Threads and locks: gw_sender_handle_* run on the stream's streaming thread;
 * add/remove/get_n_viewers from any thread. One mutex guards the viewers and
 * the packetizer; it is held while packets are protected and sent (sendmmsg
 * is non-blocking) and never while calling out of the sender. Removal returns
 * once the sender no longer uses the viewer's socket.
 */
#pragma once

#include "gwgop.h"

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
/* The stream, from its streaming thread: each buffer with the stream's GOP
 * as kept so far (@buf already in it, if kept; may be NULL), and the events
 * (caps). */
void gw_sender_handle_buffer (GwSender *sender, GstBuffer *buf, const GwGop *gop);
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

G_END_DECLS
