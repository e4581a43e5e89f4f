/* gwsourcebin: the shared upstream of one camera or path (see gwsourcebin.h).
 *
 * Design, in three pieces:
 *  - this file: the element: settings, validation, state changes, and the
 *    outputs: appsrc (is-live, format=time) --ghost--> video_%u / audio_%u,
 *    children of the bin, created when a stream first appears and reused by
 *    every later connection;
 *  - gw::Attempt (gwsourceattempt.cpp): one connection: an inner GstPipeline
 *    (rtspsrc or the description, never a child of the bin) with a
 *    depay/parse/appsink chain per stream, feeding the outputs with rebased
 *    timestamps;
 *  - gw::Supervisor (gwsourcesupervisor.cpp): the reconnect loop, on a
 *    thread of its own that watches the inner bus, tears attempts down and
 *    retries with backoff. Inner errors and EOS never reach the outer bus.
 * The application's thread only queues start/stop for the supervisor; it waits
 * for it on READY->NULL only, for the last attempt's teardown.
 *
 * Locking: priv->lock protects settings, running, adders, next_index,
 * no_more_pads, state, warned; priv->outputs.lock (taken after it) protects
 * the outputs (gwsourceattempt.h). No lock is held while emitting a signal,
 * posting, pushing or changing a state.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsourcebin.h"

#include "gwsourceattempt.h"
#include "gwsourcesupervisor.h"
#include "gwurl.h"

#include <gst/app/app.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>

GST_DEBUG_CATEGORY_STATIC (gw_source_bin_debug);
#define GST_CAT_DEFAULT gw_source_bin_debug

/* For gwsourceattempt.cpp and gwsourcesupervisor.cpp: a function, not a
 * shared global, which the plugin module and a program linking the static
 * library would both define. */
GstDebugCategory *gw_source_bin_debug_category (void);
GstDebugCategory *
gw_source_bin_debug_category (void)
{
  return gw_source_bin_debug;
}

#define DEFAULT_PROTOCOLS GW_SOURCE_BIN_PROTOCOLS_AUTO
#define DEFAULT_LATENCY_MS 50
#define DEFAULT_RETRY_INITIAL_MS 1000
#define DEFAULT_RETRY_MAX_MS 30000
#define DEFAULT_TIMEOUT_MS 5000

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_USER_ID,
  PROP_USER_PW,
  PROP_PROTOCOLS,
  PROP_LATENCY,
  PROP_PIPELINE,
  PROP_RETRY_INITIAL,
  PROP_RETRY_MAX,
  PROP_TIMEOUT,
  PROP_STATE,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

namespace {

struct Settings
{
  std::string location, user_id, user_pw, pipeline;
  GwSourceBinProtocols protocols = DEFAULT_PROTOCOLS;
  guint latency_ms = DEFAULT_LATENCY_MS;
  guint retry_initial_ms = DEFAULT_RETRY_INITIAL_MS;
  guint retry_max_ms = DEFAULT_RETRY_MAX_MS;
  guint timeout_ms = DEFAULT_TIMEOUT_MS;
};

/* What the attempts and the supervisor call back into. */
class Host final : public gw::AttemptHost, public gw::SupervisorDelegate
{
public:
  explicit Host (GwSourceBin *self) : self_ (self) {}
  gw::Output *bind_output (gw::Attempt &attempt, const GwCodecInfo &codec) override;
  void stream_ignored (const std::string &what) override;
  void all_streams_exposed () override;
  void first_data (gw::Attempt &attempt) override;
  void stream_ended (gw::Attempt &attempt) override;
  gw::AttemptConfig attempt_config (guint id) override;
  gw::RetryPolicy retry_policy () override;
  void state_changed (GwSourceBinState state, guint attempt, const std::string *error,
                      guint retry_in_ms) override;
  std::string redact (const std::string &text) override;

private:
  GwSourceBin *self_;
};

} // namespace

