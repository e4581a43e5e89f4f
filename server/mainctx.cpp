#include "mainctx.h"

#include <condition_variable>

namespace gw {

namespace {

struct MainCall
{
  std::function<void ()> fn;
};

/* Jobs queued or running over all Workers, for wait_idle. */
std::mutex pending_lock;
std::condition_variable pending_done;
guint64 pending = 0;

} // namespace

void
run_on_main (std::function<void ()> fn)
{
  g_main_context_invoke_full (
      NULL, G_PRIORITY_DEFAULT,
      [] (gpointer d) -> gboolean {
        static_cast<MainCall *> (d)->fn ();
        return G_SOURCE_REMOVE;
      },
      new MainCall{ std::move (fn) }, [] (gpointer d) { delete static_cast<MainCall *> (d); });
}

void
release_later (std::shared_ptr<void> obj)
{
  g_idle_add_full (
      G_PRIORITY_DEFAULT, [] (gpointer) -> gboolean { return G_SOURCE_REMOVE; },
      new std::shared_ptr<void> (std::move (obj)),
      [] (gpointer d) { delete static_cast<std::shared_ptr<void> *> (d); });
}

std::shared_ptr<Worker>
Worker::create ()
{
  return std::shared_ptr<Worker> (new Worker ());
}

void
Worker::post (std::function<void ()> job)
{
  {
    std::lock_guard<std::mutex> g (pending_lock);
    pending++;
  }
  bool start = false;
  {
    std::lock_guard<std::mutex> g (lock_);
    jobs_.push_back (std::move (job));
    if (!running_)
      start = running_ = true;
  }
  if (start) {
    static std::once_flag once;
    static GThreadPool *p;
    std::call_once (once, [] () { p = g_thread_pool_new (run, NULL, -1, FALSE, NULL); });
    g_thread_pool_push (p, new std::shared_ptr<Worker> (shared_from_this ()), NULL);
  }
}

void
Worker::run (gpointer data, gpointer)
{
  std::shared_ptr<Worker> self = std::move (*static_cast<std::shared_ptr<Worker> *> (data));
  delete static_cast<std::shared_ptr<Worker> *> (data);
  for (;;) {
    std::function<void ()> job;
    {
      std::lock_guard<std::mutex> g (self->lock_);
      if (self->jobs_.empty ()) {
        self->running_ = false;
        return;
      }
      job = std::move (self->jobs_.front ());
      self->jobs_.pop_front ();
    }
    job ();
    job = nullptr; /* release what it captured before counting it done */
    std::lock_guard<std::mutex> g (pending_lock);
    if (--pending == 0)
      pending_done.notify_all ();
  }
}

bool
Worker::wait_idle (gint64 timeout_us)
{
  std::unique_lock<std::mutex> g (pending_lock);
  return pending_done.wait_for (g, std::chrono::microseconds (timeout_us),
                                [] () { return pending == 0; });
}

} // namespace gw
