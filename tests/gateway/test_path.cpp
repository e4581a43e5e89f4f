/* The path state machine (server/path.h) with a fake source: no network, no
 * camera. The test plays the source's part by calling the path's
 * SourceEvents at the moments it chooses. */
#include <glib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "gwelements.h"
#include "mainctx.h"
#include "path.h"
#include "session.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

/* What the fake sources of one parent saw. */
struct Log
{
  guint made = 0, starts = 0, stops = 0, links = 0, unlinks = 0;
  gw::SourceEvents *events = nullptr; /* the newest source's path */
};

class FakeSource : public gw::Source
{
public:
  explicit FakeSource (Log &log) : log_ (log) { pipeline_ = gst_pipeline_new (NULL); }
  ~FakeSource () override { gst_object_unref (pipeline_); }

  void
  start () override
  {
    log_.starts++;
  }
  void
  stop () override
  {
    log_.stops++;
  }
  GstElement *
  pipeline () override
  {
    return pipeline_;
  }
  /* One video stream, never fed: the reader waits for its caps. */
  bool
  link_reader (GstElement *reader, std::string &reason) override
  {
    log_.links++;
    GstPad *pad = gst_element_request_pad_simple (reader, "video_%u");
    if (!pad) {
      reason = "no video pad";
      return false;
    }
    gst_object_unref (pad);
    return true;
  }
  void
  unlink_reader (GstElement *reader) override
  {
    log_.unlinks++;
    gst_element_set_state (reader, GST_STATE_NULL);
    if (GstObject *parent = gst_object_get_parent (GST_OBJECT (reader))) {
      gst_bin_remove (GST_BIN (parent), reader);
      gst_object_unref (parent);
    }
  }

private:
  Log &log_;
  GstElement *pipeline_;
};

class Parent : public gw::PathParent
{
public:
  gw::ServerConfig server;
  Log log;

  const gw::ServerConfig &
  server_config () const override
  {
    return server;
  }
  std::unique_ptr<gw::Source>
  make_source (const gw::PathConfig &, gw::SourceEvents &events) override
  {
    log.made++;
    log.events = &events;
    return std::unique_ptr<gw::Source> (new FakeSource (log));
  }
};

gw::PathConfig
config (bool on_demand)
{
  gw::PathConfig c;
  c.name = "cam";
  c.pipeline = "fake";
  c.on_demand = on_demand;
  c.start_timeout = 1;
  c.close_after = 1;
  return c;
}

/* A reader session and what it heard. */
struct Reader
{
  std::shared_ptr<gw::Session> session;
  guint status = 0;
  std::string reason;
  bool closed = false;
};

std::unique_ptr<Reader>
reader (const char *id)
{
  auto r = std::unique_ptr<Reader> (new Reader ());
  r->session
      = std::make_shared<gw::Session> (id, "cam", gw::SessionRole::Offerer, "", "192.0.2.1:1234");
  Reader *raw = r.get ();
  r->session->events.on_error = [raw] (guint status, const std::string &reason) {
    raw->status = status;
    raw->reason = reason;
  };
  r->session->events.on_closed = [raw] () { raw->closed = true; };
  return r;
}

/* Runs the main context until @done, at most @seconds. */
bool
run_until (std::function<bool ()> done, double seconds)
{
  gint64 end = g_get_monotonic_time () + (gint64)(seconds * G_USEC_PER_SEC);
  while (!done ()) {
    if (g_get_monotonic_time () > end)
      return false;
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (10 * 1000);
  }
  return true;
}

/* Lets pending main-context callbacks run. */
void
drain ()
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

void
test_parked_served_when_ready ()
{
  Parent parent;
  auto path = std::make_shared<gw::Path> (config (true), parent);
  path->activate ();
  g_assert_true (path->state () == gw::Path::State::Idle);
  g_assert_cmpuint (parent.log.made, ==, 0);

  auto a = reader ("a"), b = reader ("b");
  path->add_reader (a->session);
  path->add_reader (b->session);
  g_assert_true (path->state () == gw::Path::State::Starting);
  g_assert_cmpstr (path->state_name (), ==, "starting");
  g_assert_cmpuint (parent.log.made, ==, 1); /* one source for both */
  g_assert_cmpuint (parent.log.starts, ==, 1);
  g_assert_cmpuint (path->n_parked (), ==, 2);
  g_assert_cmpuint (parent.log.links, ==, 0);

  parent.log.events->source_ready ();
  g_assert_true (path->state () == gw::Path::State::Ready);
  g_assert_cmpuint (path->n_parked (), ==, 0);
  g_assert_cmpstr (a->reason.c_str (), ==, "");
  g_assert_cmpuint (path->n_readers (), ==, 2);
  g_assert_cmpuint (parent.log.links, ==, 2);
  g_assert_nonnull (a->session->reader ());
  g_assert_nonnull (b->session->reader ());
  g_assert_cmpuint (a->status, ==, 0);

  /* A reader arriving now is attached at once. */
  auto c = reader ("c");
  path->add_reader (c->session);
  g_assert_cmpuint (parent.log.links, ==, 3);
  g_assert_cmpuint (path->n_parked (), ==, 0);
  path->shutdown ();
  g_assert_true (a->closed && b->closed && c->closed);
  drain ();
}

