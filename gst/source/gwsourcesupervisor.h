/* The reconnect loop of gwsourcebin (internal to the element).
 *
 * A Supervisor runs one gw::Attempt after another on a thread of its own (a
 * GMainContext + GMainLoop): it starts an attempt, watches its bus, and when
 * the attempt fails, ends, or stays silent for the timeout, tears it down
 * and schedules the next one with a doubling backoff. Everything that
 * changes an inner pipeline's state runs on that thread, so neither the
 * application's thread nor a streaming thread ever waits for a camera.
 */
#pragma once

#include <gst/gst.h>

#include <deque>
#include <mutex>
#include <string>

#include "gwsourceattempt.h"
#include "gwsourcebin.h"

namespace gw {

struct RetryPolicy
{
  guint initial_ms; /* first delay; doubles per failed attempt */
  guint max_ms;     /* upper bound of the delay */
  guint timeout_ms; /* silence that counts as a drop */
};

/* What the supervisor asks of the bin, from the supervisor's thread. */
class SupervisorDelegate
{
public:
  /* The configuration of attempt @id, from the current settings (the
   * supervisor fills in the clock). */
  virtual AttemptConfig attempt_config (guint id) = 0;
  virtual RetryPolicy retry_policy () = 0;
  /* A state change; @error ("retrying" only) is free of secrets. */
  virtual void state_changed (GwSourceBinState state, guint attempt, const std::string *error,
                              guint retry_in_ms)
      = 0;
  /* @text with every secret of the settings hidden. */
  virtual std::string redact (const std::string &text) = 0;

protected:
  ~SupervisorDelegate () = default;
};

class Supervisor
{
public:
  /* @owner (the bin) is for logs and names the thread's attempts. */
  Supervisor (SupervisorDelegate &delegate, AttemptHost &host, OutputSet &outputs,
              GstObject *owner);
  /* Stops and joins the thread, after the current attempt's teardown. */
  ~Supervisor ();
  Supervisor (const Supervisor &) = delete;
  Supervisor &operator= (const Supervisor &) = delete;

  /* Starts attempting, on @clock (transfer full) with the outer pipeline's
   * @base_time. Any thread; returns at once. */
  void start (GstClock *clock, GstClockTime base_time);
  /* Ends the current attempt and any pending retry. Any thread; returns at
   * once (the teardown happens on the supervisor's thread). */
  void stop ();

  /* From @attempt's streaming threads. */
  void first_data (Attempt &attempt);
  void stream_ended (Attempt &attempt);

private:
  struct Command
  {
    enum Type
    {
      START,
      STOP,
      QUIT
    } type;
    GstClock *clock; /* START: owned */
    GstClockTime base_time;
  };
  struct Event;

  void send (Command cmd);
  void invoke (GSourceFunc func, gpointer data, GDestroyNotify notify);
  void tell (Attempt &attempt, GSourceFunc func);
  void halt ();
  void start_attempt ();
  void end_attempt ();
  void fail_attempt (const std::string &why);
  std::string describe (GError *err, const gchar *debug);

  static gpointer thread_main (gpointer data);
  static gboolean on_commands (gpointer data);
  static gboolean on_bus_message (GstBus *bus, GstMessage *msg, gpointer data);
  static gboolean on_watchdog (gpointer data);
  static gboolean on_retry (gpointer data);
  static gboolean on_first_data (gpointer data);
  static gboolean on_stream_ended (gpointer data);

  SupervisorDelegate &delegate_;
  AttemptHost &host_;
  OutputSet &outputs_;
  GstObject *owner_;
  GMainContext *ctx_ = nullptr;
  GMainLoop *loop_ = nullptr;
  GThread *thread_ = nullptr;

  std::mutex lock_;
  std::deque<Command> commands_; /* under lock_ */

  /* Only touched from the supervisor's thread. */
  Attempt *attempt_ = nullptr;
  GSource *retry_ = nullptr;
  GSource *watchdog_ = nullptr;
  GstClock *clock_ = nullptr;
  GstClockTime base_time_ = 0;
  bool active_ = false;  /* between start and stop */
  guint attempt_no_ = 0; /* in the current series of failures */
  guint next_id_ = 1;
  guint packet_errors_ = 0; /* depayloader complaints (supervisor thread) */
};

} // namespace gw
