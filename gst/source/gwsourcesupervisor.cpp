/* The reconnect loop of gwsourcebin (see gwsourcesupervisor.h).
 *
 * Backoff: attempt n of a series waits retry-initial * 2^(n-1) ms, at most
 * retry-max; a series starts over after an attempt that delivered data.
 * A silent attempt counts as dropped after "timeout" ms without data (twice
 * that before its first data, to leave room for the RTSP handshake and the
 * UDP->TCP fallback).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsourcesupervisor.h"

#include <algorithm>

GstDebugCategory *gw_source_bin_debug_category (void); /* gwsourcebin.cpp */
#define GST_CAT_DEFAULT gw_source_bin_debug_category ()

namespace gw {

/* Something an attempt's streaming thread tells the supervisor's thread. */
struct Supervisor::Event
{
  Supervisor *supervisor;
  guint attempt_id;
};

static void
clear_source (GSource **src)
{
  if (*src) {
    g_source_destroy (*src);
    g_source_unref (*src);
    *src = nullptr;
  }
}

Supervisor::Supervisor (SupervisorDelegate &delegate, AttemptHost &host, OutputSet &outputs,
                        GstObject *owner)
    : delegate_ (delegate), host_ (host), outputs_ (outputs), owner_ (owner)
{
  ctx_ = g_main_context_new ();
  loop_ = g_main_loop_new (ctx_, FALSE);
  thread_ = g_thread_new ("gwsourcebin", thread_main, this);
}

Supervisor::~Supervisor ()
{
  send (Command{ Command::QUIT, nullptr, 0 });
  g_thread_join (thread_);
  for (Command &c : commands_)
    gst_clear_object (&c.clock);
  g_main_loop_unref (loop_);
  g_main_context_unref (ctx_); /* drops pending events */
}

gpointer
Supervisor::thread_main (gpointer data)
{
  Supervisor *self = static_cast<Supervisor *> (data);
  g_main_context_push_thread_default (self->ctx_);
  g_main_loop_run (self->loop_);
  g_main_context_pop_thread_default (self->ctx_);
  return nullptr;
}

void
Supervisor::invoke (GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  GSource *src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT);
  g_source_set_callback (src, func, data, notify);
  g_source_attach (src, ctx_);
  g_source_unref (src);
}

void
Supervisor::send (Command cmd)
{
  {
    std::lock_guard<std::mutex> g (lock_);
    commands_.push_back (cmd);
  }
  invoke (on_commands, this, nullptr);
}

void
Supervisor::start (GstClock *clock, GstClockTime base_time)
{
  send (Command{ Command::START, clock, base_time });
}

void
Supervisor::stop ()
{
  send (Command{ Command::STOP, nullptr, 0 });
}

gboolean
Supervisor::on_commands (gpointer data)
{
  Supervisor *self = static_cast<Supervisor *> (data);
  while (true) {
    Command cmd;
    {
      std::lock_guard<std::mutex> g (self->lock_);
      if (self->commands_.empty ())
        break;
      cmd = self->commands_.front ();
      self->commands_.pop_front ();
    }
    self->halt ();
    if (cmd.type == Command::START) {
      self->active_ = true;
      self->clock_ = cmd.clock;
      self->base_time_ = cmd.base_time;
      self->start_attempt ();
    } else if (cmd.type == Command::QUIT) {
      g_main_loop_quit (self->loop_);
    }
  }
  return G_SOURCE_REMOVE;
}

/* Back to idle: no attempt, no retry. */
void
Supervisor::halt ()
{
  bool was_active = active_;
  active_ = false;
  clear_source (&retry_);
  end_attempt ();
  gst_clear_object (&clock_);
  attempt_no_ = 0;
  if (was_active)
    delegate_.state_changed (GW_SOURCE_BIN_STATE_STOPPED, 0, nullptr, 0);
}

void
Supervisor::tell (Attempt &attempt, GSourceFunc func)
{
  invoke (func, new Event{ this, attempt.id () },
          [] (gpointer p) { delete static_cast<Event *> (p); });
}

void
Supervisor::first_data (Attempt &attempt)
{
  tell (attempt, on_first_data);
}

void
Supervisor::stream_ended (Attempt &attempt)
{
  tell (attempt, on_stream_ended);
}

gboolean
Supervisor::on_first_data (gpointer data)
{
  Event *ev = static_cast<Event *> (data);
  Supervisor *self = ev->supervisor;
  if (self->attempt_ && self->attempt_->id () == ev->attempt_id)
    self->delegate_.state_changed (GW_SOURCE_BIN_STATE_STREAMING, self->attempt_no_, nullptr, 0);
  return G_SOURCE_REMOVE;
}

gboolean
Supervisor::on_stream_ended (gpointer data)
{
  Event *ev = static_cast<Event *> (data);
  Supervisor *self = ev->supervisor;
  /* a source whose stream ended is as good as dropped, even if others go on */
  if (self->attempt_ && self->attempt_->id () == ev->attempt_id)
    self->fail_attempt ("the source ended a stream");
  return G_SOURCE_REMOVE;
}

