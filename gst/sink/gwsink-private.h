/* gwsink-private.h: what the two halves of gwsink share, and nothing else
 * may use:
 *   gwsink.cpp         the element: pads and the elements behind them,
 *                      properties, state changes, bus filtering;
 *   gwsinkviewers.cpp  the viewers: the WHEP session factory, the host that
 *                      links each viewer's reader to the inputs, and
 *                      starting/stopping the HTTP server.
 *
 * Threads: the HTTP server (gwwhepserver.h) runs the shared WHEP endpoint
 * (gwwhep.h) on its own thread and main context, started on NULL→READY and
 * stopped on READY→NULL. Viewers are sessions (gwsession.h) created,
 * answered and removed on that thread only (or by stop_server once it has
 * ended); gwreaderbin replies and signals are marshalled to it by the
 * session, with a weak ref.
 *
 * Locking: priv->lock protects the fields marked so. It is a leaf lock:
 * nothing is called while it is held (no signal, no state change, no
 * libsoup or GStreamer call).
 */
#pragma once

#include "gwsink.h"
#include "gwstream.h"
#include "gwplayerpage.h"
#include "gwreaderbin.h"
#include "gwsdp.h"
#include "gwsession.h"
#include "gwwhep.h"
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
  std::vector<GstElement *> elements; /* capsfilter, clocksync, fakesink, tee, parser */
  /* Whether its parser (or none) is chosen: at the request if the caps
   * name the codec, else when the pad is linked. Under request_lock. */
  bool parser_chosen = false;
  GwStream *fanout = nullptr;

  ~Input ()
  {
    gw_stream_free (fanout);
    for (GstElement *e : elements)
      gst_object_unref (e);
  }
};
typedef std::shared_ptr<Input> InputPtr;

/* One WHEP viewer: a session on the HTTP thread. The table holds it from
 * its offer until its session closes. */
struct Viewer
{
  std::shared_ptr<gw::ReaderSession> session;
  std::string remote;
  GstElement *reader = nullptr; /* borrowed from the session, under lock */
  bool joined = false;          /* under lock */
};
typedef std::shared_ptr<Viewer> ViewerPtr;

class Viewers;

/* ---- gwsinkviewers.cpp */

/* A viewer's reader posted @error on the bus (any thread): that viewer
 * fails alone. */
void fail_viewer (GwSink *self, GstElement *reader, const GError *error);
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
  GwWhepServer *http = nullptr;         /* while serving: set and cleared by start/stop */
  GMainContext *http_context = nullptr; /* the HTTP thread's, while serving */
  /* The factory and host of the viewers' sessions, while serving. */
  std::shared_ptr<gwsink::Viewers> sessions;
  bool accepting = false;
};

struct _GwSink
{
  GstBin parent;
  GwSinkPrivate *priv;
};
