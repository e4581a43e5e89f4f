/* A reader session: one viewer of one path, owning one gwreaderbin.
 *
 * It knows nothing about the transport that made it: WHEP and the websocket
 * protocol are thin adapters that fill in Events and call the methods below.
 * Everything here runs on the server's main context; gwreaderbin's signals
 * and promise replies are marshalled there (with a weak reference) first. */
#pragma once

#include <gst/gst.h>

#include <functional>
#include <memory>
#include <string>

namespace gw {

class Path;

/* What the transport hears back; every callback runs on the main context,
 * may be empty, and may drop the last reference to the session. */
struct SessionEvents
{
  /* The local description: the answer (Answerer) or the offer (Offerer). */
  std::function<void (const std::string &sdp)> on_description;
  /* Negotiation failed or the path could not start: an HTTP-like status
   * (400 bad SDP, 406 no common codec, 503 source not ready/timeout, 500)
   * and a short reason. The session is closed after this. */
  std::function<void (guint status, const std::string &reason)> on_error;
  /* A local ICE candidate ("candidate:..."), for trickle transports. */
  std::function<void (guint mline, const std::string &candidate)> on_candidate;
  /* Peer connection state name: new, connecting, connected, disconnected,
   * failed, closed. */
  std::function<void (const std::string &state)> on_state;
  /* The session ended (closed by either side, path removed, failure). */
  std::function<void ()> on_closed;
};

enum class SessionRole
{
  Answerer, /* WHEP: the client offers */
  Offerer,  /* websocket: the server offers */
};

class Session : public std::enable_shared_from_this<Session>
{
public:
  Session (std::string id, std::string path, SessionRole role, std::string remote_offer);
  ~Session ();
  Session (const Session &) = delete;
  Session &operator= (const Session &) = delete;

  const std::string &
  id () const
  {
    return id_;
  }
  const std::string &
  path_name () const
  {
    return path_;
  }
  SessionRole
  role () const
  {
    return role_;
  }
  bool
  closed () const
  {
    return closed_;
  }
  const std::string &
  state () const
  {
    return state_;
  }
  gint64
  created_us () const
  {
    return created_us_;
  }

  SessionEvents events;
  /* Installed by the session's owner (the manager), run once when the
   * session ends, after events.on_closed: the owner forgets the session and
   * takes it off its path (a parked session was never attached). */
  std::function<void (Session &)> on_ended;

  /* Offerer only: the client's answer. Returns false with a reason if it is
   * not acceptable now. */
  bool set_answer (const std::string &sdp, std::string &reason);
  /* A remote trickle candidate ("candidate:..." or "a=candidate:...", empty
   * = end of candidates). */
  void add_candidate (guint mline, const std::string &candidate);
  /* Ends the session: detaches the reader from its path. Idempotent. */
  void close ();

  /* --- for Path --- */
  /* Creates the gwreaderbin in @pipeline, links it to the path's streams and
   * starts negotiating. Returns false (and fails the session) on error. */
  bool attach (Path &path, GstElement *pipeline);
  /* The path cannot serve this session: report and close. */
  void fail (guint status, const std::string &reason);
  GstElement *
  reader () const
  {
    return reader_;
  }

private:
  std::string id_, path_;
  SessionRole role_;
  std::string remote_offer_;
  std::string state_ = "new";
  bool closed_ = false;
  gint64 created_us_;
  gint64 disconnected_since_ = 0;
  guint watchdog_ = 0;
  GstElement *reader_ = nullptr; /* ref held */
  std::weak_ptr<Path> path_ref_;

  void connect_signals ();
  void on_reply (GstStructure *reply);
  void on_connection_state (int state);
  static gboolean watchdog_cb (gpointer data);
  friend struct SessionSignals;
};

} // namespace gw