void
test_start_timeout ()
{
  Parent parent;
  auto path = std::make_shared<gw::Path> (config (true), parent);
  auto a = reader ("a");
  path->add_reader (a->session);
  g_assert_true (path->state () == gw::Path::State::Starting);

  g_assert_true (run_until ([&a] { return a->status != 0; }, 5));
  g_assert_cmpuint (a->status, ==, 503);
  g_assert_nonnull (strstr (a->reason.c_str (), "start-timeout"));
  g_assert_true (a->closed);
  g_assert_cmpuint (path->n_readers (), ==, 0);
  /* Nobody waits any more: the on-demand source closes. */
  g_assert_true (path->state () == gw::Path::State::Closing);
  g_assert_cmpuint (parent.log.stops, ==, 1);
  parent.log.events->source_closed ();
  g_assert_true (path->state () == gw::Path::State::Idle);
  g_assert_cmpuint (parent.log.made, ==, 1); /* no restart */
  drain ();
}

void
test_close_after ()
{
  Parent parent;
  auto path = std::make_shared<gw::Path> (config (true), parent);
  auto a = reader ("a");
  path->add_reader (a->session);
  parent.log.events->source_ready ();
  g_assert_cmpuint (path->n_readers (), ==, 1);

  a->session->close ();
  g_assert_cmpuint (path->n_readers (), ==, 0);
  g_assert_cmpuint (parent.log.unlinks, ==, 1);
  g_assert_true (path->state () == gw::Path::State::Ready); /* lingers */
  g_assert_true (run_until ([&path] { return path->state () != gw::Path::State::Ready; }, 5));
  g_assert_true (path->state () == gw::Path::State::Closing);
  g_assert_cmpuint (parent.log.stops, ==, 1);
  parent.log.events->source_closed ();
  g_assert_true (path->state () == gw::Path::State::Idle);
  g_assert_cmpstr (path->source_state ().c_str (), ==, "idle");
  g_assert_cmpuint (parent.log.made, ==, 1);

  /* An always-on path never closes for lack of readers. */
  Parent parent2;
  auto always = std::make_shared<gw::Path> (config (false), parent2);
  always->activate ();
  g_assert_cmpuint (parent2.log.made, ==, 1);
  parent2.log.events->source_ready ();
  g_assert_false (
      run_until ([&always] { return always->state () != gw::Path::State::Ready; }, 2.5));
  g_assert_cmpuint (parent2.log.stops, ==, 0);
  always->shutdown ();
  drain ();
}

void
test_reload_while_starting ()
{
  Parent parent;
  auto old = std::make_shared<gw::Path> (config (false), parent);
  old->activate ();
  g_assert_true (old->state () == gw::Path::State::Starting);
  auto a = reader ("a");
  old->add_reader (a->session);
  g_assert_cmpuint (old->n_parked (), ==, 1);

  /* The definition changed: the manager shuts the old path down and makes
   * a new one at once. */
  gw::SourceEvents *old_events = parent.log.events;
  old->shutdown ();
  g_assert_true (a->closed);
  g_assert_cmpuint (old->n_readers (), ==, 0);
  g_assert_true (old->state () == gw::Path::State::Closing);
  g_assert_cmpuint (parent.log.stops, ==, 1);
  auto fresh = std::make_shared<gw::Path> (config (false), parent);
  fresh->activate ();
  g_assert_cmpuint (parent.log.made, ==, 2);
  g_assert_true (fresh->state () == gw::Path::State::Starting);

  /* The old source's late news changes nothing; once closed it stays down. */
  old_events->source_ready ();
  g_assert_true (old->state () == gw::Path::State::Closing);
  g_assert_cmpuint (parent.log.links, ==, 0);
  auto b = reader ("b");
  old->add_reader (b->session);
  g_assert_cmpuint (b->status, ==, 503);
  old_events->source_closed ();
  g_assert_true (old->state () == gw::Path::State::Idle);
  g_assert_cmpuint (parent.log.made, ==, 2);

  /* Shut down while closing, too. */
  fresh->shutdown ();
  fresh->shutdown ();
  g_assert_cmpuint (parent.log.stops, ==, 2);
  drain ();
}