struct GwSourceBinPrivate
{
  explicit GwSourceBinPrivate (GwSourceBin *self) : host (self) {}

  std::mutex lock;
  std::condition_variable adders_done;
  Settings settings;
  bool running = false;           /* PLAYING: attempts may add outputs */
  guint adders = 0;               /* threads adding an output right now */
  guint next_index[2] = { 0, 0 }; /* video, audio */
  bool no_more_pads = false;
  /* Audio pads of the first connection, added after the video ones (see
   * bind_output); under lock. */
  std::vector<GstPad *> deferred_pads;
  GwSourceBinState state = GW_SOURCE_BIN_STATE_STOPPED;
  std::set<std::string> warned;
  /* READY and up; created and deleted by the thread changing the state */
  gw::Supervisor *supervisor = nullptr;

  gw::OutputSet outputs;
  Host host;
};

struct _GwSourceBin
{
  GstBin parent;
  GwSourceBinPrivate *priv;
};

G_DEFINE_TYPE (GwSourceBin, gw_source_bin, GST_TYPE_BIN);

/* ---- public helpers ------------------------------------------------------ */

gchar *
gw_source_bin_redact_url (const gchar *url)
{
  return url ? g_strdup (gw::redact_urls (url).c_str ()) : nullptr;
}

GType
gw_source_bin_protocols_get_type (void)
{
  static gsize id = 0;
  static const GEnumValue values[]
      = { { GW_SOURCE_BIN_PROTOCOLS_AUTO, "UDP first, TCP if no UDP data arrives", "auto" },
          { GW_SOURCE_BIN_PROTOCOLS_TCP, "TCP (RTP interleaved in the RTSP connection)", "tcp" },
          { GW_SOURCE_BIN_PROTOCOLS_UDP, "UDP only (unicast or multicast)", "udp" },
          { 0, nullptr, nullptr } };
  if (g_once_init_enter (&id))
    g_once_init_leave (&id, g_enum_register_static ("GwSourceBinProtocols", values));
  return id;
}

GType
gw_source_bin_state_get_type (void)
{
  static gsize id = 0;
  static const GEnumValue values[]
      = { { GW_SOURCE_BIN_STATE_STOPPED, "Not running (element below PLAYING)", "stopped" },
          { GW_SOURCE_BIN_STATE_CONNECTING, "Connecting, no data yet", "connecting" },
          { GW_SOURCE_BIN_STATE_STREAMING, "Data is flowing", "streaming" },
          { GW_SOURCE_BIN_STATE_RETRYING, "Failed; waiting to retry", "retrying" },
          { 0, nullptr, nullptr } };
  if (g_once_init_enter (&id))
    g_once_init_leave (&id, g_enum_register_static ("GwSourceBinState", values));
  return id;
}

/* ---- messages ------------------------------------------------------------ */

/* @text with every URL password and every password of the settings hidden. */
static std::string
sanitize (GwSourceBin *self, const std::string &text)
{
  std::string out = gw::redact_urls (text);
  std::lock_guard<std::mutex> g (self->priv->lock);
  const Settings &st = self->priv->settings;
  gw::UrlParts parts;
  if (gw::url_split (st.location, &parts) && parts.has_password) {
    gw::redact_secret (out, parts.password);
    gw::redact_secret (out, gw::url_unescape (parts.password));
  }
  gw::redact_secret (out, st.user_pw);
  return out;
}

static const char *
state_nick (GwSourceBinState state)
{
  switch (state) {
  case GW_SOURCE_BIN_STATE_CONNECTING:
    return "connecting";
  case GW_SOURCE_BIN_STATE_STREAMING:
    return "streaming";
  case GW_SOURCE_BIN_STATE_RETRYING:
    return "retrying";
  default:
    return "stopped";
  }
}

