#include "path.h"

#include "gwstream.h"
#include "manager.h"
#include "session.h"

#include <algorithm>
#include <mutex>

namespace gw {

namespace {

using WeakPath = std::weak_ptr<Path>;

/* pad-added comes on a GStreamer thread, before the path reads streams_ on
 * the main context (after no-more-pads): this lock orders the two. */
std::mutex streams_lock;

} // namespace

Path::Path (PathConfig conf, const ServerConfig &server)
    : conf_ (std::move (conf)), server_ (server)
{
}

Path::~Path () { stop_source (); }

const char *
Path::state_name () const
{
  switch (state_) {
  case State::Idle:
    return "idle";
  case State::Starting:
    return "starting";
  case State::Ready:
    return "ready";
  }
  return "unknown";
}

void
Path::activate ()
{
  if (!conf_.on_demand)
    start_source ();
}

GstElement *
Path::make_source (std::string &reason)
{
  GstElement *src = gst_element_factory_make ("gwsourcebin", "source");
  if (!src) {
    reason = "the gw plugin (gwsourcebin) is not available";
    return nullptr;
  }
  if (!conf_.source.empty ()) {
    g_object_set (src, "location", conf_.source.c_str (), NULL);
    const char *proto = conf_.rtsp_transport == Transport::Tcp   ? "tcp"
                        : conf_.rtsp_transport == Transport::Udp ? "udp"
                                                                 : "auto";
    gst_util_set_object_arg (G_OBJECT (src), "protocols", proto);
  } else {
    g_object_set (src, "pipeline", conf_.pipeline.c_str (), NULL);
  }
  return src;
}

void
Path::start_source ()
{
  if (pipeline_ || shut_down_)
    return;
  std::string reason;
  GstElement *src = make_source (reason);
  if (!src) {
    on_start_failed (reason);
    return;
  }
  g_autofree gchar *name = g_strdup_printf ("path-%s", conf_.name.c_str ());
  pipeline_ = gst_pipeline_new (name);
  source_ = src;
  gst_bin_add (GST_BIN (pipeline_), src);

  /* The signal handlers hold weak refs to the path. */
  auto weak = [this] () { return (gpointer) new WeakPath (shared_from_this ()); };
  auto free_weak = [] (gpointer d, GClosure *) { delete static_cast<WeakPath *> (d); };
  g_signal_connect_data (src, "pad-added", G_CALLBACK (on_pad_added), weak (), free_weak,
                         (GConnectFlags)0);
  g_signal_connect_data (src, "no-more-pads", G_CALLBACK (on_no_more_pads), weak (), free_weak,
                         (GConnectFlags)0);
  GstBus *bus = gst_element_get_bus (pipeline_);
  bus_watch_ = gst_bus_add_watch_full (bus, G_PRIORITY_DEFAULT, on_bus, weak (),
                                       [] (gpointer d) { delete static_cast<WeakPath *> (d); });
  gst_object_unref (bus);

  state_ = State::Starting;
  source_state_ = "connecting";
  starts_++;
  g_info ("path %s: starting its source", conf_.name.c_str ());
  if (gst_element_set_state (pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    on_start_failed ("the source could not start (see the log)");
    return;
  }
  if (!parked_.empty () && !start_timer_) {
    start_timer_ = g_timeout_add_seconds_full (
        G_PRIORITY_DEFAULT, conf_.start_timeout,
        [] (gpointer d) -> gboolean {
          if (auto p = static_cast<WeakPath *> (d)->lock ()) {
            p->start_timer_ = 0;
            g_autofree gchar *why
                = g_strdup_printf ("the source of path %s was not ready "
                                   "within start-timeout (%u s)",
                                   p->conf_.name.c_str (), p->conf_.start_timeout);
            p->on_start_failed (why);
          }
          return G_SOURCE_REMOVE;
        },
        weak (), [] (gpointer d) { delete static_cast<WeakPath *> (d); });
  }
}

void
Path::stop_source ()
{
  if (start_timer_) {
    g_source_remove (start_timer_);
    start_timer_ = 0;
  }
  if (close_timer_) {
    g_source_remove (close_timer_);
    close_timer_ = 0;
  }
  if (!pipeline_)
    return;
  if (bus_watch_) {
    g_source_remove (bus_watch_);
    bus_watch_ = 0;
  }
  g_signal_handlers_disconnect_matched (source_, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                        (gpointer)on_pad_added, NULL);
  g_signal_handlers_disconnect_matched (source_, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                        (gpointer)on_no_more_pads, NULL);
  gst_element_set_state (pipeline_, GST_STATE_NULL);
  {
    std::lock_guard<std::mutex> lock (streams_lock);
    for (Stream &s : streams_)
      gw_stream_free (s.fanout);
    streams_.clear ();
  }
  gst_object_unref (pipeline_);
  pipeline_ = nullptr;
  source_ = nullptr;
  state_ = State::Idle;
  source_state_ = "idle";
  g_info ("path %s: source stopped", conf_.name.c_str ());
}

void
Path::on_pad_added (GstElement *src, GstPad *pad, gpointer data)
{
  auto p = static_cast<WeakPath *> (data)->lock ();
  if (!p || !p->pipeline_)
    return;
  g_autofree gchar *name = gst_pad_get_name (pad);
  g_autofree gchar *tee = g_strdup_printf ("tee-%s", name);
  GwStream *fanout = gw_stream_new (GST_BIN (p->pipeline_), pad, tee);
  if (!fanout) {
    g_warning ("path %s: cannot fan out %s", p->conf_.name.c_str (), name);
    return;
  }
  std::lock_guard<std::mutex> lock (streams_lock);
  p->streams_.push_back ({ name, fanout });
}

void
Path::on_no_more_pads (GstElement *src, gpointer data)
{
  WeakPath weak = *static_cast<WeakPath *> (data);
  run_on_main ([weak] () {
    if (auto p = weak.lock ())
      p->on_ready ();
  });
}

void
Path::on_ready ()
{
  if (!pipeline_ || state_ == State::Ready)
    return;
  {
    std::lock_guard<std::mutex> lock (streams_lock);
    if (streams_.empty ()) {
      on_start_failed ("the source has no stream we can serve");
      return;
    }
  }
  state_ = State::Ready;
  if (start_timer_) {
    g_source_remove (start_timer_);
    start_timer_ = 0;
  }
  g_info ("path %s: ready (%zu streams)", conf_.name.c_str (), streams_.size ());
  std::vector<std::shared_ptr<Session> > parked;
  parked.swap (parked_);
  for (auto &s : parked) {
    if (s->closed ())
      continue;
    readers_.push_back (s);
    s->attach (*this, pipeline_);
  }
  maybe_schedule_close ();
}

void
Path::on_start_failed (const std::string &reason)
{
  g_warning ("path %s: %s", conf_.name.c_str (), reason.c_str ());
  std::vector<std::shared_ptr<Session> > parked;
  parked.swap (parked_);
  for (auto &s : parked)
    s->fail (503, reason);
  /* An on-demand source that nobody waits for any more stops; the next
   * reader tries again. An always-on source keeps retrying by itself. */
  if (conf_.on_demand && readers_.empty ())
    stop_source ();
}

void
Path::add_reader (const std::shared_ptr<Session> &session)
{
  if (shut_down_) {
    session->fail (503, "the path is being removed");
    return;
  }
  if (close_timer_) {
    g_source_remove (close_timer_);
    close_timer_ = 0;
  }
  if (state_ == State::Ready) {
    readers_.push_back (session);
    session->attach (*this, pipeline_);
    return;
  }
  parked_.push_back (session);
  if (!pipeline_) {
    start_source ();
  } else if (!start_timer_) {
    auto *weak = new WeakPath (shared_from_this ());
    start_timer_ = g_timeout_add_seconds_full (
        G_PRIORITY_DEFAULT, conf_.start_timeout,
        [] (gpointer d) -> gboolean {
          if (auto p = static_cast<WeakPath *> (d)->lock ()) {
            p->start_timer_ = 0;
            g_autofree gchar *why
                = g_strdup_printf ("the source of path %s was not ready "
                                   "within start-timeout (%u s)",
                                   p->conf_.name.c_str (), p->conf_.start_timeout);
            p->on_start_failed (why);
          }
          return G_SOURCE_REMOVE;
        },
        weak, [] (gpointer d) { delete static_cast<WeakPath *> (d); });
  }
}

void
Path::remove_reader (Session *session)
{
  auto drop = [session] (std::vector<std::shared_ptr<Session> > &v) {
    v.erase (std::remove_if (v.begin (), v.end (),
                             [session] (const auto &s) { return s.get () == session; }),
             v.end ());
  };
  drop (readers_);
  drop (parked_);
  maybe_schedule_close ();
}

void
Path::maybe_schedule_close ()
{
  if (!conf_.on_demand || !pipeline_ || n_readers () > 0 || close_timer_ || shut_down_)
    return;
  g_info ("path %s: no readers, closing the source in %u s", conf_.name.c_str (),
          conf_.close_after);
  close_timer_ = g_timeout_add_seconds_full (
      G_PRIORITY_DEFAULT, conf_.close_after,
      [] (gpointer d) -> gboolean {
        if (auto p = static_cast<WeakPath *> (d)->lock ()) {
          p->close_timer_ = 0;
          if (p->n_readers () == 0)
            p->stop_source ();
        }
        return G_SOURCE_REMOVE;
      },
      new WeakPath (shared_from_this ()), [] (gpointer d) { delete static_cast<WeakPath *> (d); });
}

void
Path::shutdown ()
{
  shut_down_ = true;
  std::vector<std::shared_ptr<Session> > all (readers_);
  all.insert (all.end (), parked_.begin (), parked_.end ());
  for (auto &s : all)
    s->close ();
  readers_.clear ();
  parked_.clear ();
  stop_source ();
}

bool
Path::link_reader (GstElement *reader, std::string &reason)
{
  std::vector<std::pair<GstPad *, GwStream *> > links;
  {
    std::lock_guard<std::mutex> lock (streams_lock);
    for (Stream &s : streams_) {
      bool video = g_str_has_prefix (s.name.c_str (), "video");
      GstPad *pad = gst_element_request_pad_simple (reader, video ? "video_%u" : "audio_%u");
      if (!pad) {
        reason = "the reader refused stream " + s.name;
        for (auto &l : links)
          gst_object_unref (l.first);
        return false;
      }
      links.emplace_back (pad, s.fanout);
    }
  }
  gst_element_sync_state_with_parent (reader);
  bool ok = true;
  for (auto &l : links) {
    if (!gw_stream_attach (l.second, l.first)) {
      reason = "cannot link the reader to the stream";
      ok = false;
    }
    gst_object_unref (l.first);
  }
  return ok;
}

void
Path::unlink_reader (GstElement *reader)
{
  bool detached = false;
  GstIterator *it = gst_element_iterate_sink_pads (reader);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstPad *pad = GST_PAD (g_value_get_object (&item));
    std::lock_guard<std::mutex> lock (streams_lock);
    for (Stream &s : streams_) {
      if (gw_stream_detach (s.fanout, pad, reader)) {
        detached = true;
        break;
      }
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);

  /* Never linked (or the path stopped): remove it here. */
  if (!detached) {
    GstObject *parent = gst_object_get_parent (GST_OBJECT (reader));
    gst_element_set_state (reader, GST_STATE_NULL);
    if (parent) {
      gst_bin_remove (GST_BIN (parent), reader);
      gst_object_unref (parent);
    }
  }
}

gboolean
Path::on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  auto p = static_cast<WeakPath *> (data)->lock ();
  if (!p)
    return G_SOURCE_REMOVE;
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR: {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    std::string reason = std::string ("source error: ") + err->message;
    g_error_free (err);
    if (p->state_ != State::Ready) {
      p->on_start_failed (reason);
    } else {
      g_warning ("path %s: %s; closing its readers", p->conf_.name.c_str (), reason.c_str ());
      std::vector<std::shared_ptr<Session> > all (p->readers_);
      for (auto &s : all)
        s->fail (503, reason);
      p->stop_source ();
      if (!p->conf_.on_demand) {
        /* Always-on: start again after a pause. */
        g_timeout_add_seconds_full (
            G_PRIORITY_DEFAULT, 5,
            [] (gpointer d) -> gboolean {
              if (auto pp = static_cast<WeakPath *> (d)->lock ())
                if (!pp->shut_down_)
                  pp->start_source ();
              return G_SOURCE_REMOVE;
            },
            new WeakPath (p), [] (gpointer d) { delete static_cast<WeakPath *> (d); });
      }
    }
    break;
  }
  case GST_MESSAGE_WARNING: {
    GError *err = NULL;
    gst_message_parse_warning (msg, &err, NULL);
    g_info ("path %s: %s", p->conf_.name.c_str (), err->message);
    g_error_free (err);
    break;
  }
  case GST_MESSAGE_LATENCY:
    if (p->pipeline_)
      gst_bin_recalculate_latency (GST_BIN (p->pipeline_));
    break;
  case GST_MESSAGE_ELEMENT: {
    const GstStructure *s = gst_message_get_structure (msg);
    if (s && gst_structure_has_name (s, "gwsourcebin-state")) {
      const gchar *state = gst_structure_get_string (s, "state");
      const gchar *error = gst_structure_get_string (s, "error");
      if (state) {
        p->source_state_ = state;
        if (error)
          g_info ("path %s: source %s (%s)", p->conf_.name.c_str (), state, error);
        else
          g_info ("path %s: source %s", p->conf_.name.c_str (), state);
      }
    }
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

} // namespace gw