void
test_source_lost_while_closing ()
{
  Parent parent;
  auto path = std::make_shared<gw::Path> (config (true), parent);
  auto a = reader ("a");
  path->add_reader (a->session);
  parent.log.events->source_ready ();
  a->session->close ();
  g_assert_true (run_until ([&path] { return path->state () == gw::Path::State::Closing; }, 5));

  parent.log.events->source_error ("source error: the camera went away");
  g_assert_true (path->state () == gw::Path::State::Closing);
  g_assert_cmpuint (parent.log.stops, ==, 1);
  parent.log.events->source_closed ();
  g_assert_true (path->state () == gw::Path::State::Idle);
  g_assert_cmpuint (parent.log.made, ==, 1);

  /* Lost while ready: its readers get 503 and the source closes; an
   * always-on path starts again after a pause, not at once. */
  Parent parent2;
  auto always = std::make_shared<gw::Path> (config (false), parent2);
  always->activate ();
  parent2.log.events->source_ready ();
  auto b = reader ("b");
  always->add_reader (b->session);
  parent2.log.events->source_error ("source error: gone");
  g_assert_cmpuint (b->status, ==, 503);
  g_assert_true (always->state () == gw::Path::State::Closing);
  parent2.log.events->source_closed ();
  g_assert_true (always->state () == gw::Path::State::Idle);
  g_assert_cmpuint (parent2.log.made, ==, 1);
  always->shutdown ();
  drain ();
}

void
test_reader_while_closing ()
{
  Parent parent;
  auto path = std::make_shared<gw::Path> (config (true), parent);
  auto a = reader ("a");
  path->add_reader (a->session);
  parent.log.events->source_ready ();
  a->session->close ();
  g_assert_true (run_until ([&path] { return path->state () == gw::Path::State::Closing; }, 5));

  auto b = reader ("b");
  path->add_reader (b->session);
  g_assert_true (path->state () == gw::Path::State::Closing);
  g_assert_cmpuint (path->n_parked (), ==, 1);
  g_assert_cmpuint (parent.log.made, ==, 1);
  g_assert_cmpuint (b->status, ==, 0);

  parent.log.events->source_closed ();
  g_assert_true (path->state () == gw::Path::State::Starting);
  g_assert_cmpuint (parent.log.made, ==, 2);
  g_assert_cmpuint (path->n_starts (), ==, 2);
  parent.log.events->source_ready ();
  g_assert_true (path->state () == gw::Path::State::Ready);
  g_assert_cmpuint (path->n_parked (), ==, 0);
  g_assert_cmpuint (parent.log.links, ==, 2);
  g_assert_nonnull (b->session->reader ());
  g_assert_cmpuint (b->status, ==, 0);
  path->shutdown ();
  drain ();
}

/* ------------------------------------------------------------------ hooks */

std::string
read_text (const std::string &file)
{
  g_autofree gchar *text = NULL;
  if (!g_file_get_contents (file.c_str (), &text, NULL, NULL))
    return "";
  return text;
}

/* Waits until @file holds @n lines; returns them. */
std::vector<std::string>
wait_lines (const std::string &file, guint n, const char *what)
{
  std::vector<std::string> lines;
  bool ok = run_until (
      [&] {
        lines.clear ();
        g_auto (GStrv) parts = g_strsplit (read_text (file).c_str (), "\n", -1);
        for (guint i = 0; parts[i]; i++)
          if (*parts[i])
            lines.emplace_back (parts[i]);
        return lines.size () >= n;
      },
      10);
  if (!ok)
    g_error ("%s: %s holds %zu lines, not %u:\n%s", what, file.c_str (), lines.size (), n,
             read_text (file).c_str ());
  return lines;
}

/* A hook that appends "WORD path session remote state" to @file. */
std::vector<std::string>
append_hook (const std::string &file, const char *word)
{
  return { "sh", "-c",
           std::string ("echo \"") + word
               + " $GW_PATH|$GW_SESSION_ID|$GW_REMOTE|$GW_SOURCE_STATE\" >> \"$0\"",
           file };
}

std::vector<std::string> hook_log; /* the "gateway" domain's info lines */

void
on_gateway_log (const gchar *, GLogLevelFlags, const gchar *message, gpointer)
{
  hook_log.emplace_back (message);
}

bool
logged (const std::string &part)
{
  for (const auto &l : hook_log)
    if (l.find (part) != std::string::npos)
      return true;
  return false;
}

/* ready -> read -> unread -> not-ready, each with its environment; the
 * read hook once per session; run-on-ready gets SIGTERM when the path
 * stops being ready; a hook's output reaches the log with the path's
 * name. */
