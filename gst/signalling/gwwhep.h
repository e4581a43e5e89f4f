/* WHEP (RFC 9725) over libsoup, for gwsink (at /whep) and the gateway (at
 * /NAME/whep): the pure protocol helpers, the request checks every route
 * shares (body limits, CORS), and Endpoint, which serves a WHEP resource and
 * its sessions:
 *
 *   POST    BASE        Content-Type application/sdp (else 415), a non-empty
 *                       UTF-8 body (else 400): SessionFactory::create_session
 *                       makes the session; the POST is paused until its
 *                       answer (201, Location BASE/ID, Link headers), its
 *                       failure (its status), a timeout (504) or the client
 *                       leaving (noticed by watching its socket)
 *   PATCH   BASE/ID     application/trickle-ice-sdpfrag (else 415), checked
 *                       whole (else 400), candidates -> the session: 204
 *   DELETE  BASE/ID     closes the session: 200
 *   OPTIONS             204, CORS preflight, Link headers
 *   other methods       405 with Allow
 * An unknown or ended session is a 404. Every answer carries
 * Access-Control-Allow-Origin: * and exposes Location and Link.
 *
 * Threads: an Endpoint and its sessions live on one main context (the
 * gateway's default one, gwsink's HTTP thread); every call and callback
 * runs there. */
#pragma once

#include "gwsession.h"

