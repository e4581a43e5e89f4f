/* A reader session: one viewer, owning one gwreaderbin. Used by gwsink's
 * viewers and by the gateway's sessions alike.
 *
 * It knows nothing about the transport that made it: WHEP (gwwhep.h) and the
 * gateway's websocket protocol are thin adapters that fill in SessionEvents
 * and call the methods below; nor about where its media comes from: a
 * SessionHost links its reader to the streams.
 *
 * Threads: everything here runs on the session's main context (given at
 * construction; NULL is the global default context). gwreaderbin's signals
 * and promise replies arrive on GStreamer threads and are marshalled there
 * first, each callback holding a weak reference, so a reply arriving after
 * the session is gone does nothing. */
#pragma once

#include <gst/gst.h>

#include <functional>
#include <memory>
#include <string>

namespace gw {

/* One set of liveness limits: a session that has not reached "connected"
 * this long after it started, or that stays disconnected this long, is a
 * viewer that went away without saying so; it is closed. */
constexpr guint SESSION_CONNECT_LIMIT_S = 30;
constexpr guint SESSION_DISCONNECT_LIMIT_S = 10;

/* What the transport hears back; every callback runs on the main context,
 * may be empty, and may drop the last reference to the session. */
struct SessionEvents
{
  /* The local description: the answer (Answerer) or the offer (Offerer). */
  std::function<void (const std::string &sdp)> on_description;
  /* Negotiation failed or the media could not be had: an HTTP-like status
   * (400 bad SDP, 406 no common codec, 503 source not ready/timeout, 500)
   * and a short reason. The session is closed after this. */
  std::function<void (guint status, const std::string &reason)> on_error;
  /* A local ICE candidate ("candidate:..."), for trickle transports. */
  std::function<void (guint mline, const std::string &candidate)> on_candidate;
  /* Peer connection state name: new, connecting, connected, disconnected,
   * failed, closed. */
  std::function<void (const std::string &state)> on_state;
  /* The session ended (closed by either side, media removed, failure). */
  std::function<void ()> on_closed;
};

enum class SessionRole
{
  Answerer, /* WHEP: the client offers */
  Offerer,  /* websocket: the server offers */
};

/* gwreaderbin's ICE settings. */
struct ReaderSettings
{
  std::string stun_server;  /* stun://host:port or empty */
  std::string turn_servers; /* comma-separated turn(s):// URLs or empty */
  std::string ice_addresses;
  guint min_port = 0, max_port = 0;
};

class ReaderSession;

/* Where a session's media comes from (a gateway path, a gwsink). Called on
 * the session's main context. */
class SessionHost
{
public:
  virtual ~SessionHost () = default;
  /* Requests the reader's pads and links them to the streams; the reader
   * is already in its bin. False with a reason on failure. */
  virtual bool link_reader (GstElement *reader, std::string &reason) = 0;
  /* Detaches the reader from the streams; the host removes it from its bin
   * (now, or once no buffer flows into it any more). */
  virtual void unlink_reader (GstElement *reader) = 0;
  /* The session is closing: forget it. */
  virtual void remove_reader (ReaderSession *session) = 0;
};

class ReaderSession : public std::enable_shared_from_this<ReaderSession>
{
public:
  /* @path: a label for logs and for the owner (the gateway's path name).
   * @context: where everything runs (NULL: the global default context). */
  ReaderSession (std::string id, std::string path, SessionRole role, std::string remote_offer,
                 GMainContext *context = nullptr);
  virtual ~ReaderSession ();
  ReaderSession (const ReaderSession &) = delete;
  ReaderSession &operator= (const ReaderSession &) = delete;

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
  GstElement *
  reader () const
  {
    return reader_;
  }

  SessionEvents events;

  /* Creates the gwreaderbin in @bin, has @host link it to the streams and
   * starts negotiating. Returns false (and fails the session) on error. */
  bool attach (const std::shared_ptr<SessionHost> &host, GstElement *bin,
               const ReaderSettings &settings);
  /* Offerer only: the client's answer. Returns false with a reason if it is
   * not acceptable now. */
  bool set_answer (const std::string &sdp, std::string &reason);
  /* A remote trickle candidate ("candidate:..." or "a=candidate:...", empty
   * = end of candidates). */
  void add_candidate (guint mline, const std::string &candidate);
  /* Reports @status/@reason (on_error) and closes. */
  void fail (guint status, const std::string &reason);
  /* Ends the session: detaches the reader from its host. Idempotent. */
  void close ();

  /* Runs @fn on @context: at once if this thread owns it, else soon. */
  static void invoke (GMainContext *context, std::function<void ()> fn);

protected:
  /* Where the session's lifecycle messages go (default: the gwsession
   * debug category); an owner with a log of its own may take them. */
  virtual void log (GLogLevelFlags level, const std::string &message) const;
  /* Called by close() once the reader is detached, before on_closed: for
   * subclasses that keep the session elsewhere too. */
  virtual void
  closing ()
  {
  }
  bool
  attached () const
  {
    return !host_.expired ();
  }

private:
  std::string id_, path_;
  SessionRole role_;
  std::string remote_offer_;
  GMainContext *context_; /* ref held, may be NULL */
  std::string state_ = "new";
  bool closed_ = false;
  gint64 created_us_;
  gint64 disconnected_since_ = 0;
  GSource *watchdog_ = nullptr;
  GstElement *reader_ = nullptr; /* ref held */
  std::weak_ptr<SessionHost> host_;

  void connect_signals ();
  void on_reply (GstStructure *reply);
  void on_connection_state (int state);
  static gboolean watchdog_cb (gpointer data);
  friend struct SessionSignals;
};

} // namespace gw
