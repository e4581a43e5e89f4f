/* The two places server code runs: the main context (all server state) and
 * workers (anything that may wait: a source's state changes, its teardown).
 * The main context only posts work to a worker and receives the result back
 * through run_on_main. */
#pragma once

#include <glib.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace gw {

/* Runs @fn on the main context (from any thread). Runs it at once when
 * called on the main context itself (g_main_context_invoke). */
void run_on_main (std::function<void ()> fn);

/* Keeps @obj alive until the main context is idle again, so that an object
 * can be let go from inside one of its own callbacks. Main context only. */
void release_later (std::shared_ptr<void> obj);

/* A queue of jobs run one after another on a shared pool of threads, never
 * on the main context. Jobs of one Worker run in the order posted and never
 * two at once; different Workers run in parallel, so one job that waits (a
 * camera that does not answer its TEARDOWN) holds up only its own queue.
 * A job keeps alive whatever it captures; the Worker stays alive while it
 * has jobs. */
class Worker : public std::enable_shared_from_this<Worker>
{
public:
  static std::shared_ptr<Worker> create ();
  /* Any thread. */
  void post (std::function<void ()> job);

  /* Waits until no job of any Worker is queued or running, at most
   * @timeout_us; false if some still are (at exit). */
  static bool wait_idle (gint64 timeout_us);

private:
  Worker () = default;
  static void run (gpointer data, gpointer);

  std::mutex lock_; /* leaf: guards jobs_ and running_; no job runs under it */
  std::deque<std::function<void ()> > jobs_;
  bool running_ = false; /* a pool thread is draining jobs_ */
};

} // namespace gw
