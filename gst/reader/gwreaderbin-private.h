/* gwreaderbin-private.h: what the files of gwreaderbin share, and nothing
 * else may use. Calls go one way only (no file calls back into one that
 * calls it):
 *   gwreaderbin.cpp        the element: pads, properties, signals,
 *                          peer-connection state, bin overrides; calls the
 *                          three below;
 *   gwreadernegotiate.cpp  the payloaders and the answer/offer flows that
 *                          drive webrtcbin; calls gwreaderice.cpp;
 *   gwreadershared.cpp     once connected: each stream sent by its stream's
 *                          shared sender, or fed by the stream's tee to its
 *                          own send path; calls gwreaderice.cpp;
 *   gwreaderice.cpp        ICE settings, and the selected pair's socket.
 *
 * Locking: structure_lock (below) orders building the bin against its state
 * changes. The object lock protects the streams array, the properties, the
 * negotiation fields and the per-stream sending fields. It is never held
 * while emitting a signal, changing an element's state, linking, or calling
 * into webrtcbin, a stream (gwstream.h) or a sender (gwsender.h).
 * Threads: action signals come from the caller's thread; webrtcbin's signals
 * and notifies from its own threads; input events from the stream's
 * streaming thread.
 */
#pragma once

#include "gwreaderbin.h"
#include "gwkeyframegate.h"
#include "gwsdp.h"
#include "gwsender.h"
#include "gwstream.h"

#include <gst/webrtc/webrtc.h>
#include <sys/socket.h>

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
  /* Answer flow (object lock): the offer placed the stream on m-line
   * @mline; FALSE when it could not take it. */
  gboolean placed;
  guint mline;
  /* The stream object feeding this pad, when it attached us through its
   * query (object lock; a ref): it gives us its events until we ask it for
   * buffers (gw_stream_feed). NULL when linked to anything else, which then
   * feeds us from the start. */
  GwStream *stream;
  /* How the packets go out (atomic): SEND_UNDECIDED until connected;
   * SEND_SHARED while the stream's shared sender sends them (our queue,
   * gate and payloader get no buffers); SEND_OWN through our queue, gate,
   * payloader and webrtcbin, fed by the stream's tee. */
  gint send_mode;
  GwSender *sender; /* object lock; the stream's, when shared (a ref) */
  guint sender_id;  /* object lock; 0 when not registered */
  gint registering; /* atomic: the shared sender was tried (once) */
  gint fed;         /* atomic: our own path was started (once) */
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
  /* webrtcbin's DTLS-SRTP encoder, once it said its keys are set
   * ("on-key-set"): a ref, object lock. */
  GstElement *keyed_encoder;

  NegState neg;
  gboolean offerer;
  GstSDPMessage *pending_offer; /* remote offer waiting for input caps */
  GstPromise *promise;          /* the caller's promise being answered */
  GstClockID timer;             /* caps or gathering time limit */
  gint answered;                /* atomic: caller's promise replied */

  /* Held while children are added and linked, and across every state change
   * of the bin: GstBin sorts its children for a state change and takes a link
   * made during the sort for a loop in the graph. Taken before the object
   * lock, never while emitting a signal or replying to a promise. */
  GMutex structure_lock;
  gboolean stopping; /* structure_lock: left PAUSED, build nothing more */
  /* Why each stream the answer does not send is left out (gchar*, for
   * people; given with the answer). */
  GPtrArray *dropped;
  /* Promises given to webrtcbin (GstPromise*, refs), until it has stopped;
   * calls not answered yet, calls being emitted; no more calls once the
   * reader stops. Object lock. */
  GPtrArray *calls;
  guint calls_pending;
  guint calls_emitting;
  GCond calls_cond;
  gboolean calls_closed;
};

/* ---- gwreaderice.cpp */

/* Gives webrtcbin the STUN/TURN servers, ports and addresses of the
 * properties. Before the first send pad is requested. */
void gw_reader_bin_apply_ice_config (GwReaderBin *self);
/* The socket (owned by the ICE agent) and remote address of the pair ICE
 * selected for the transport of @webrtc_pad; FALSE with @error if there is
 * none or it is relayed (TURN). Any thread. */
gboolean gw_reader_bin_selected_pair (GwReaderBin *self, GstPad *webrtc_pad, int *fd,
                                      struct sockaddr_storage *remote, guint *remote_len,
                                      GError **error);

/* ---- gwreadershared.cpp */

/* A QUERY_DOWNSTREAM probe on each input pad: takes the attach query of a
 * stream object (gwstream.h). */
GstPadProbeReturn gw_reader_bin_on_input_query (GstPad *pad, GstPadProbeInfo *info,
                                                gpointer stream);
/* Connected, or the DTLS keys just set: each negotiated stream is sent by
 * its stream's shared sender (ICE socket and SRTP keys from webrtcbin) if it
 * can be, else by our own path, fed by the stream's tee from now on, its gate
 * waiting for the keyframe the stream gives first. Waits (returns, to be
 * called again) while connected without keys. Any thread, never with a lock. */
void gw_reader_bin_start_sending (GwReaderBin *self);
/* webrtcbin's DTLS-SRTP encoder set its keys ("on-key-set"). */
void gw_reader_bin_on_key_set (GstElement *encoder, gpointer weak_self);
/* Unregisters every stream from its sender; after it, no socket of ours is
 * used by a sender. */
void gw_reader_bin_stop_shared (GwReaderBin *self);

/* ---- gwreadernegotiate.cpp */

/* Cancels the pending caps or gathering time limit, if any. */
void gw_reader_bin_cancel_timer (GwReaderBin *self);
/* The bin left PAUSED: cancels the time limit and fails a negotiation still
 * in progress (its caller gets an error now). */
void gw_reader_bin_stop_negotiation (GwReaderBin *self);
/* The reader stops: no more calls on webrtcbin; waits at most @timeout_us
 * for the ones made to be answered (webrtcbin must not be stopped while it
 * works on one: a transport it creates then can be left running). TRUE if
 * all were. */
gboolean gw_reader_bin_close_calls (GwReaderBin *self, gint64 timeout_us);
/* webrtcbin has stopped: the promises given to it that it never replied
 * to are expired (their callbacks see it), and all are released. */
void gw_reader_bin_release_calls (GwReaderBin *self);
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
