/* The upstream of a path, behind a small interface so that the path's state
 * machine (path.h) does not depend on GStreamer's timing and can be tested
 * with a fake.
 *
 * Threads: every method is called on the main context and returns at once;
 * whatever may wait (state changes, the teardown of a camera that does not
 * answer) runs on a worker (mainctx.h). SourceEvents are delivered on the
 * main context, never after the Source is destroyed. */
#pragma once

#include "conf.h"

#include <gst/gst.h>

#include <memory>
#include <string>

namespace gw {

/* What a source tells its path. */
class SourceEvents
{
public:
  /* Every stream is exposed: readers can be linked. */
  virtual void source_ready () = 0;
  /* The source cannot serve: it failed to start, or failed for good. */
  virtual void source_error (const std::string &reason) = 0;
  /* The upstream's state, for display (connecting, streaming, retrying...). */
  virtual void source_state (const std::string &state) = 0;
  /* After stop(): the teardown is done, the source holds nothing any more.
   * No other event follows stop(). */
  virtual void source_closed () = 0;

protected:
  ~SourceEvents () = default;
};

class Source
{
public:
  virtual ~Source () = default;

  /* Begins starting; source_ready or source_error follows. Once. */
  virtual void start () = 0;
  /* Begins the teardown; source_closed follows. Once. Destroying the
   * Source without stop() stops it too (without source_closed). */
  virtual void stop () = 0;

  /* The bin reader elements are added to (may be a bare pipeline for a
   * fake). Valid from start() to stop(). */
  virtual GstElement *pipeline () = 0;
  /* Requests one pad of @reader per stream and links each to its stream;
   * the reader is in pipeline(). Only when ready. */
  virtual bool link_reader (GstElement *reader, std::string &reason) = 0;
  /* Detaches @reader from the streams and removes it from its bin, off the
   * main context. Any time (also after stop(): then it only removes it). */
  virtual void unlink_reader (GstElement *reader) = 0;
  /* The kept keyframe of the first video stream that has one, with its
   * caps (gw_stream_get_keyframe), or NULL. Only when ready; returns at
   * once. Free with gst_sample_unref. */
  virtual GstSample *
  keyframe ()
  {
    return nullptr;
  }
};

/* The real source: a gwsourcebin for @conf in a pipeline of its own, one
 * fan-out per stream it exposes. */
std::unique_ptr<Source> make_gst_source (const PathConfig &conf, SourceEvents &events);

/* Removes @reader from its bin and sets it to NULL, off the main context. */
void release_reader (GstElement *reader);

} // namespace gw
