/* gwsink-private.h: what the two halves of gwsink share, and nothing else
 * may use:
 *   gwsink.cpp         the element: pads and the elements behind them,
 *                      properties, state changes, bus filtering;
 *   gwsinkviewers.cpp  the viewers: the WHEP handlers, one gwreaderbin per
 *                      viewer, the jobs that bring its replies and signals to
 *                      the HTTP thread, and starting/stopping that server.
 *
 * Threads: the HTTP endpoint (gwwhepserver.h) runs on its own thread and
 * main context, started on NULL→READY and stopped on READY→NULL. Viewers are
 * created, answered and removed on that thread only. gwreaderbin replies and
 * signals arrive on GStreamer threads and are marshalled to it as Jobs
 * holding a weak ref on the element.
 *
 * Locking: priv->lock protects the fields marked so. It is a leaf lock:
 * nothing is called while it is held except gw_whep_server_schedule (no
 * signal, no state change, no libsoup or GStreamer call).
 */
#pragma once

#include "gwsink.h"
#include "gwstream.h"
#include "gwplayerpage.h"
#include "gwreaderbin.h"
#include "gwsdp.h"
#include "gwwhepserver.h"

#include <gst/webrtc/webrtc.h>
#include <libsoup/soup.h>
#include <string.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

/* A function, not a shared global: the plugin module and a program linking
 * the elements' static library would otherwise both define the variable. */
GstDebugCategory *gw_sink_debug_category (void);
#define GST_CAT_DEFAULT gw_sink_debug_category ()

#define DEFAULT_ADDRESS "0.0.0.0"
#define DEFAULT_PORT 8889

/* A named namespace, not an anonymous one: both files see these types. */
namespace gwsink {

/* One sink pad and the elements behind it (refs held: the bin may drop its
 * own first, in dispose). */
struct Input
{
  std::string name;
  bool video = false;
  GstPad *ghost = nullptr;            /* the element's pad, borrowed */
  std::vector<GstElement *> elements; /* capsfilter, clocksync, fakesink, tee */
  GwStream *fanout = nullptr;

  ~Input ()
  {
    gw_stream_free (fanout);
    for (GstElement *e : elements)
      gst_object_unref (e);
  }
};
typedef std::shared_ptr<Input> InputPtr;

struct ViewerPad
{
  InputPtr input;
  GstPad *pad; /* the reader's request pad, ref */
};

/* One WHEP session. Apart from the immutable id and sink, its fields are
 * touched only on the HTTP thread, or by stop_server once that has ended. */
struct Viewer
{
  GwSink *sink = nullptr; /* borrowed: viewers go before the element */
  std::string id;
  std::string remote;
  GstElement *reader = nullptr; /* ref */
  std::vector<ViewerPad> pads;
  std::vector<std::string> mids; /* the offer's a=mid, by m-line */
  std::vector<gulong> reader_handlers;
  bool joined = false;
  /* The POST waiting for the answer, and whether its client left. */
  GwWhepPending *pending = nullptr;
  bool client_gone = false;
  GSource *answer_timer = nullptr;
  GSource *disconnect_timer = nullptr;

  ~Viewer ()
  {
    for (ViewerPad &p : pads)
      gst_object_unref (p.pad);
    if (reader)
      gst_object_unref (reader);
    gw_whep_pending_free (pending);
    for (GSource *s : { answer_timer, disconnect_timer }) {
      if (s) {
        g_source_destroy (s);
        g_source_unref (s);
      }
    }
  }
};
typedef std::shared_ptr<Viewer> ViewerPtr;

enum JobKind
{
  JOB_ANSWER,
  JOB_READER_ERROR,
  JOB_CONNECTION_STATE,
  JOB_CLIENT_GONE,
  JOB_ANSWER_TIMEOUT,
  JOB_DISCONNECT_TIMEOUT,
};

/* Work for the HTTP thread about one viewer. Also the user data of the
 * reader's signals and of the offer promise (which make new jobs from it). */
struct Job
{
  GWeakRef sink;
  std::string id;
  JobKind kind;
  GstStructure *reply = nullptr; /* JOB_ANSWER; NULL: no reply */
  GError *error = nullptr;       /* JOB_READER_ERROR */
  gint state = 0;                /* JOB_CONNECTION_STATE */

  Job (GwSink *self, const std::string &viewer_id, JobKind k) : id (viewer_id), kind (k)
  {
    g_weak_ref_init (&sink, self);
  }
  ~Job ()
  {
    g_weak_ref_clear (&sink);
    if (reply)
      gst_structure_free (reply);
    g_clear_error (&error);
  }
};

/* ---- gwsinkviewers.cpp */

/* Runs @job (taken) on the HTTP thread after @delay_ms (0: soon). Returns a
 * ref on the source when @keep, for cancelling; NULL if the server is not
 * running (the job is dropped). */
GSource *post_job (GwSink *self, Job *job, guint delay_ms, bool keep);
/* Starts the HTTP server (NULL→READY); FALSE after posting an error. */
gboolean start_server (GwSink *self);
/* Stops the HTTP server and removes every viewer (READY→NULL, dispose). */
void stop_server (GwSink *self);

/* ---- gwsink.cpp */

/* The properties, by id. */
enum
{
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_BOUND_PORT,
  PROP_STUN_SERVER,
  PROP_TURN_SERVERS,
  PROP_ICE_ADDRESSES,
  PROP_MIN_PORT,
  PROP_MAX_PORT,
  PROP_MAX_VIEWERS,
  PROP_VIEWERS,
  PROP_SYNC,
  N_PROPS
};

/* Notifies the property @prop_id (PROP_VIEWERS, PROP_BOUND_PORT) changed. */
void notify_property (GwSink *self, guint prop_id);

} /* namespace gwsink */

struct GwSinkPrivate
{
  /* Held for a whole pad request: gst-launch links the pads of a source
   * from several streaming threads at once, and two requests must not pick
   * the same free name (whose elements would then collide). Taken before
   * `lock`, never while it is held. */
  std::recursive_mutex request_lock;
  std::mutex lock;

  /* Properties, under lock. */
  std::string address = DEFAULT_ADDRESS;
  guint port = DEFAULT_PORT;
  std::string stun_server, turn_servers, ice_addresses;
  guint min_port = 0, max_port = 0, max_viewers = 0;
  bool sync = false;

  /* Under lock. */
  std::vector<gwsink::InputPtr> inputs;
  std::map<std::string, gwsink::ViewerPtr> viewers; /* pending and joined */
  guint n_joined = 0;
  guint bound_port = 0;
  GwWhepServer *http = nullptr; /* while serving: set and cleared by start/stop */
  bool accepting = false;
};

struct _GwSink
{
  GstBin parent;
  GwSinkPrivate *priv;
};
