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
#include <vector>

namespace gw {

class Path;

/* One medium a session sends, as the sessions API shows it. */
struct SessionTrack
{
  std::string media; /* "video" or "audio" */
  std::string codec; /* the codec table's RTP encoding name: "H264", "OPUS"... */
};

class Session : public ReaderSession
{
public:
  /* @remote: the client's address:port (for the API and hooks). */
  Session (std::string id, std::string path, SessionRole role, std::string remote_offer,
           std::string remote);

  /* "whep" (the client offered) or "ws" (the websocket protocol: the
   * gateway offered). */
  const char *
  kind () const
  {
    return role () == SessionRole::Answerer ? "whep" : "ws";
  }
  const std::string &
  remote () const
  {
    return remote_;
  }
  /* Wall-clock time of creation, microseconds since the Unix epoch. */
  gint64
  created_real_us () const
  {
    return created_real_us_;
  }
  /* What the session sends: the media its negotiation kept (the m-lines
   * of its answer, or of its offer until the client's answer accepts or
   * rejects them), with the codec of each; empty before negotiation. Every
   * track is passed through as the camera sends it (the gateway does not
   * transcode). */
  std::vector<SessionTrack> tracks () const;
  /* The gateway's description (the answer, or the offer), once made. */
  void
  set_local_description (const std::string &sdp)
  {
    local_sdp_ = sdp;
  }
  /* The client's answer to the gateway's offer (websocket). */
  void
  set_remote_answer (const std::string &sdp)
  {
    remote_answer_ = sdp;
  }

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
  std::string remote_;
  std::string local_sdp_, remote_answer_;
  gint64 created_real_us_;
  std::shared_ptr<SessionHost> path_host_;
};

} // namespace gw
