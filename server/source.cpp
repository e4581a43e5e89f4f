/* The gwsourcebin implementation of Source (source.h).
 *
 * The pipeline, its fan-outs and its bus watch live in a Core shared with
 * the jobs and callbacks that may outlive the Source: the worker's state
 * changes, pad-added on a GStreamer thread, the bus watch and the results
 * posted back to the main context. The Source itself is main-context only. */
#include "source.h"

#include "gwstream.h"
#include "mainctx.h"

#include <atomic>
#include <mutex>
#include <vector>

namespace gw {

namespace {

struct Stream
{
  std::string name; /* video_0, audio_0 */
  GwStream *fanout;
};

struct Core
{
  std::string name; /* the path's, for logs */
  std::shared_ptr<Worker> worker = Worker::create ();

  /* Main context only. */
  SourceEvents *events = nullptr; /* nullptr once the Source is gone */
  bool stopping = false;          /* stop() was called: only source_closed follows */
  guint bus_watch = 0;

  /* Set on the main context before the first job, released by the teardown
   * job (the last one); jobs run one at a time. */
  GstElement *pipeline = nullptr;
  GstElement *src = nullptr; /* borrowed from pipeline */

  /* Lock order: streams_lock is a leaf. It guards the list only: pad-added
   * appends from a GStreamer thread while the main context reads it. The
   * fan-outs themselves are used outside it: they are freed only by the
   * teardown job, which runs after stop(), and the main context (which alone
   * calls stop()) no longer uses them by then. */
  std::mutex streams_lock;
  std::vector<Stream> streams;

  /* LATENCY messages not yet served by a recalculation (any thread). One
   * recalculation runs at a time: each queries every sink and takes the
   * pipeline's state lock, so a burst of joining readers must not start one
   * thread each (they piled up by the hundred and starved the pipeline). */
  std::atomic<int> latency_requests{ 0 };

