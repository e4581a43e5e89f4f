/* Path hooks: the commands a path runs when its source becomes ready
 * (run-on-ready), stops being ready (run-on-not-ready), and when a viewer
 * starts (run-on-read: its peer connection is up) and stops reading
 * (run-on-unread). Configured per path (conf.h PathHookConfig).
 *
 * A command runs without a shell (GSubprocess, its argv split at load), in
 * the gateway's environment plus GW_PATH, GW_SESSION_ID, GW_REMOTE and
 * GW_SOURCE_STATE (the last three empty where they do not apply). Nothing
 * of the path's source (its URL, credentials) is passed. Its stdout and
 * stderr go to the gateway's log, a line at a time, prefixed with the path's
 * name and the hook's.
 *
 * One run at a time per hook and key (the path for ready/not-ready, the
 * session for read/unread): a hook that fires while its previous run still
 * runs is not started again (and that is logged). run-on-ready is sent
 * SIGTERM when the path stops being ready (and SIGKILL if it is still
 * running HOOK_KILL_AFTER_S later).
 *
 * Threads: main context only. Nothing here waits: starting a command is a
 * fork and exec, its output and exit arrive asynchronously. A run outlives
 * its Hook (and path) if it must: its callbacks hold the run, not the hook. */
#pragma once

#include "conf.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gw {

/* The gateway is exiting (its main loop has ended): hooks fired from now on
 * (the paths' shutdown runs run-on-unread and run-on-not-ready) write
 * straight to the gateway's stdout and stderr, since nobody will read a
 * pipe, and are not waited for. */
void hooks_exiting ();

/* After SIGTERM, how long a run may take to exit before SIGKILL. */
constexpr guint HOOK_KILL_AFTER_S = 5;

/* What a run's environment says. */
struct HookEnv
{
  std::string path, session_id, remote, source_state;
};

/* One configured command of one path. */
class Hook
{
public:
  /* @path and @name ("run-on-ready") label its log lines; @argv empty: a
   * hook that does nothing. */
  Hook (std::string path, std::string name, std::vector<std::string> argv);
  /* Leaves its runs running. */
  ~Hook ();
  Hook (const Hook &) = delete;
  Hook &operator= (const Hook &) = delete;

  /* Starts the command for @key, unless its previous run for @key still
   * runs. Returns whether it started. */
  bool fire (const std::string &key, const HookEnv &env);
  /* Sends SIGTERM to the run for @key, if any (then SIGKILL after
   * HOOK_KILL_AFTER_S). */
  void terminate (const std::string &key);
  /* Whether a run for @key has not exited yet. */
  bool running (const std::string &key) const;

  struct Run;

private:
  std::string path_, name_;
  std::vector<std::string> argv_;
  /* Runs not yet exited, by key; a run removes itself when it exits. */
  std::shared_ptr<std::map<std::string, std::shared_ptr<Run> > > runs_;
};

/* The four hooks of a path, fired by its state machine (path.cpp). */
class PathHooks
{
public:
  PathHooks (const std::string &path, const PathHookConfig &conf);
  /* The path stops: run-on-ready is terminated. */
  ~PathHooks ();

  void ready (const std::string &source_state);
  /* Terminates run-on-ready, then runs run-on-not-ready. */
  void not_ready (const std::string &source_state);
  void read (const std::string &session, const std::string &remote,
             const std::string &source_state);
  void unread (const std::string &session, const std::string &remote,
               const std::string &source_state);

private:
  std::string path_;
  Hook on_ready_, on_not_ready_, on_read_, on_unread_;
};

} // namespace gw
