/* A path: one upstream (gwsourcebin) shared through one fan-out per stream by
 * any number of reader sessions. A small state machine on the main context:
 *
 *   idle ──first reader / always-on──> starting ──streams exposed──> ready
 *     ^                                   │ start-timeout: parked readers get 503
 *     └──── close-after elapsed with no reader ───────── (on-demand only)
 *
 * Readers that arrive while the source starts are parked, never blocking the
 * main loop, and attached when it is ready. */
#pragma once

#include "conf.h"

#include <gst/gst.h>

#include <memory>
#include <string>
#include <vector>

struct _GwStream;

namespace gw {

class Session;

class Path : public std::enable_shared_from_this<Path>
{
public:
  enum class State
  {
    Idle,
    Starting,
    Ready
  };

  Path (PathConfig conf, const ServerConfig &server);
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
    return server_;
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
  /* Sources started so far (on-demand paths start once per busy period). */
  guint
  n_starts () const
  {
    return starts_;
  }

  /* Starts always-on paths; call once after construction. */
  void activate ();
  /* Takes a new reader: attaches it now, parks it while the source starts,
   * or fails it (max-readers: 503). */
  void add_reader (const std::shared_ptr<Session> &session);
  /* Detaches a reader (its session is closing). */
  void remove_reader (Session *session);
  /* Closes every reader and stops the source (path removed or replaced). */
  void shutdown ();

  /* --- for Session --- */
  /* Requests one reader pad per stream of @reader and links them to the
   * fan-outs. */
  bool link_reader (GstElement *reader, std::string &reason);
  void unlink_reader (GstElement *reader);

private:
  struct Stream
  {
    std::string name; /* video_0, audio_0 */
    struct _GwStream *fanout;
  };

  PathConfig conf_;
  const ServerConfig &server_;
  State state_ = State::Idle;
  std::string source_state_ = "idle";
  guint starts_ = 0;
  GstElement *pipeline_ = nullptr;
  GstElement *source_ = nullptr; /* borrowed from pipeline_ */
  std::vector<Stream> streams_;  /* main context only once ready */
  std::vector<std::shared_ptr<Session> > readers_;
  std::vector<std::shared_ptr<Session> > parked_;
  guint start_timer_ = 0;
  guint close_timer_ = 0;
  guint bus_watch_ = 0;
  bool shut_down_ = false;

  void start_source ();
  void stop_source ();
  void on_ready ();
  void on_start_failed (const std::string &reason);
  void maybe_schedule_close ();
  GstElement *make_source (std::string &reason);
  static gboolean on_bus (GstBus *bus, GstMessage *msg, gpointer data);
  static void on_pad_added (GstElement *src, GstPad *pad, gpointer data);
  static void on_no_more_pads (GstElement *src, gpointer data);
};

} // namespace gw
