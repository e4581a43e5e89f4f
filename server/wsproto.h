/* The websocket signalling protocol's messages (docs/websocket.md): a pure
 * codec between JSON text frames and typed messages. No I/O, no GLib main
 * loop, no GStreamer: everything here is testable on its own.
 *
 * Every frame is one JSON object with a "type" member:
 *   server -> client   {"type":"offer","sdp":"v=0..."}
 *   client -> server   {"type":"answer","sdp":"v=0..."}
 *   both ways          {"type":"candidate","mline":0,"candidate":"candidate:..."}
 *                      (an empty candidate marks the end of candidates)
 *   server -> client   {"type":"state","state":"connected"}
 *   server -> client   {"type":"error","status":400,"reason":"..."}
 *   client -> server   {"type":"close"}
 * Members not listed are ignored, so later versions can add some. */
#pragma once

#include <glib.h>

#include <string>

namespace gw {
namespace wsproto {

/* Largest text frame either side may send, in bytes. */
constexpr gsize MAX_FRAME_SIZE = 64 * 1024;
/* Largest m-line index a candidate may name (as for WHEP, gwwhep.h). */
constexpr guint MAX_MLINE = 255;
/* Longest candidate line accepted (as for WHEP, gwwhep.h). */
constexpr gsize MAX_CANDIDATE_SIZE = 1024;

enum class Type
{
  Offer,
  Answer,
  Candidate,
  State,
  Error,
  Close,
};

struct Message
{
  Type type = Type::Close;
  std::string sdp;       /* Offer, Answer */
  guint mline = 0;       /* Candidate */
  std::string candidate; /* Candidate: "candidate:..." or "" (end) */
  std::string state;     /* State: new, connecting, connected, ... */
  guint status = 0;      /* Error: an HTTP-like status, 100..599 */
  std::string reason;    /* Error */

  static Message offer (std::string sdp);
  static Message answer (std::string sdp);
  static Message make_candidate (guint mline, std::string candidate);
  static Message make_state (std::string state);
  static Message error (guint status, std::string reason);
  static Message close ();
};

/* The wire name of @type ("offer", "answer", ...). */
const char *type_name (Type type);

/* Parses one text frame of @len bytes. On failure returns false and sets
 * @error to a short human-readable reason (never crashes, whatever the
 * bytes). */
bool parse (const char *data, gsize len, Message &out, std::string &error);
inline bool
parse (const std::string &text, Message &out, std::string &error)
{
  return parse (text.data (), text.size (), out, error);
}

/* Whether @line ("candidate:..." or "a=candidate:...") has the shape of an
 * RFC 8839 candidate: foundation, component, transport, priority, address,
 * port, "typ" and a type, then optional extensions. On failure sets @error
 * to a short reason. Remote candidates are checked with this before they
 * reach the ICE agent, which would only log an error on a malformed one. */
bool check_candidate_line (const std::string &line, std::string &error);

/* The JSON text of @msg (one line, no trailing newline). */
std::string serialise (const Message &msg);

} // namespace wsproto
} // namespace gw
