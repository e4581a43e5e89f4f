/* The path manager: owns the configuration, the paths and the reader
 * sessions; reloads on SIGHUP and on changes in the pipelines directory or
 * the configuration file, restarting only the paths whose files changed.
 *
 * Ownership runs one way: the manager owns paths and sessions; a path knows
 * its manager only as its PathParent, and a session tells it that it ended
 * through the hook the manager installs (Session::on_ended). Main context
 * only. */
#pragma once

#include "conf.h"
#include "mainctx.h"
#include "path.h"
#include "session.h"

#include <gio/gio.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gw {

class Manager final : public PathParent
{
public:
  /* @config_file may be empty (built-in defaults, pipelines_dir as given). */
  Manager (std::string config_file, std::string pipelines_override);
  ~Manager ();

  /* Loads everything; false with @error if the server cannot start (bad
   * server config, unreadable pipelines directory). Broken path files are
   * logged and left out. Starts no source: see start(). */
  bool load (GError **error);
  /* Starts the always-on paths (once the HTTP server listens). */
  void start ();
  /* Re-reads the configuration and applies the difference. */
  void reload ();
  /* Watches the config file and pipelines directory for changes. */
  void watch ();

  const ServerConfig &
  server () const
  {
    return server_;
  }

  /* PathParent */
  const ServerConfig &
  server_config () const override
  {
    return server_;
  }
  std::unique_ptr<Source> make_source (const PathConfig &conf, SourceEvents &events) override;
  std::shared_ptr<Path> find_path (const std::string &name) const;
  std::vector<std::shared_ptr<Path> > paths () const;
  /* Problems found by the last load/reload (file:line: field: problem). */
  const std::vector<std::string> &
  problems () const
  {
    return problems_;
  }

  /* Creates a session on @path_name and hands it to the path. On refusal,
   * returns nullptr with an HTTP status (404 unknown path, 503 too many
   * readers) and a reason. For an Answerer, @remote_offer is the client's
   * SDP. @events are installed before the path sees the session; note that
   * on_error may run before this returns (e.g. the reader cannot be linked),
   * so a transport must be ready to answer from it (pause the HTTP message
   * first). @remote is the client's address:port. */
  std::shared_ptr<Session> create_session (const std::string &path_name, SessionRole role,
                                           const std::string &remote_offer,
                                           const std::string &remote, const SessionEvents &events,
                                           guint &status, std::string &reason);
  std::shared_ptr<Session> find_session (const std::string &id) const;
  /* Every open session, oldest first (then by id). */
  std::vector<std::shared_ptr<Session> > sessions () const;
  /* Closes and forgets the session. */
  void close_session (const std::string &id);
  guint
  n_sessions () const
  {
    return (guint)sessions_.size ();
  }
  /* Sessions created since start. */
  guint64
  sessions_total () const
  {
    return sessions_total_;
  }

private:
  std::string config_file_;
  std::string pipelines_override_;
  ServerConfig server_;
  std::map<std::string, std::shared_ptr<Path> > paths_;
  std::map<std::string, std::shared_ptr<Session> > sessions_;
  std::vector<std::string> problems_;
  GFileMonitor *dir_monitor_ = nullptr;
  GFileMonitor *file_monitor_ = nullptr;
  guint reload_timer_ = 0;
  guint64 sessions_total_ = 0;

  bool load_paths (std::vector<PathConfig> &out, GError **error);
  /* A session ended: forget it. */
  void forget_session (const std::string &id);
  static void on_changed (GFileMonitor *, GFile *, GFile *, GFileMonitorEvent, gpointer);
};

/* A random, unguessable session id (32 hex digits). */
std::string new_session_id ();

} // namespace gw