/* Sets "state" and posts "gwsourcebin-state". */
static void
post_state (GwSourceBin *self, GwSourceBinState state, guint attempt,
            const std::string *error = nullptr, guint retry_in_ms = 0)
{
  bool changed;
  {
    std::lock_guard<std::mutex> g (self->priv->lock);
    changed = self->priv->state != state;
    self->priv->state = state;
  }
  GstStructure *s
      = gst_structure_new ("gwsourcebin-state", "state", G_TYPE_STRING, state_nick (state),
                           "attempt", G_TYPE_UINT, attempt, nullptr);
  if (error)
    gst_structure_set (s, "error", G_TYPE_STRING, error->c_str (), "retry-in-ms", G_TYPE_UINT,
                       retry_in_ms, nullptr);
  GST_INFO_OBJECT (self, "%" GST_PTR_FORMAT, s);
  if (changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* ---- outputs (called by the attempts) ------------------------------------ */

/* Our ghost pads swallow NOT_LINKED: an unlinked pad drops its data instead
 * of stopping its appsrc with an error. */
static GstFlowReturn
output_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstFlowReturn ret = gst_proxy_pad_chain_default (pad, parent, buffer);
  return ret == GST_FLOW_NOT_LINKED ? GST_FLOW_OK : ret;
}

static GstFlowReturn
output_chain_list (GstPad *pad, GstObject *parent, GstBufferList *list)
{
  GstFlowReturn ret = gst_proxy_pad_chain_list_default (pad, parent, list);
  return ret == GST_FLOW_NOT_LINKED ? GST_FLOW_OK : ret;
}

gw::Output *
Host::bind_output (gw::Attempt &attempt, const GwCodecInfo &codec)
{
  GwSourceBinPrivate *priv = self_->priv;
  const int k = codec.video ? 0 : 1;
  guint index, latency_ms;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    if (!priv->running || attempt.cancelled ())
      return nullptr;
    {
      std::lock_guard<std::mutex> og (priv->outputs.lock);
      for (gw::Output *o : priv->outputs.list) {
        if (o->codec == &codec
            && std::find (attempt.bound.begin (), attempt.bound.end (), o)
                   == attempt.bound.end ()) {
          attempt.bound.push_back (o);
          return o;
        }
      }
    }
    index = priv->next_index[k]++;
    latency_ms = priv->settings.latency_ms;
    priv->adders++;
  }

  gchar name[32];
  g_snprintf (name, sizeof (name), "%s_%u", gw::stream_kind_name (gw::stream_kind_of (codec)),
              index);
  GstElement *appsrc = gst_element_factory_make ("appsrc", nullptr);
  g_object_set (appsrc, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", FALSE,
                "min-latency", (gint64)(latency_ms * GST_MSECOND), "max-bytes", (guint64)0,
                "max-time", (guint64)(2 * GST_SECOND), "leaky-type", GST_APP_LEAKY_TYPE_DOWNSTREAM,
                nullptr);
  gst_object_ref (appsrc);
  gst_bin_add (GST_BIN (self_), appsrc);
  gst_element_sync_state_with_parent (appsrc);

  GstPad *target = gst_element_get_static_pad (appsrc, "src");
  GstPad *pad = gst_ghost_pad_new_from_template (
      name, target,
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self_),
                                          k == 0 ? "video_%u" : "audio_%u"));
  gst_object_unref (target);
  GstPad *internal = GST_PAD (gst_proxy_pad_get_internal (GST_PROXY_PAD (pad)));
  gst_pad_set_chain_function (internal, output_chain);
  gst_pad_set_chain_list_function (internal, output_chain_list);
  gst_object_unref (internal);

  gw::Output *out = new gw::Output ();
  out->kind = gw::stream_kind_of (codec);
  out->codec = &codec;
  out->appsrc = appsrc;
  out->pad = GST_PAD (gst_object_ref (pad));
  {
    std::lock_guard<std::mutex> og (priv->outputs.lock);
    priv->outputs.list.push_back (out);
    attempt.bound.push_back (out);
  }
  gst_pad_set_active (pad, TRUE);
  /* On the first connection, video pads come before audio pads whatever
   * order the camera lists its streams in: gst-launch links only the first
   * pad of "gwsourcebin ! gwsink", and that must be the video. */
  bool defer = false;
  {
    std::lock_guard<std::mutex> g (priv->lock);
    if (k == 1 && !priv->no_more_pads) {
      priv->deferred_pads.push_back (pad);
      defer = true;
    }
  }
  if (!defer) {
    GST_INFO_OBJECT (self_, "exposing %s for %s", name, codec.media_type);
    gst_element_add_pad (GST_ELEMENT (self_), pad);
  }
  {
    std::lock_guard<std::mutex> g (priv->lock);
    priv->adders--;
  }
  priv->adders_done.notify_all ();
  return out;
}

