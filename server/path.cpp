#include "path.h"

#include "mainctx.h"
#include "session.h"

#include <algorithm>

namespace gw {

namespace {

using WeakPath = std::weak_ptr<Path>;

/* Pause before an always-on path whose source failed starts again. */
constexpr guint RESTART_PAUSE_S = 5;

/* A timer on the main context holding a weak ref to the path. */
guint
path_timer (guint seconds, const std::shared_ptr<Path> &path, void (*fn) (Path &))
{
  struct Data
  {
    WeakPath path;
    void (*fn) (Path &);
  };
  return g_timeout_add_seconds_full (
      G_PRIORITY_DEFAULT, seconds,
      [] (gpointer d) -> gboolean {
        auto *data = static_cast<Data *> (d);
        if (auto p = data->path.lock ())
          data->fn (*p);
        return G_SOURCE_REMOVE;
      },
      new Data{ path, fn }, [] (gpointer d) { delete static_cast<Data *> (d); });
}

void
clear_timer (guint &id)
{
  if (id) {
    g_source_remove (id);
    id = 0;
  }
}

} // namespace

Path::Path (PathConfig conf, PathParent &parent)
    : conf_ (std::move (conf)), parent_ (parent), hooks_ (conf_.name, conf_.hooks)
{
}

Path::~Path ()
{
  clear_timer (start_timer_);
  clear_timer (close_timer_);
  clear_timer (restart_timer_);
  /* Destroying the source stops it off the main context. */
  source_.reset ();
}

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
  case State::Closing:
    return "closing";
  }
  return "unknown";
}

void
Path::activate ()
{
  if (!conf_.on_demand && state_ == State::Idle)
    start_source ();
}

void
Path::start_source ()
{
  if (state_ != State::Idle || shut_down_)
    return;
  clear_timer (restart_timer_);
  source_ = parent_.make_source (conf_, *this);
  if (!source_) {
    on_start_failed ("the source could not be created");
    return;
  }
  state_ = State::Starting;
  source_state_ = "connecting";
  starts_++;
  g_info ("path %s: starting its source", conf_.name.c_str ());
  source_->start ();
  if (!parked_.empty ())
    arm_start_timer ();
}

void
Path::stop_source ()
{
  clear_timer (start_timer_);
  clear_timer (close_timer_);
  if (state_ != State::Starting && state_ != State::Ready)
    return;
  const bool was_ready = state_ == State::Ready;
  const std::string last_state = source_state_;
  state_ = State::Closing;
  source_state_ = "closing";
  if (was_ready)
    hooks_.not_ready (last_state);
  g_info ("path %s: closing its source", conf_.name.c_str ());
  source_->stop ();
}

void
Path::arm_start_timer ()
{
  if (start_timer_)
    return;
  start_timer_ = path_timer (conf_.start_timeout, shared_from_this (), [] (Path &p) {
    p.start_timer_ = 0;
    g_autofree gchar *why = g_strdup_printf ("the source of path %s was not ready "
                                             "within start-timeout (%u s)",
                                             p.conf_.name.c_str (), p.conf_.start_timeout);
    p.on_start_failed (why);
  });
}

void
Path::source_ready ()
{
  if (state_ != State::Starting)
    return;
  state_ = State::Ready;
  restart_after_pause_ = false;
  clear_timer (start_timer_);
  g_info ("path %s: ready", conf_.name.c_str ());
  hooks_.ready (source_state_);
  std::vector<std::shared_ptr<Session> > parked;
  parked.swap (parked_);
  for (auto &s : parked) {
    if (s->closed ())
      continue;
    readers_.push_back (s);
    s->attach (*this, source_->pipeline ());
  }
  maybe_schedule_close ();
}

