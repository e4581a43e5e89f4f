/* Path hooks: see hooks.h.
 *
 * Lifetimes: a Run is held by its hook's table (until it exits) and by its
 * pending asynchronous calls (the exit wait, the next read of its output),
 * so its output is logged to the end even after its path is gone. */
#include "hooks.h"

#include <gio/gio.h>
#include <signal.h>

namespace gw {

namespace {

/* Longer output lines are cut into pieces of this size. */
constexpr gsize MAX_LINE = 4096;
constexpr gsize READ_CHUNK = 4096;

using RunMap = std::map<std::string, std::shared_ptr<Hook::Run> >;

bool exiting = false; /* main context only */

} // namespace

void
hooks_exiting ()
{
  exiting = true;
}

struct Hook::Run
{
  std::string path, name, key, pid;
  GSubprocess *proc = nullptr; /* ref held */
  std::string partial;         /* output after the last newline */
  std::weak_ptr<RunMap> runs;
  bool exited = false;
  guint kill_timer = 0;

  ~Run ()
  {
    if (kill_timer)
      g_source_remove (kill_timer);
    g_clear_object (&proc);
  }

  void
  log_line (const std::string &raw)
  {
    g_autofree gchar *valid = g_utf8_make_valid (raw.data (), (gssize)raw.size ());
    std::string line (valid);
    for (char &c : line)
      if ((guchar)c < 0x20 && c != '\t')
        c = '?';
    g_info ("path %s: %s: %s", path.c_str (), name.c_str (), line.c_str ());
  }

  void
  output (const char *data, gsize len)
  {
    for (gsize i = 0; i < len; i++) {
      if (data[i] == '\n') {
        if (!partial.empty () && partial.back () == '\r')
          partial.pop_back ();
        log_line (partial);
        partial.clear ();
      } else {
        partial += data[i];
        if (partial.size () >= MAX_LINE) {
          log_line (partial);
          partial.clear ();
        }
      }
    }
  }
};

namespace {

using RunRef = std::shared_ptr<Hook::Run>;

void read_more (const RunRef &run);

void
on_output (GObject *src, GAsyncResult *res, gpointer data)
{
  std::unique_ptr<RunRef> run (static_cast<RunRef *> (data));
  g_autoptr (GError) err = NULL;
  g_autoptr (GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (src), res, &err);
  gsize len = 0;
  const char *chunk = bytes ? (const char *)g_bytes_get_data (bytes, &len) : NULL;
  if (!chunk || len == 0) {
    /* End of its output (or an error reading it). */
    if (!(*run)->partial.empty ()) {
      (*run)->log_line ((*run)->partial);
      (*run)->partial.clear ();
    }
    return;
  }
  (*run)->output (chunk, len);
  read_more (*run);
}

void
read_more (const RunRef &run)
{
  GInputStream *out = g_subprocess_get_stdout_pipe (run->proc);
  if (!out)
    return;
  g_input_stream_read_bytes_async (out, READ_CHUNK, G_PRIORITY_DEFAULT, NULL, on_output,
                                   new RunRef (run));
}

void
on_exit (GObject *src, GAsyncResult *res, gpointer data)
{
  std::unique_ptr<RunRef> ref (static_cast<RunRef *> (data));
  Hook::Run &run = **ref;
  g_subprocess_wait_finish (G_SUBPROCESS (src), res, NULL);
  run.exited = true;
  if (run.kill_timer) {
    g_source_remove (run.kill_timer);
    run.kill_timer = 0;
  }
  if (g_subprocess_get_if_exited (run.proc))
    g_info ("path %s: %s (pid %s) exited with status %d", run.path.c_str (), run.name.c_str (),
            run.pid.c_str (), g_subprocess_get_exit_status (run.proc));
  else if (g_subprocess_get_if_signaled (run.proc))
    g_info ("path %s: %s (pid %s) ended by signal %d", run.path.c_str (), run.name.c_str (),
            run.pid.c_str (), g_subprocess_get_term_sig (run.proc));
  if (auto runs = run.runs.lock ()) {
    auto it = runs->find (run.key);
    if (it != runs->end () && it->second.get () == &run)
      runs->erase (it);
  }
}

} // namespace

Hook::Hook (std::string path, std::string name, std::vector<std::string> argv)
    : path_ (std::move (path)), name_ (std::move (name)), argv_ (std::move (argv)),
      runs_ (std::make_shared<RunMap> ())
{
}

Hook::~Hook () = default;

bool
Hook::running (const std::string &key) const
{
  return runs_->count (key) > 0;
}

bool
Hook::fire (const std::string &key, const HookEnv &env)
{
  if (argv_.empty ())
    return false;
  if (running (key)) {
    g_info ("path %s: %s is still running (pid %s): not started again", path_.c_str (),
            name_.c_str (), (*runs_)[key]->pid.c_str ());
    return false;
  }
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      exiting
          ? G_SUBPROCESS_FLAGS_NONE
          : (GSubprocessFlags)(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE));
  g_subprocess_launcher_setenv (launcher, "GW_PATH", env.path.c_str (), TRUE);
  g_subprocess_launcher_setenv (launcher, "GW_SESSION_ID", env.session_id.c_str (), TRUE);
  g_subprocess_launcher_setenv (launcher, "GW_REMOTE", env.remote.c_str (), TRUE);
  g_subprocess_launcher_setenv (launcher, "GW_SOURCE_STATE", env.source_state.c_str (), TRUE);
  std::vector<const gchar *> argv;
  for (const std::string &a : argv_)
    argv.push_back (a.c_str ());
  argv.push_back (NULL);
  g_autoptr (GError) err = NULL;
  GSubprocess *proc = g_subprocess_launcher_spawnv (launcher, argv.data (), &err);
  if (!proc) {
    /* Not the command line: it is the administrator's and may hold a
     * secret. */
    g_warning ("path %s: %s could not start: %s", path_.c_str (), name_.c_str (), err->message);
    return false;
  }
  auto run = std::make_shared<Run> ();
  run->path = path_;
  run->name = name_;
  run->key = key;
  run->proc = proc;
  run->runs = runs_;
  const gchar *pid = g_subprocess_get_identifier (proc);
  run->pid = pid ? pid : "?";
  g_info ("path %s: %s started (pid %s)", path_.c_str (), name_.c_str (), run->pid.c_str ());
  if (exiting)
    return true;
  (*runs_)[key] = run;
  g_subprocess_wait_async (proc, NULL, on_exit, new RunRef (run));
  read_more (run);
  return true;
}

