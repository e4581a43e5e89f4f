/* The gateway's reader session: the shared ReaderSession (gwsession.h) on a
 * path. Everything runs on the main context.
 *
 * A session knows its path only once attached (as its reader's host); its
 * owner (the manager) learns that it ended through on_ended, so a session
 * depends on neither the manager nor how it is found. */
#pragma once

#include "gwsession.h"

#include <functional>
#include <memory>
#include <string>

namespace gw {

class Path;

class Session : public ReaderSession
{
public:
  Session (std::string id, std::string path, SessionRole role, std::string remote_offer);

  /* Installed by the session's owner (the manager), run once when the
   * session ends, before events.on_closed: the owner forgets the session and
   * takes it off its path (a parked session was never attached, so its
   * path still holds it). */
  std::function<void (Session &)> on_ended;

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