  std::vector<Stream>
  snapshot ()
  {
    std::lock_guard<std::mutex> g (streams_lock);
    return streams;
  }
};

using WeakCore = std::weak_ptr<Core>;

void
free_weak (gpointer d, GClosure *)
{
  delete static_cast<WeakCore *> (d);
}

void
on_pad_added (GstElement *, GstPad *pad, gpointer data)
{
  auto core = static_cast<WeakCore *> (data)->lock ();
  if (!core || !core->pipeline)
    return;
  g_autofree gchar *name = gst_pad_get_name (pad);
  g_autofree gchar *tee = g_strdup_printf ("tee-%s", name);
  GwStream *fanout = gw_stream_new (GST_BIN (core->pipeline), pad, tee);
  if (!fanout) {
    g_warning ("path %s: cannot fan out %s", core->name.c_str (), name);
    return;
  }
  std::lock_guard<std::mutex> g (core->streams_lock);
  core->streams.push_back ({ name, fanout });
}

void
on_no_more_pads (GstElement *, gpointer data)
{
  WeakCore weak = *static_cast<WeakCore *> (data);
  run_on_main ([weak] () {
    auto core = weak.lock ();
    if (!core || !core->events || core->stopping)
      return;
    if (core->snapshot ().empty ())
      core->events->source_error ("the source has no stream we can serve");
    else
      core->events->source_ready ();
  });
}

/* Recalculates until no LATENCY message arrived during the last run. */
void
recalculate_latency (GstElement *pipeline, gpointer data)
{
  Core &core = **static_cast<std::shared_ptr<Core> *> (data);
  for (;;) {
    int served = core.latency_requests.load ();
    gst_bin_recalculate_latency (GST_BIN (pipeline));
    if (core.latency_requests.fetch_sub (served) == served)
      return;
  }
}

gboolean
on_bus (GstBus *, GstMessage *msg, gpointer data)
{
  auto core = static_cast<WeakCore *> (data)->lock ();
  if (!core)
    return G_SOURCE_REMOVE;
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR: {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    std::string reason = std::string ("source error: ") + err->message;
    g_error_free (err);
    if (core->events && !core->stopping)
      core->events->source_error (reason);
    break;
  }
  case GST_MESSAGE_WARNING: {
    GError *err = NULL;
    gst_message_parse_warning (msg, &err, NULL);
    g_info ("path %s: %s", core->name.c_str (), err->message);
    g_error_free (err);
    break;
  }
  case GST_MESSAGE_LATENCY:
    /* Queries every sink, readers included: not on the main context, and
     * not on the worker either, where it could hold up the teardown. */
    if (core->pipeline && !core->stopping && core->latency_requests.fetch_add (1) == 0)
      gst_element_call_async (core->pipeline, recalculate_latency, new std::shared_ptr<Core> (core),
                              [] (gpointer d) { delete static_cast<std::shared_ptr<Core> *> (d); });
    break;
  case GST_MESSAGE_ELEMENT: {
    const GstStructure *s = gst_message_get_structure (msg);
    if (s && gst_structure_has_name (s, "gwsourcebin-state")) {
      const gchar *state = gst_structure_get_string (s, "state");
      const gchar *error = gst_structure_get_string (s, "error");
      if (state) {
        if (error)
          g_info ("path %s: source %s (%s)", core->name.c_str (), state, error);
        else
          g_info ("path %s: source %s", core->name.c_str (), state);
        if (core->events && !core->stopping)
          core->events->source_state (state);
      }
    }
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

class GstSource : public Source
{
public:
  GstSource (const PathConfig &conf, SourceEvents &events) : conf_ (conf)
  {
    core_->name = conf.name;
    core_->events = &events;
  }

  ~GstSource () override
  {
    stop ();
    core_->events = nullptr;
  }

  void
  start () override
  {
    if (core_->pipeline || core_->stopping)
      return;
    std::string reason;
    GstElement *src = make_element (reason);
    g_autofree gchar *name = g_strdup_printf ("path-%s", conf_.name.c_str ());
    core_->pipeline = gst_pipeline_new (name);
    if (!src) {
      fail_later (reason);
      return;
    }
    core_->src = src;
    gst_bin_add (GST_BIN (core_->pipeline), src);

    /* The handlers and the watch hold weak refs to the core. */
    g_signal_connect_data (src, "pad-added", G_CALLBACK (on_pad_added), new WeakCore (core_),
                           free_weak, (GConnectFlags)0);
    g_signal_connect_data (src, "no-more-pads", G_CALLBACK (on_no_more_pads), new WeakCore (core_),
                           free_weak, (GConnectFlags)0);
    GstBus *bus = gst_element_get_bus (core_->pipeline);
    core_->bus_watch
        = gst_bus_add_watch_full (bus, G_PRIORITY_DEFAULT, on_bus, new WeakCore (core_),
                                  [] (gpointer d) { delete static_cast<WeakCore *> (d); });
    gst_object_unref (bus);

    auto core = core_;
    core_->worker->post ([core] () {
      if (gst_element_set_state (core->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        WeakCore weak = core;
        run_on_main ([weak] () {
          auto c = weak.lock ();
          if (c && c->events && !c->stopping)
            c->events->source_error ("the source could not start (see the log)");
        });
      }
    });
  }

  void
  stop () override
  {
    if (core_->stopping)
      return;
    core_->stopping = true;
    if (core_->bus_watch) {
      g_source_remove (core_->bus_watch);
      core_->bus_watch = 0;
    }
    if (core_->src) {
      g_signal_handlers_disconnect_matched (core_->src, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                            (gpointer)on_pad_added, NULL);
      g_signal_handlers_disconnect_matched (core_->src, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                            (gpointer)on_no_more_pads, NULL);
    }
    auto core = core_;
    core_->worker->post ([core] () {
      /* gwsourcebin's READY->NULL waits for its last connection's teardown:
       * for rtspsrc and a camera that does not answer, up to its TEARDOWN
       * timeout. That is why this is a job and not the main context's. */
      gint64 t0 = g_get_monotonic_time ();
      if (core->pipeline)
        gst_element_set_state (core->pipeline, GST_STATE_NULL);
      gint64 ms = (g_get_monotonic_time () - t0) / 1000;
      if (ms > 1000)
        g_info ("path %s: the source took %" G_GINT64_FORMAT " ms to stop", core->name.c_str (),
                ms);
      std::vector<Stream> streams;
      {
        std::lock_guard<std::mutex> g (core->streams_lock);
        streams.swap (core->streams);
      }
      for (Stream &s : streams)
        gw_stream_free (s.fanout);
      gst_clear_object (&core->pipeline);
      core->src = nullptr;
      run_on_main ([core] () {
        g_info ("path %s: source stopped", core->name.c_str ());
        if (core->events)
          core->events->source_closed ();
      });
    });
  }

  GstElement *
  pipeline () override
  {
    return core_->stopping ? nullptr : core_->pipeline;
  }

  bool
  link_reader (GstElement *reader, std::string &reason) override
  {
    std::vector<std::pair<GstPad *, GwStream *> > links;
    for (const Stream &s : core_->snapshot ()) {
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
  unlink_reader (GstElement *reader) override
  {
    bool detached = false;
    if (!core_->stopping) {
      std::vector<Stream> streams = core_->snapshot ();
      GstIterator *it = gst_element_iterate_sink_pads (reader);
      GValue item = G_VALUE_INIT;
      while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
        GstPad *pad = GST_PAD (g_value_get_object (&item));
        for (Stream &s : streams) {
          /* Removes the reader off this thread once its last pad is gone. */
          if (gw_stream_detach (s.fanout, pad, reader)) {
            detached = true;
            break;
          }
        }
        g_value_reset (&item);
      }
      g_value_unset (&item);
      gst_iterator_free (it);
    }
    /* Never linked (or the source is stopping): remove it here. */
    if (!detached)
      release_reader (reader);
  }

  GstSample *
  keyframe () override
  {
    if (core_->stopping)
      return nullptr;
    for (const Stream &s : core_->snapshot ()) {
      if (GstSample *key = gw_stream_get_keyframe (s.fanout))
        return key;
    }
    return nullptr;
  }

private:
  PathConfig conf_;
  std::shared_ptr<Core> core_ = std::make_shared<Core> ();

  GstElement *
  make_element (std::string &reason)
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
  fail_later (const std::string &reason)
  {
    WeakCore weak = core_;
    run_on_main ([weak, reason] () {
      auto c = weak.lock ();
      if (c && c->events && !c->stopping)
        c->events->source_error (reason);
    });
  }
};

} // namespace

std::unique_ptr<Source>
make_gst_source (const PathConfig &conf, SourceEvents &events)
{
  return std::unique_ptr<Source> (new GstSource (conf, events));
}

void
release_reader (GstElement *reader)
{
  gst_element_call_async (
      reader,
      [] (GstElement *r, gpointer) {
        gst_element_set_state (r, GST_STATE_NULL);
        if (GstObject *parent = gst_object_get_parent (GST_OBJECT (r))) {
          gst_bin_remove (GST_BIN (parent), r);
          gst_object_unref (parent);
        }
      },
      NULL, NULL);
}

} // namespace gw
