/* The gateway's reader session: the shared ReaderSession (gwsession.h) on a
 * path. Everything runs on the main context.
 *
 * A session reaches its path and the manager through SessionRegistry, a
 * pair of callbacks, so that it does not depend on how the manager is
 * found. */
#pragma once

#include "gwsession.h"

#include <functional>
#include <memory>
#include <string>

namespace gw {

class Path;

/* How sessions find their path (while parked, before attach) and tell
 * their owner that they ended. */
struct SessionRegistry
{
  std::function<std::shared_ptr<Path> (const std::string &name)> find_path;
  std::function<void (const std::string &id)> forget;
};
/* The registry in use; by default it asks Manager::instance(). */
SessionRegistry &session_registry ();

class Session : public ReaderSession
{
public:
  Session (std::string id, std::string path, SessionRole role, std::string remote_offer);

  /* --- for Path --- */
  /* Creates the gwreaderbin in @pipeline, links it to the path's streams and
   * starts negotiating. Returns false (and fails the session) on error. */
  bool attach (Path &path, GstElement *pipeline);

protected:
  void closing () override;
  /* Into the gateway's log. */
  void log (GLogLevelFlags level, const std::string &message) const override;

private:
  std::shared_ptr<SessionHost> path_host_;
};

} // namespace gw