void
Path::source_error (const std::string &reason)
{
  switch (state_) {
  case State::Starting:
    on_start_failed (reason);
    break;
  case State::Ready: {
    g_warning ("path %s: %s; closing its readers", conf_.name.c_str (), reason.c_str ());
    std::vector<std::shared_ptr<Session> > all;
    all.swap (readers_);
    for (auto &s : all)
      s->fail (503, reason);
    /* Always-on: start again after a pause, once closed. */
    restart_after_pause_ = !conf_.on_demand;
    stop_source ();
    break;
  }
  case State::Closing:
  case State::Idle:
    g_info ("path %s: %s (the source is %s)", conf_.name.c_str (), reason.c_str (), state_name ());
    break;
  }
}

void
Path::source_state (const std::string &state)
{
  if (state_ == State::Starting || state_ == State::Ready)
    source_state_ = state;
}

void
Path::source_closed ()
{
  if (state_ != State::Closing)
    return;
  /* The source calls this from its own callback: let it go once it returns. */
  release_later (std::shared_ptr<Source> (std::move (source_)));
  state_ = State::Idle;
  source_state_ = "idle";
  after_closed ();
}

void
Path::after_closed ()
{
  if (shut_down_)
    return;
  if (!parked_.empty ()) {
    /* Readers came while it closed. */
    start_source ();
  } else if (!conf_.on_demand) {
    if (restart_after_pause_)
      restart_timer_ = path_timer (RESTART_PAUSE_S, shared_from_this (), [] (Path &p) {
        p.restart_timer_ = 0;
        p.start_source ();
      });
    else
      start_source ();
  }
}

void
Path::on_start_failed (const std::string &reason)
{
  g_warning ("path %s: %s", conf_.name.c_str (), reason.c_str ());
  clear_timer (start_timer_);
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
  clear_timer (close_timer_);
  if (state_ == State::Ready) {
    readers_.push_back (session);
    session->attach (*this, source_->pipeline ());
    return;
  }
  parked_.push_back (session);
  if (state_ == State::Idle)
    start_source (); /* arms the start timer, or fails the reader */
  else
    arm_start_timer (); /* starting, or closing then starting again */
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
  auto reading = reading_.find (session->id ());
  if (reading != reading_.end ()) {
    std::string remote = reading->second;
    reading_.erase (reading);
    hooks_.unread (session->id (), remote, source_state_);
  }
  if (parked_.empty ())
    clear_timer (start_timer_);
  maybe_schedule_close ();
}

void
Path::reader_connected (Session &session)
{
  if (reading_.count (session.id ()) || session.closed ())
    return;
  bool attached = std::any_of (readers_.begin (), readers_.end (),
                               [&session] (const auto &s) { return s.get () == &session; });
  if (!attached)
    return;
  reading_[session.id ()] = session.remote ();
  hooks_.read (session.id (), session.remote (), source_state_);
}

void
Path::maybe_schedule_close ()
{
  if (!conf_.on_demand || (state_ != State::Starting && state_ != State::Ready) || n_readers () > 0
      || close_timer_ || shut_down_)
    return;
  g_info ("path %s: no readers, closing the source in %u s", conf_.name.c_str (),
          conf_.close_after);
  close_timer_ = path_timer (conf_.close_after, shared_from_this (), [] (Path &p) {
    p.close_timer_ = 0;
    if (p.n_readers () == 0)
      p.stop_source ();
  });
}

void
Path::shutdown ()
{
  shut_down_ = true;
  clear_timer (restart_timer_);
  std::vector<std::shared_ptr<Session> > all;
  all.swap (readers_);
  all.insert (all.end (), parked_.begin (), parked_.end ());
  parked_.clear ();
  for (auto &s : all)
    s->close ();
  stop_source ();
}

bool
Path::link_reader (GstElement *reader, std::string &reason)
{
  if (state_ != State::Ready) {
    reason = "the path's source is not ready";
    return false;
  }
  return source_->link_reader (reader, reason);
}

void
Path::unlink_reader (GstElement *reader)
{
  if (source_)
    source_->unlink_reader (reader);
  else
    release_reader (reader);
}

GstSample *
Path::keyframe ()
{
  return state_ == State::Ready && source_ ? source_->keyframe () : nullptr;
}

} // namespace gw