void
Supervisor::end_attempt ()
{
  clear_source (&watchdog_);
  delete attempt_; /* waits for its streaming threads */
  attempt_ = nullptr;
}

gboolean
Supervisor::on_retry (gpointer data)
{
  Supervisor *self = static_cast<Supervisor *> (data);
  clear_source (&self->retry_);
  if (self->active_)
    self->start_attempt ();
  return G_SOURCE_REMOVE;
}

void
Supervisor::fail_attempt (const std::string &why)
{
  bool had_data = attempt_ && attempt_->got_data ();
  end_attempt ();
  if (!active_)
    return;
  guint failed = attempt_no_;
  if (had_data)
    attempt_no_ = 0;
  RetryPolicy policy = delegate_.retry_policy ();
  guint64 max = std::max (policy.max_ms, policy.initial_ms);
  guint64 delay = policy.initial_ms;
  for (guint i = 1; i < attempt_no_ && delay < max; i++)
    delay *= 2;
  delay = std::min (delay, max);
  GST_WARNING_OBJECT (owner_, "attempt %u failed: %s; retrying in %" G_GUINT64_FORMAT " ms", failed,
                      why.c_str (), delay);
  clear_source (&retry_);
  retry_ = g_timeout_source_new ((guint)delay);
  g_source_set_callback (retry_, on_retry, this, nullptr);
  g_source_attach (retry_, ctx_);
  delegate_.state_changed (GW_SOURCE_BIN_STATE_RETRYING, failed, &why, (guint)delay);
}

/* "message (details)" of an error or warning, without secrets. */
std::string
Supervisor::describe (GError *err, const gchar *debug)
{
  return delegate_.redact (describe_error (err, debug));
}

gboolean
Supervisor::on_bus_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  Supervisor *self = static_cast<Supervisor *> (data);
  GError *err = nullptr;
  gchar *debug = nullptr;
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR: {
    if (is_depayloader_packet_error (msg)) {
      /* one packet it could not use; the watchdog catches a real stall */
      guint n = ++self->packet_errors_;
      if (n == 1 || n % 100 == 0) {
        gst_message_parse_error (msg, &err, &debug);
        GST_WARNING_OBJECT (self->owner_,
                            "connection %u: bad packet from the camera (%u so far): %s",
                            self->attempt_->id (), n, self->describe (err, debug).c_str ());
        g_clear_error (&err);
        g_free (debug);
      }
      break;
    }
    gst_message_parse_error (msg, &err, &debug);
    std::string why = self->describe (err, debug);
    g_clear_error (&err);
    g_free (debug);
    self->fail_attempt (why); /* destroys this watch */
    return G_SOURCE_REMOVE;
  }
  case GST_MESSAGE_EOS:
    self->fail_attempt ("the source ended the stream");
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_WARNING:
    gst_message_parse_warning (msg, &err, &debug);
    GST_WARNING_OBJECT (self->owner_, "connection %u: %s", self->attempt_->id (),
                        self->describe (err, debug).c_str ());
    g_clear_error (&err);
    g_free (debug);
    break;
  case GST_MESSAGE_LATENCY:
    gst_bin_recalculate_latency (GST_BIN (self->attempt_->pipeline ()));
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

gboolean
Supervisor::on_watchdog (gpointer data)
{
  Supervisor *self = static_cast<Supervisor *> (data);
  gint64 timeout_ms = self->delegate_.retry_policy ().timeout_ms;
  bool got = self->attempt_->got_data ();
  gint64 limit_ms = got ? timeout_ms : 2 * timeout_ms;
  gint64 idle_ms = (g_get_monotonic_time () - self->attempt_->last_activity_us ()) / 1000;
  if (idle_ms <= limit_ms)
    return G_SOURCE_CONTINUE;
  self->fail_attempt (got ? "no data for " + std::to_string (idle_ms) + " ms"
                          : "no data within " + std::to_string (idle_ms) + " ms of connecting");
  return G_SOURCE_REMOVE; /* fail_attempt destroyed it */
}

void
Supervisor::start_attempt ()
{
  guint id = next_id_++;
  AttemptConfig cfg = delegate_.attempt_config (id);
  cfg.owner = owner_;
  cfg.clock = clock_;
  cfg.base_time = base_time_;

  attempt_no_++;
  attempt_ = new Attempt (host_, outputs_, id, cfg);
  delegate_.state_changed (GW_SOURCE_BIN_STATE_CONNECTING, attempt_no_, nullptr, 0);
  if (!cfg.url.empty ())
    GST_INFO_OBJECT (owner_, "connection %u: %s", id, cfg.url.c_str ());

  std::string error;
  if (!attempt_->start (ctx_, on_bus_message, this, &error)) {
    fail_attempt (delegate_.redact (error));
    return;
  }
  watchdog_ = g_timeout_source_new (CLAMP (cfg.timeout_ms / 10, 20, 500));
  g_source_set_callback (watchdog_, on_watchdog, this, nullptr);
  g_source_attach (watchdog_, ctx_);
}

} // namespace gw