void
Host::stream_ignored (const std::string &what)
{
  bool first;
  {
    std::lock_guard<std::mutex> g (self_->priv->lock);
    first = self_->priv->warned.insert (what).second;
  }
  if (first) {
    g_autofree gchar *supported = gw_codec_names ("and");
    GST_ELEMENT_WARNING (
        self_, STREAM, CODEC_NOT_FOUND,
        ("Ignoring an unsupported stream (%s): only %s are supported", what.c_str (), supported),
        (nullptr));
  } else
    GST_DEBUG_OBJECT (self_, "ignoring a %s stream", what.c_str ());
}

void
Host::all_streams_exposed ()
{
  GwSourceBinPrivate *priv = self_->priv;
  std::vector<GstPad *> deferred;
  {
    /* rtspsrc says "no more pads" from the thread that added the last one,
     * possibly while another stream's output is still being added on its
     * own thread: wait for that one (bounded), or the path would be
     * served without it. */
    std::unique_lock<std::mutex> g (priv->lock);
    if (!priv->adders_done.wait_for (g, std::chrono::seconds (2),
                                     [priv] { return priv->adders == 0; }))
      GST_WARNING_OBJECT (self_, "an output is still being added after 2 s");
    std::lock_guard<std::mutex> og (priv->outputs.lock);
    if (priv->no_more_pads || priv->outputs.list.empty ())
      return;
    priv->no_more_pads = true;
    deferred.swap (priv->deferred_pads);
  }
  for (GstPad *pad : deferred) {
    GST_INFO_OBJECT (self_, "exposing %s", GST_PAD_NAME (pad));
    gst_element_add_pad (GST_ELEMENT (self_), pad);
  }
  GST_DEBUG_OBJECT (self_, "all streams exposed");
  gst_element_no_more_pads (GST_ELEMENT (self_));
}

/* ---- the supervisor's side ---------------------------------------------- */

void
Host::first_data (gw::Attempt &attempt)
{
  /* the supervisor outlives the attempts, whose threads call this */
  self_->priv->supervisor->first_data (attempt);
}

void
Host::stream_ended (gw::Attempt &attempt)
{
  self_->priv->supervisor->stream_ended (attempt);
}

gw::AttemptConfig
Host::attempt_config (guint id)
{
  Settings st;
  {
    std::lock_guard<std::mutex> g (self_->priv->lock);
    st = self_->priv->settings;
  }
  gw::AttemptConfig cfg;
  gchar *name = g_strdup_printf ("%s-connection%u", GST_OBJECT_NAME (self_), id);
  cfg.name = name;
  g_free (name);
  if (!st.location.empty ()) {
    gw::UrlParts parts;
    gw::url_split (st.location, &parts); /* validated on NULL->READY */
    cfg.url = gw::url_without_userinfo (parts);
    cfg.user = parts.has_user ? gw::url_unescape (parts.user) : st.user_id;
    cfg.password = parts.has_password ? gw::url_unescape (parts.password) : st.user_pw;
    if (st.protocols == GW_SOURCE_BIN_PROTOCOLS_TCP) {
      cfg.protocols = "tcp";
    } else if (st.protocols == GW_SOURCE_BIN_PROTOCOLS_UDP) {
      cfg.protocols = "udp+udp-mcast";
    } else {
      cfg.protocols = "udp+udp-mcast+tcp";
      /* fall back to TCP early enough for the no-data timeout */
      cfg.udp_timeout_us = (guint64)st.timeout_ms * 500;
    }
  } else {
    cfg.pipeline = st.pipeline;
  }
  cfg.latency_ms = st.latency_ms;
  cfg.timeout_ms = st.timeout_ms;
  return cfg;
}

