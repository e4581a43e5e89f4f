/* gwreaderbin-private.h: what the two halves of gwreaderbin share, and
 * nothing else may use:
 *   gwreaderbin.cpp        the element: pads, properties, signals, ICE
 *                          settings, peer-connection state, bin overrides;
 *   gwreadernegotiate.cpp  the payloaders and the answer/offer flows that
 *                          drive webrtcbin.
 *
 * Locking: the object lock protects the streams array, the properties and the
 * negotiation fields. It is never held while emitting a signal, changing an
 * element's state, or calling into webrtcbin.
 */
#pragma once

#include "gwreaderbin.h"
#include "gwkeyframegate.h"
#include "gwsdp.h"
#include "gwsender.h"

#include <gst/webrtc/webrtc.h>

/* A function, not a shared global: the plugin module and a program linking
 * the elements' static library would otherwise both define the variable. */
GstDebugCategory *gw_reader_bin_debug_category (void);
#define GST_CAT_DEFAULT gw_reader_bin_debug_category ()

typedef struct
{
  GwReaderBin *self; /* owner, borrowed */
  gchar *name;
  gboolean video;
  GstPad *ghost;      /* owned by the element */
  GstElement *queue;  /* children of the bin, a ref held each so */
  GstElement *gate;   /* release_pad works after the bin's dispose */
  GstElement *pay;    /* NULL until negotiated */
  GstPad *webrtc_pad; /* requested webrtcbin pad, ref held */
  GstCaps *caps;      /* input caps, NULL until they arrive */
  GstCaps *rtp_caps;  /* what we send, fixed at negotiation */
  /* How the packets go out (atomic): SEND_UNDECIDED until the first buffer
   * or the connection; SEND_SHARED while the fan-out's shared sender sends
   * them (our input is then dropped at the door); SEND_OWN through our
   * queue, gate, payloader and webrtcbin. */
  gint send_mode;
  GwSender *sender; /* object lock; the fan-out's, when shared */
  guint sender_id;  /* object lock; 0 when not registered */
} Stream;

enum
{
  SEND_UNDECIDED,
  SEND_SHARED,
  SEND_OWN,
};

typedef enum
{
  NEG_IDLE,
  NEG_WAIT_CAPS,
  NEG_RUNNING,
  NEG_DONE,
  NEG_FAILED,
} NegState;

struct _GwReaderBin
{
  GstBin parent;

  GstElement *webrtcbin; /* child, with our own ref (outlives the bin's dispose) */

  /* Protected by the object lock. */
  GPtrArray *streams; /* Stream* */
  guint next_video, next_audio;
  gchar *stun_server;
  gchar *turn_servers;
  gchar *ice_addresses;
  guint min_port, max_port;
  guint64 max_queue_time;
  guint gather_timeout;
  guint caps_timeout;
  gboolean shared_sender;
  GstWebRTCPeerConnectionState connection_state;

  NegState neg;
  gboolean offerer;
  GstSDPMessage *pending_offer; /* remote offer waiting for input caps */
  GstPromise *promise;          /* the caller's promise being answered */
  GstClockID timer;             /* caps or gathering time limit */
  gint answered;                /* atomic: caller's promise replied */
};

/* ---- gwreaderbin.cpp */

/* Gives webrtcbin the STUN/TURN servers, ports and addresses of the
 * properties. Before the first send pad is requested. */
void gw_reader_bin_apply_ice_config (GwReaderBin *self);

/* ---- gwreadershared.cpp */

/* Decides, once, whether @st's packets go through its fan-out's shared
 * sender; returns the mode (SEND_SHARED or SEND_OWN). Any thread. */
gint gw_reader_bin_decide_send (GwReaderBin *self, Stream *st);
/* Connected: registers the shared streams with their senders (ICE socket
 * and SRTP keys from webrtcbin). A stream that cannot be shared falls back
 * to its own path; returns whether any stream did. */
gboolean gw_reader_bin_start_shared (GwReaderBin *self);
/* Unregisters every stream from its sender; after it, no socket of ours is
 * used by a sender. */
void gw_reader_bin_stop_shared (GwReaderBin *self);

/* ---- gwreadernegotiate.cpp */

/* Cancels the pending caps or gathering time limit, if any. */
void gw_reader_bin_cancel_timer (GwReaderBin *self);
/* Runs once every input has caps: builds the send paths and drives webrtcbin.
 * Never on a streaming thread. */
void gw_reader_bin_try_negotiate (GwReaderBin *self);
/* webrtcbin's notify::ice-gathering-state: sends the answer when complete. */
void gw_reader_bin_on_gathering_state (GstElement *webrtc, GParamSpec *pspec, GwReaderBin *self);

/* Class handlers of the action signals (see gwreaderbin.h). */
void gw_reader_bin_handle_offer (GwReaderBin *self, const gchar *sdp, GstPromise *promise);
void gw_reader_bin_create_offer (GwReaderBin *self, GstPromise *promise);
void gw_reader_bin_set_answer (GwReaderBin *self, const gchar *sdp, GstPromise *promise);
void gw_reader_bin_add_ice_candidate (GwReaderBin *self, guint mline, const gchar *candidate);
