/* A path: one upstream (a Source, source.h) shared through one fan-out per
 * stream by any number of reader sessions. A state machine on the main
 * context:
 *
 *   idle ──first reader / always-on──> starting ──source ready──> ready
 *    ^                                   │                          │
 *    │        start-timeout: parked readers get 503                  │
 *    │        (an on-demand source nobody waits for then closes)     │
 *    │                                   v                          v
 *    └────────── source closed ─────── closing <── close-after with no reader
 *                                                   (on-demand), source error,
 *                                                   shutdown
 *
 * Hooks (hooks.h): entering ready runs run-on-ready; leaving it (for
 * closing) stops that and runs run-on-not-ready; a reader whose connection
 * comes up runs run-on-read, and run-on-unread when it goes.
 *
 * Readers that arrive while the source starts or closes are parked, never
 * blocking the main loop: they are attached when it is ready, or get a 503
 * when start-timeout passes first. Once closed, a path restarts if readers
 * are parked or it is always-on (after a pause if the source failed).
 * Starting and closing the source run off the main context (source.h).
 *
 * Threads: main context only; no lock. The source's own lock is described in
 * source.cpp. */
#pragma once

#include "conf.h"
#include "hooks.h"
#include "source.h"

#include <gst/gst.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gw {

class Path;
class Session;

/* What a path needs from its owner (the manager, or a test). */
class PathParent
{
public:
  /* The server settings readers of the path use (may change on reload). */
  virtual const ServerConfig &server_config () const = 0;
  /* The source for @conf, reporting to @events. */
  virtual std::unique_ptr<Source> make_source (const PathConfig &conf, SourceEvents &events) = 0;

protected:
  ~PathParent () = default;
};

class Path : public std::enable_shared_from_this<Path>, private SourceEvents
{
public:
  enum class State
  {
    Idle,
    Starting,
    Ready,
    Closing
  };

  /* @parent outlives the path. */
  Path (PathConfig conf, PathParent &parent);
  ~Path ();
  Path (const Path &) = delete;
  Path &operator= (const Path &) = delete;

  const PathConfig &
  conf () const
  {
    return conf_;
  }
  const ServerConfig &
  server () const
  {
    return parent_.server_config ();
  }
  State
  state () const
  {
    return state_;
  }
  const char *state_name () const;
  /* The upstream's last reported state (connecting, streaming, retrying...). */
  const std::string &
  source_state () const
  {
    return source_state_;
  }
  guint
  n_readers () const
  {
    return (guint)readers_.size () + (guint)parked_.size ();
  }
  /* Readers waiting for the source. */
  guint
  n_parked () const
  {
    return (guint)parked_.size ();
  }
  /* Sources started so far (on-demand paths start once per busy period). */
  guint
  n_starts () const
  {
    return starts_;
  }
  /* shutdown() was called. */
  bool
  shut_down () const
  {
    return shut_down_;
  }

  /* The kept keyframe of the path's video (Source::keyframe) while it is
   * ready, else NULL; never starts the source. Free with gst_sample_unref. */
  GstSample *keyframe ();

  /* Starts always-on paths; call once after construction. */
  void activate ();
  /* Takes a new reader: attaches it now, parks it while the source starts
   * or closes, or fails it (503: the path is being removed). */
  void add_reader (const std::shared_ptr<Session> &session);
  /* Forgets a reader (its session is closing); runs run-on-unread if it
   * was reading. */
  void remove_reader (Session *session);
  /* A reader's peer connection is up: it reads (run-on-read, once). */
  void reader_connected (Session &session);
  /* Closes every reader and stops the source for good (path removed or
   * replaced). Returns at once; the source closes off the main context. */
  void shutdown ();

  /* --- for Session --- */
  /* Requests one reader pad per stream of @reader and links them to the
   * fan-outs. */
  bool link_reader (GstElement *reader, std::string &reason);
  /* Detaches @reader and removes it from its bin, off the main context. */
  void unlink_reader (GstElement *reader);

private:
  PathConfig conf_;
  PathParent &parent_;
  State state_ = State::Idle;
  std::string source_state_ = "idle";
  guint starts_ = 0;
  std::unique_ptr<Source> source_; /* from starting to closed */
  std::vector<std::shared_ptr<Session> > readers_;
  std::vector<std::shared_ptr<Session> > parked_;
  guint start_timer_ = 0;
  guint close_timer_ = 0;
  guint restart_timer_ = 0;
  bool restart_after_pause_ = false; /* always-on: the source failed */
  bool shut_down_ = false;
  PathHooks hooks_;
  /* Readers whose run-on-read ran: session id -> remote address. */
  std::map<std::string, std::string> reading_;

  void start_source ();
  void stop_source ();
  void arm_start_timer ();
  void on_start_failed (const std::string &reason);
  void maybe_schedule_close ();
  void after_closed ();

  /* SourceEvents */
  void source_ready () override;
  void source_error (const std::string &reason) override;
  void source_state (const std::string &state) override;
  void source_closed () override;
};

} // namespace gw