gw::RetryPolicy
Host::retry_policy ()
{
  std::lock_guard<std::mutex> g (self_->priv->lock);
  const Settings &st = self_->priv->settings;
  return gw::RetryPolicy{ st.retry_initial_ms, st.retry_max_ms, st.timeout_ms };
}

void
Host::state_changed (GwSourceBinState state, guint attempt, const std::string *error,
                     guint retry_in_ms)
{
  post_state (self_, state, attempt, error, retry_in_ms);
}

std::string
Host::redact (const std::string &text)
{
  return sanitize (self_, text);
}

/* ---- element ------------------------------------------------------------- */

/* Waits for the current attempt's teardown (rtspsrc cancels a pending
 * connect and limits its TEARDOWN to 100 ms). */
static void
stop_supervisor (GwSourceBin *self)
{
  delete self->priv->supervisor;
  self->priv->supervisor = nullptr;
}

/* Checks the settings; posts an element error and returns false if they
 * cannot work. */
static bool
validate (GwSourceBin *self)
{
  Settings st;
  {
    std::lock_guard<std::mutex> g (self->priv->lock);
    st = self->priv->settings;
  }
  if (st.location.empty () && st.pipeline.empty ()) {
    GST_ELEMENT_ERROR (
        self, RESOURCE, NOT_FOUND, ("No source configured"),
        ("Set \"location\" (an rtsp:// or rtsps:// URL) or \"pipeline\" (a gst-launch "
         "description of the encoded streams)"));
    return false;
  }
  if (!st.location.empty () && !st.pipeline.empty ()) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Both \"location\" and \"pipeline\" are set"),
                       ("Set only one of them"));
    return false;
  }
  if (!st.location.empty ()) {
    gw::UrlParts parts;
    bool ok = gw::url_split (st.location, &parts) && gw::url_scheme_is_rtsp (parts.scheme);
    gchar *host = nullptr;
    ok = ok
         && g_uri_split_network (gw::url_without_userinfo (parts).c_str (), G_URI_FLAGS_NONE,
                                 nullptr, &host, nullptr, nullptr)
         && host && *host;
    g_free (host);
    if (!ok) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                         ("Invalid location \"%s\"", gw::redact_urls (st.location).c_str ()),
                         ("Expected rtsp://[user:password@]host[:port]/path (or rtsps://)"));
      return false;
    }
    return true;
  }

  GError *err = nullptr;
  GstElement *bin = gw::parse_description (st.pipeline, &err);
  if (!bin) {
    std::string why = sanitize (self, err ? err->message : "unknown error");
    g_clear_error (&err);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Invalid pipeline description: %s", why.c_str ()),
                       ("pipeline=\"%s\"", sanitize (self, st.pipeline).c_str ()));
    return false;
  }
  gst_object_ref_sink (bin);
  std::vector<GstPad *> pads;
  std::vector<GstElement *> dynamic;
  gw::collect_unlinked (GST_BIN (bin), &pads, &dynamic);
  bool usable = !dynamic.empty ();
  for (GstPad *p : pads) {
    GstCaps *caps = gst_pad_query_caps (p, nullptr);
    bool rtp;
    usable = usable || gw::codec_find (caps, &rtp) != nullptr;
    gst_caps_unref (caps);
    gst_object_unref (p);
  }
  for (GstElement *e : dynamic)
    gst_object_unref (e);
  gst_object_unref (bin);
  if (!usable) {
    g_autofree gchar *supported = gw_codec_names ("or");
    GST_ELEMENT_ERROR (
        self, RESOURCE, SETTINGS, ("The pipeline description has no unlinked %s output", supported),
        ("End each stream of the description with an encoder or a parser, unlinked"));
    return false;
  }
  return true;
}