void
test_hooks ()
{
  g_autofree gchar *dir = g_dir_make_tmp ("gwhooks-XXXXXX", NULL);
  std::string file = std::string (dir) + "/events";
  hook_log.clear ();
  guint handler = g_log_set_handler ("gateway", G_LOG_LEVEL_INFO, on_gateway_log, NULL);

  gw::PathConfig c = config (true);
  /* run-on-ready stays up until it is told to stop (SIGTERM), and says so. */
  c.hooks.ready = { "sh", "-c",
                    "echo \"ready $GW_PATH|$GW_SESSION_ID|$GW_REMOTE|$GW_SOURCE_STATE\" >> \"$0\";"
                    " trap 'echo terminated >> \"$0\"; exit 0' TERM;"
                    " echo 'hello from the hook'; echo 'to stderr' >&2;"
                    " i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
                    file };
  c.hooks.not_ready = append_hook (file, "not-ready");
  c.hooks.read = append_hook (file, "read");
  c.hooks.unread = append_hook (file, "unread");
  Parent parent;
  auto path = std::make_shared<gw::Path> (c, parent);
  auto a = reader ("a");
  path->add_reader (a->session);
  /* Parked: not reading yet. */
  path->reader_connected (*a->session);
  parent.log.events->source_state ("streaming");
  parent.log.events->source_ready ();
  auto lines = wait_lines (file, 1, "run-on-ready");
  g_assert_cmpstr (lines[0].c_str (), ==, "ready cam|||streaming");
  g_assert_true (
      run_until ([] { return logged ("path cam: run-on-ready: hello from the hook"); }, 10));
  g_assert_true (run_until ([] { return logged ("path cam: run-on-ready: to stderr"); }, 10));

  path->reader_connected (*a->session);
  path->reader_connected (*a->session); /* once per session */
  lines = wait_lines (file, 2, "run-on-read");
  g_assert_cmpstr (lines[1].c_str (), ==, "read cam|a|192.0.2.1:1234|streaming");

  a->session->close ();
  lines = wait_lines (file, 3, "run-on-unread");
  g_assert_cmpstr (lines[2].c_str (), ==, "unread cam|a|192.0.2.1:1234|streaming");

  /* close-after (1 s): the path stops being ready. */
  g_assert_true (run_until ([&path] { return path->state () == gw::Path::State::Closing; }, 5));
  lines = wait_lines (file, 5, "run-on-not-ready and the end of run-on-ready");
  g_assert_cmpuint (lines.size (), ==, 5);
  /* The two run in parallel. */
  bool term_first = lines[3] == "terminated";
  g_assert_cmpstr (lines[term_first ? 4 : 3].c_str (), ==, "not-ready cam|||streaming");
  g_assert_cmpstr (lines[term_first ? 3 : 4].c_str (), ==, "terminated");
  g_assert_true (run_until ([] { return logged ("run-on-ready (pid "); }, 10));
  g_assert_true (
      run_until ([] { return logged ("path cam: run-on-ready (pid ") && logged ("exited"); }, 10));
  parent.log.events->source_closed ();
  path->shutdown ();
  drain ();

  /* A hook still running is not started twice for the same key. */
  std::string marks = std::string (dir) + "/marks";
  gw::Hook slow ("cam", "run-on-read", { "sh", "-c", "echo x >> \"$0\"; sleep 1", marks });
  gw::HookEnv env{ "cam", "s1", "192.0.2.1:1", "streaming" };
  g_assert_true (slow.fire ("s1", env));
  g_assert_false (slow.fire ("s1", env));
  g_assert_true (logged ("path cam: run-on-read is still running"));
  g_assert_true (slow.fire ("s2", env)); /* another session */
  g_assert_true (run_until ([&slow] { return !slow.running ("s1") && !slow.running ("s2"); }, 10));
  g_assert_true (slow.fire ("s1", env));
  wait_lines (marks, 3, "three runs");
  g_assert_true (run_until ([&slow] { return !slow.running ("s1"); }, 10));

  /* A program that cannot start is a warning, not a crash. */
  gw::Hook missing ("cam", "run-on-ready", { "/nonexistent/hook" });
  g_assert_false (missing.fire ("", env));

  g_log_remove_handler ("gateway", handler);
  g_remove (file.c_str ());
  g_remove (marks.c_str ());
  g_rmdir (dir);
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  gw_elements_register_static ();
  g_test_init (&argc, &argv, NULL);
  /* The path warns about failed sources on purpose. */
  g_log_set_always_fatal ((GLogLevelFlags)(G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL));
  g_test_add_func ("/path/parked-served-when-ready", test_parked_served_when_ready);
  g_test_add_func ("/path/start-timeout", test_start_timeout);
  g_test_add_func ("/path/close-after", test_close_after);
  g_test_add_func ("/path/reload-while-starting", test_reload_while_starting);
  g_test_add_func ("/path/source-lost-while-closing", test_source_lost_while_closing);
  g_test_add_func ("/path/reader-while-closing", test_reader_while_closing);
  g_test_add_func ("/path/hooks", test_hooks);
  return g_test_run ();
}