#include <libsoup/soup.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace gw {
namespace whep {

/* Largest request body, in bytes (more: 413). */
constexpr goffset MAX_BODY_SIZE = 64 * 1024;
/* A body declared larger than the limit but at most this is read (and
 * dropped) before the 413, as a client still sending it expects; a larger
 * one is refused at once. */
constexpr goffset MAX_DRAIN_SIZE = 1024 * 1024;
/* The most candidates one PATCH may carry. */
constexpr guint MAX_FRAG_CANDIDATES = 256;
/* Largest m-line index a candidate may name. */
constexpr guint MAX_MLINE = 255;
/* Longest candidate line accepted. */
constexpr gsize MAX_CANDIDATE_SIZE = 1024;
/* How long a POST waits for its answer, on top of the factory's
 * answer_wait_s (the time its media may take to start). */
constexpr guint ANSWER_GRACE_S = 20;

/* ---------------------------------------------------------- pure helpers */

/* Splits a raw (percent-encoded) request path into decoded segments.
 * "/" -> {""}, "/a/" -> {"a", ""}, "/a/b" -> {"a", "b"}. False if it does
 * not start with '/', or a segment has a bad escape or an encoded '/'. */
bool split_path (const char *raw, std::vector<std::string> &out);

/* RFC 9725 Link header values for ICE server URLs (stun:, turn:, turns:):
 * <stun:host:port>; rel="ice-server", plus username, credential and
 * credential-type="password" for TURN. */
std::vector<std::string> ice_links (const std::vector<std::string> &stun_servers,
                                    const std::vector<std::string> &turn_servers);

/* The a=mid of each m-line of @sdp, in order ("" when an m-line has none). */
std::vector<std::string> sdp_mids (const std::string &sdp);

struct FragCandidate
{
  guint mline;
  std::string candidate; /* "candidate:..." or "" (end of candidates) */
};

/* The candidates of an RFC 8840 trickle-ICE SDP fragment (at most
 * MAX_FRAG_CANDIDATES). The m-line of each is found from its section's
 * a=mid (the last one before it, else the first one after it in the same
 * section), looked up in @mids (the offer's) else taken as a number; else
 * from the order of the m= lines; else 0. */
std::vector<FragCandidate> frag_candidates (const std::string &frag,
                                            const std::vector<std::string> &mids);

/* Whether @line ("candidate:..." or "a=candidate:...") is a well-formed ICE
 * candidate line; if not, @error says why. */
bool check_candidate_line (const std::string &line, std::string &error);

/* Whether @frag is a trickle-ICE fragment we can use: only SDP lines
 * ("x=..."), every a=candidate well formed (check_candidate_line), and at
 * least one a=candidate or a=end-of-candidates. On failure sets @error to a
 * short reason naming the line. */
bool check_frag (const std::string &frag, std::string &error);

/* What a one-byte peek at a connection's socket shows without blocking:
 * that the peer closed (or reset) it, that it sent more, or nothing yet. */
enum class PeerPeek
{
  CLOSED,
  DATA,
  NOTHING,
};
PeerPeek peek_peer (GSocket *sock);

/* ------------------------------------------------------- HTTP utilities */

/* Sets @status and a short text/plain body (@reason and a newline). */
void respond (SoupServerMessage *msg, guint status, const std::string &reason);
/* 405 with Allow: @allow. */
void method_not_allowed (SoupServerMessage *msg, const char *allow);
/* Access-Control-Allow-Origin: *, and with @expose, Location and Link. */
void cors (SoupServerMessage *msg, bool expose);
/* 204 preflight answer allowing @allow; with @links, Accept-Post and the
 * Link headers of a WHEP resource. */
void preflight (SoupServerMessage *msg, const char *allow, const std::vector<std::string> *links);
bool has_content_type (SoupServerMessage *msg, const char *want);
/* The request body as text; false if it is not UTF-8 text (or too big). */
bool body_text (SoupServerMessage *msg, std::string &out);
/* For a server's early handler: enforces MAX_BODY_SIZE before the body is
 * read (413, a bad Content-Length 400). Returns true if @msg was answered. */
bool limit_body (SoupServerMessage *msg);

/* --------------------------------------------------------------- endpoint */

/* Makes sessions for an Endpoint. */
class SessionFactory
{
public:
  virtual ~SessionFactory () = default;
  /* A session answering @offer (the POST @msg, for its remote address),
   * with @events installed before anything can fire them; the session goes
   * to its media. On refusal, nullptr with an HTTP status and reason (400 a
   * bad offer, 503 too many viewers...). on_error may run before this
   * returns. */
  virtual std::shared_ptr<ReaderSession>
  create_session (SoupServerMessage *msg, const std::string &offer, const SessionEvents &events,
                  guint &status, std::string &reason)
      = 0;
  /* Seconds to wait for an answer on top of ANSWER_GRACE_S. */
  virtual guint
  answer_wait_s ()
  {
    return 0;
  }
  /* The Link header values announcing its ICE servers (ice_links). */
  virtual std::vector<std::string>
  links ()
  {
    return {};
  }
};

struct Post;
struct Resource;

class Endpoint
{
public:
  /* @context: where the endpoint runs (NULL: the global default one). */
  explicit Endpoint (GMainContext *context = nullptr);
  /* Closes the sessions it made without answering any request. */
  ~Endpoint ();
  Endpoint (const Endpoint &) = delete;
  Endpoint &operator= (const Endpoint &) = delete;

  /* Serves @msg for the WHEP resource @base ("/whep", "/cam/whep") when @id
   * is empty, else for its session @id. */
  void serve (SoupServerMessage *msg, const std::string &base, const std::string &id,
              SessionFactory &factory);

  /* Sessions made here and not ended. */
  guint
  n_sessions () const
  {
    return (guint)resources_.size ();
  }

  /* --- for the callbacks of gwwhep.cpp --- */
  void finish (const std::shared_ptr<Post> &p, guint status, const std::string &body);
  void client_gone (const std::shared_ptr<Post> &p);
  void timed_out (const std::shared_ptr<Post> &p);
  void forget (const std::shared_ptr<Post> &p);

private:
  GMainContext *context_; /* ref held, may be NULL */
  std::shared_ptr<int> alive_ = std::make_shared<int> (0);
  std::set<std::shared_ptr<Post> > posts_;
  std::map<std::string, std::shared_ptr<Resource> > resources_;

  void post (SoupServerMessage *msg, const std::string &base, SessionFactory &factory);
  void patch (SoupServerMessage *msg, const std::shared_ptr<Resource> &res);
  void write (const std::shared_ptr<Post> &p);
};

} // namespace whep
} // namespace gw