static GstStateChangeReturn
gw_source_bin_change_state (GstElement *element, GstStateChange transition)
{
  GwSourceBin *self = GW_SOURCE_BIN (element);
  GwSourceBinPrivate *priv = self->priv;

  switch (transition) {
  case GST_STATE_CHANGE_NULL_TO_READY:
    if (!validate (self))
      return GST_STATE_CHANGE_FAILURE;
    priv->supervisor
        = new gw::Supervisor (priv->host, priv->host, priv->outputs, GST_OBJECT (self));
    break;
  case GST_STATE_CHANGE_PLAYING_TO_PAUSED: {
    /* No output may be added from now on; wait for those being added. */
    std::unique_lock<std::mutex> g (priv->lock);
    priv->running = false;
    priv->outputs.generation++;
    priv->adders_done.wait (g, [priv] { return priv->adders == 0; });
    g.unlock ();
    priv->supervisor->stop ();
    break;
  }
  default:
    break;
  }

  GstStateChangeReturn ret
      = GST_ELEMENT_CLASS (gw_source_bin_parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_NULL_TO_READY)
      stop_supervisor (self);
    return ret;
  }

  switch (transition) {
  case GST_STATE_CHANGE_READY_TO_PAUSED:
  case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
    ret = GST_STATE_CHANGE_NO_PREROLL; /* a live source */
    break;
  case GST_STATE_CHANGE_PAUSED_TO_PLAYING: {
    GstClock *clock = gst_element_get_clock (element);
    GstClockTime base = gst_element_get_base_time (element);
    if (!clock) {
      clock = gst_system_clock_obtain ();
      base = gst_clock_get_time (clock);
    }
    {
      std::lock_guard<std::mutex> g (priv->lock);
      priv->running = true;
    }
    priv->supervisor->start (clock, base);
    break;
  }
  case GST_STATE_CHANGE_READY_TO_NULL:
    stop_supervisor (self);
    break;
  default:
    break;
  }
  return ret;
}

/* The outputs report the new latency (their appsrc posts a LATENCY message). */
static void
update_latency (GwSourceBin *self, guint latency_ms)
{
  std::vector<GstElement *> appsrcs;
  {
    std::lock_guard<std::mutex> g (self->priv->outputs.lock);
    for (gw::Output *o : self->priv->outputs.list)
      appsrcs.push_back (GST_ELEMENT (gst_object_ref (o->appsrc)));
  }
  for (GstElement *e : appsrcs) {
    g_object_set (e, "min-latency", (gint64)(latency_ms * GST_MSECOND), nullptr);
    gst_object_unref (e);
  }
}

static void set_setting (GwSourceBin *self, guint prop_id, const GValue *value, GParamSpec *pspec);

static void
gw_source_bin_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GwSourceBin *self = GW_SOURCE_BIN (object);
  set_setting (self, prop_id, value, pspec);
  if (prop_id == PROP_LATENCY)
    update_latency (self, g_value_get_uint (value));
}