void
Hook::terminate (const std::string &key)
{
  auto it = runs_->find (key);
  if (it == runs_->end ())
    return;
  RunRef run = it->second;
  if (run->exited || run->kill_timer)
    return;
  g_info ("path %s: stopping %s (pid %s)", path_.c_str (), name_.c_str (), run->pid.c_str ());
  g_subprocess_send_signal (run->proc, SIGTERM);
  run->kill_timer = g_timeout_add_seconds_full (
      G_PRIORITY_DEFAULT, HOOK_KILL_AFTER_S,
      [] (gpointer d) -> gboolean {
        auto r = static_cast<std::weak_ptr<Run> *> (d)->lock ();
        if (r) {
          r->kill_timer = 0;
          if (!r->exited) {
            g_warning ("path %s: %s (pid %s) ignored SIGTERM for %u s: killing it",
                       r->path.c_str (), r->name.c_str (), r->pid.c_str (), HOOK_KILL_AFTER_S);
            g_subprocess_force_exit (r->proc);
          }
        }
        return G_SOURCE_REMOVE;
      },
      new std::weak_ptr<Run> (run),
      [] (gpointer d) { delete static_cast<std::weak_ptr<Run> *> (d); });
}

/* ----------------------------------------------------------------- PathHooks */

PathHooks::PathHooks (const std::string &path, const PathHookConfig &conf)
    : path_ (path), on_ready_ (path, "run-on-ready", conf.ready),
      on_not_ready_ (path, "run-on-not-ready", conf.not_ready),
      on_read_ (path, "run-on-read", conf.read), on_unread_ (path, "run-on-unread", conf.unread)
{
}

PathHooks::~PathHooks () { on_ready_.terminate (""); }

void
PathHooks::ready (const std::string &source_state)
{
  on_ready_.fire ("", HookEnv{ path_, "", "", source_state });
}

void
PathHooks::not_ready (const std::string &source_state)
{
  on_ready_.terminate ("");
  on_not_ready_.fire ("", HookEnv{ path_, "", "", source_state });
}

void
PathHooks::read (const std::string &session, const std::string &remote,
                 const std::string &source_state)
{
  on_read_.fire (session, HookEnv{ path_, session, remote, source_state });
}

void
PathHooks::unread (const std::string &session, const std::string &remote,
                   const std::string &source_state)
{
  on_unread_.fire (session, HookEnv{ path_, session, remote, source_state });
}

} // namespace gw