static void
set_setting (GwSourceBin *self, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GObject *object = G_OBJECT (self);
  std::lock_guard<std::mutex> g (self->priv->lock);
  Settings &st = self->priv->settings;
  const gchar *str = G_VALUE_HOLDS_STRING (value) ? g_value_get_string (value) : nullptr;
  switch (prop_id) {
  case PROP_LOCATION:
    st.location = str ? str : "";
    break;
  case PROP_USER_ID:
    st.user_id = str ? str : "";
    break;
  case PROP_USER_PW:
    st.user_pw = str ? str : "";
    break;
  case PROP_PIPELINE:
    st.pipeline = str ? str : "";
    break;
  case PROP_PROTOCOLS:
    st.protocols = (GwSourceBinProtocols)g_value_get_enum (value);
    break;
  case PROP_LATENCY:
    st.latency_ms = g_value_get_uint (value);
    break;
  case PROP_RETRY_INITIAL:
    st.retry_initial_ms = g_value_get_uint (value);
    break;
  case PROP_RETRY_MAX:
    st.retry_max_ms = g_value_get_uint (value);
    break;
  case PROP_TIMEOUT:
    st.timeout_ms = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gw_source_bin_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GwSourceBin *self = GW_SOURCE_BIN (object);
  std::lock_guard<std::mutex> g (self->priv->lock);
  const Settings &st = self->priv->settings;
  switch (prop_id) {
  case PROP_LOCATION:
    g_value_set_string (value,
                        st.location.empty () ? nullptr : gw::redact_urls (st.location).c_str ());
    break;
  case PROP_USER_ID:
    g_value_set_string (value, st.user_id.empty () ? nullptr : st.user_id.c_str ());
    break;
  case PROP_PIPELINE:
    g_value_set_string (value, st.pipeline.empty () ? nullptr : st.pipeline.c_str ());
    break;
  case PROP_PROTOCOLS:
    g_value_set_enum (value, st.protocols);
    break;
  case PROP_LATENCY:
    g_value_set_uint (value, st.latency_ms);
    break;
  case PROP_RETRY_INITIAL:
    g_value_set_uint (value, st.retry_initial_ms);
    break;
  case PROP_RETRY_MAX:
    g_value_set_uint (value, st.retry_max_ms);
    break;
  case PROP_TIMEOUT:
    g_value_set_uint (value, st.timeout_ms);
    break;
  case PROP_STATE:
    g_value_set_enum (value, self->priv->state);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gw_source_bin_dispose (GObject *object)
{
  GwSourceBin *self = GW_SOURCE_BIN (object);
  stop_supervisor (self); /* only if the element was not set to NULL */
  std::vector<gw::Output *> outputs;
  {
    std::lock_guard<std::mutex> g (self->priv->outputs.lock);
    outputs.swap (self->priv->outputs.list);
  }
  for (gw::Output *o : outputs) {
    gst_clear_object (&o->appsrc);
    gst_clear_object (&o->pad);
    gst_clear_caps (&o->caps);
    delete o;
  }
  G_OBJECT_CLASS (gw_source_bin_parent_class)->dispose (object);
}

static void
gw_source_bin_finalize (GObject *object)
{
  delete GW_SOURCE_BIN (object)->priv;
  G_OBJECT_CLASS (gw_source_bin_parent_class)->finalize (object);
}

static void
gw_source_bin_class_init (GwSourceBinClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gw_source_bin_debug, "gwsourcebin", 0,
                           "gw shared upstream (RTSP or pipeline source with reconnection)");

  gobject_class->set_property = gw_source_bin_set_property;
  gobject_class->get_property = gw_source_bin_get_property;
  gobject_class->dispose = gw_source_bin_dispose;
  gobject_class->finalize = gw_source_bin_finalize;
  element_class->change_state = GST_DEBUG_FUNCPTR (gw_source_bin_change_state);

  const GParamFlags rw
      = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  properties[PROP_LOCATION] = g_param_spec_string (
      "location", "Location",
      "RTSP URL of the camera: rtsp://[user:password@]host[:port]/path (or rtsps://). "
      "Credentials in the URL take precedence over user-id/user-pw. Reading it back "
      "gives the URL with the password replaced by ***. Changes apply from the next "
      "connection",
      nullptr, rw);
  properties[PROP_USER_ID] = g_param_spec_string (
      "user-id", "User ID", "RTSP user name, used when the URL has none", nullptr, rw);
  properties[PROP_USER_PW] = g_param_spec_string (
      "user-pw", "User password",
      "RTSP password, used when the URL has none (write-only, never logged)", nullptr,
      (GParamFlags)(G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  properties[PROP_PROTOCOLS] = g_param_spec_enum (
      "protocols", "Protocols",
      "RTSP lower transport: auto (UDP, falling back to TCP when no UDP data arrives "
      "within timeout/2), tcp or udp",
      GW_TYPE_SOURCE_BIN_PROTOCOLS, DEFAULT_PROTOCOLS, rw);
  properties[PROP_LATENCY] = g_param_spec_uint (
      "latency", "Latency",
      "Milliseconds of RTP reorder buffer (rtspsrc latency); also the latency this "
      "element reports downstream",
      0, 10000, DEFAULT_LATENCY_MS, rw);
  properties[PROP_PIPELINE] = g_param_spec_string (
      "pipeline", "Pipeline",
      "Instead of location: a gst-launch description whose unlinked src pads are the "
      "encoded streams (H.264, H.265, Opus, PCMU, PCMA), e.g. \"videotestsrc is-live=true ! "
      "x264enc tune=zerolatency key-int-max=30\" (each stream gets its codec's parser). "
      "Restarted like a camera when it fails or ends",
      nullptr, rw);
  properties[PROP_RETRY_INITIAL] = g_param_spec_uint (
      "retry-initial", "Initial retry delay",
      "Milliseconds to wait before reconnecting after a failure; doubles after each "
      "failed attempt up to retry-max, and starts over once data flows",
      1, G_MAXINT, DEFAULT_RETRY_INITIAL_MS, rw);
  properties[PROP_RETRY_MAX]
      = g_param_spec_uint ("retry-max", "Maximum retry delay",
                           "Upper bound, in milliseconds, of the doubling reconnect delay", 1,
                           G_MAXINT, DEFAULT_RETRY_MAX_MS, rw);
  properties[PROP_TIMEOUT] = g_param_spec_uint (
      "timeout", "Timeout",
      "Milliseconds without data after which the source counts as dropped and is "
      "reconnected (a new connection gets twice this for its first data)",
      100, G_MAXINT / 2, DEFAULT_TIMEOUT_MS, rw);
  properties[PROP_STATE] = g_param_spec_enum (
      "state", "State", "Connection state, also posted as \"gwsourcebin-state\" element messages",
      GW_TYPE_SOURCE_BIN_STATE, GW_SOURCE_BIN_STATE_STOPPED,
      (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_properties (gobject_class, N_PROPS, properties);

  gst_element_class_add_pad_template (element_class,
                                      gw_codec_pad_template (TRUE, GST_PAD_SRC, GST_PAD_SOMETIMES));
  gst_element_class_add_pad_template (
      element_class, gw_codec_pad_template (FALSE, GST_PAD_SRC, GST_PAD_SOMETIMES));

  gst_element_class_set_static_metadata (
      element_class, "Gateway source bin", "Source/Network/Bin",
      "Pulls one RTSP camera (or a pipeline description) and exposes its parsed H.264, "
      "Opus and G.711 streams as video_%u/audio_%u; reconnects with backoff while "
      "downstream stays linked and timestamps stay continuous",
      "gst-webrtc-gateway");

  gst_type_mark_as_plugin_api (GW_TYPE_SOURCE_BIN_PROTOCOLS, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api (GW_TYPE_SOURCE_BIN_STATE, (GstPluginAPIFlags)0);
}

static void
gw_source_bin_init (GwSourceBin *self)
{
  self->priv = new GwSourceBinPrivate (self);
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SOURCE);
}
