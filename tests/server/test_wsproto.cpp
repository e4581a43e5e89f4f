/* The websocket signalling codec (server/wsproto.h): every message type
 * round-trips, the wire form is what docs/websocket.md shows, and every
 * malformed frame is refused with a reason a client developer can act on.
 * Pure code: no network, no main loop. */
#include <glib.h>

#include "wsproto.h"

#include <string>

using gw::wsproto::Message;
using gw::wsproto::Type;

namespace {

const char *SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                  "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rtpmap:96 H264/90000\r\n";

Message
parse_ok (const std::string &text)
{
  Message m;
  std::string error;
  if (!gw::wsproto::parse (text, m, error))
    g_error ("refused %s: %s", text.c_str (), error.c_str ());
  return m;
}

/* Parses @text, which must be refused; returns the reason. */
std::string
parse_err (const std::string &text)
{
  Message m;
  std::string error;
  bool ok = gw::wsproto::parse (text, m, error);
  if (ok)
    g_error ("accepted %s", text.c_str ());
  g_assert_false (error.empty ());
  return error;
}

void
assert_contains (const std::string &msg, const char *part)
{
  if (msg.find (part) == std::string::npos)
    g_error ("\"%s\" does not contain \"%s\"", msg.c_str (), part);
}

/* serialise -> parse gives the same message back. */
Message
round_trip (const Message &in)
{
  std::string text = gw::wsproto::serialise (in);
  g_assert_cmpuint (text.find ('\n'), ==, std::string::npos);
  Message out = parse_ok (text);
  g_assert_true (out.type == in.type);
  return out;
}

void
test_offer_answer ()
{
  Message o = round_trip (Message::offer (SDP));
  g_assert_cmpstr (o.sdp.c_str (), ==, SDP);
  Message a = round_trip (Message::answer (SDP));
  g_assert_cmpstr (a.sdp.c_str (), ==, SDP);

  /* The wire form clients see: CR LF escaped inside a JSON string. */
  std::string text = gw::wsproto::serialise (Message::offer ("v=0\r\n"));
  g_assert_cmpstr (text.c_str (), ==, "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}");
  Message p = parse_ok ("{\"type\":\"answer\",\"sdp\":\"v=0\\r\\ns=-\\r\\n\"}");
  g_assert_true (p.type == Type::Answer);
  g_assert_cmpstr (p.sdp.c_str (), ==, "v=0\r\ns=-\r\n");
}

void
test_candidate ()
{
  const char *c = "candidate:1 1 UDP 2122252543 10.99.0.2 40000 typ host";
  Message m = round_trip (Message::make_candidate (1, c));
  g_assert_cmpuint (m.mline, ==, 1);
  g_assert_cmpstr (m.candidate.c_str (), ==, c);

  /* End of candidates: an empty candidate. */
  Message end = round_trip (Message::make_candidate (0, ""));
  g_assert_cmpuint (end.mline, ==, 0);
  g_assert_true (end.candidate.empty ());

  /* The "a=" form browsers sometimes keep is accepted as is. */
  Message a = parse_ok ("{\"type\":\"candidate\",\"mline\":0,"
                        "\"candidate\":\"a=candidate:1 1 udp 1 10.0.0.1 9 typ host\"}");
  g_assert_cmpstr (a.candidate.c_str (), ==, "a=candidate:1 1 udp 1 10.0.0.1 9 typ host");

  /* Unknown members (a browser's sdpMid, usernameFragment) are ignored. */
  Message b = parse_ok ("{\"type\":\"candidate\",\"mline\":2,\"mid\":\"2\","
                        "\"usernameFragment\":\"abc\",\"candidate\":\"candidate:x 1 udp 9 "
                        "h.local 5 typ host generation 0\"}");
  g_assert_cmpuint (b.mline, ==, 2);

  std::string text = gw::wsproto::serialise (Message::make_candidate (3, "candidate:y"));
  g_assert_cmpstr (text.c_str (), ==,
                   "{\"type\":\"candidate\",\"mline\":3,\"candidate\":\"candidate:y\"}");
}

void
test_state_error_close ()
{
  for (const char *s : { "new", "connecting", "connected", "disconnected", "failed", "closed" }) {
    Message m = round_trip (Message::make_state (s));
    g_assert_cmpstr (m.state.c_str (), ==, s);
  }
  Message e = round_trip (Message::error (503, "path cam: source not ready"));
  g_assert_cmpuint (e.status, ==, 503);
  g_assert_cmpstr (e.reason.c_str (), ==, "path cam: source not ready");

  Message u = round_trip (Message::error (400, "unicode \xc3\xa9 \"quoted\" \\ ok"));
  g_assert_cmpstr (u.reason.c_str (), ==, "unicode \xc3\xa9 \"quoted\" \\ ok");

  Message c = round_trip (Message::close ());
  g_assert_true (c.type == Type::Close);
  std::string text = gw::wsproto::serialise (Message::close ());
  g_assert_cmpstr (text.c_str (), ==, "{\"type\":\"close\"}");
  g_assert_cmpstr (gw::wsproto::type_name (Type::Candidate), ==, "candidate");
}

void
test_not_json ()
{
  assert_contains (parse_err (""), "empty");
  assert_contains (parse_err ("{"), "invalid JSON");
  assert_contains (parse_err ("hello"), "invalid JSON");
  assert_contains (parse_err ("{\"type\":\"close\",}"), "invalid JSON");
  assert_contains (parse_err ("[]"), "not a JSON object");
  assert_contains (parse_err ("\"offer\""), "not a JSON object");
  assert_contains (parse_err ("42"), "not a JSON object");
  assert_contains (parse_err ("null"), "not a JSON object");
  /* Bytes that are not UTF-8, and a raw NUL. */
  assert_contains (parse_err ("{\"type\":\"close\xff\"}"), "UTF-8");
  assert_contains (parse_err (std::string ("{\"type\":\"close\"}\0", 17)), "UTF-8");
  /* A NULL pointer is an empty message, not a crash. */
  Message m;
  std::string error;
  g_assert_false (gw::wsproto::parse (nullptr, 0, m, error));
  assert_contains (error, "empty");
}

void
test_bad_type ()
{
  assert_contains (parse_err ("{}"), "without \"type\"");
  assert_contains (parse_err ("{\"sdp\":\"v=0\"}"), "without \"type\"");
  assert_contains (parse_err ("{\"type\":1}"), "\"type\" must be a string");
  assert_contains (parse_err ("{\"type\":null}"), "\"type\" must be a string");
  assert_contains (parse_err ("{\"type\":[\"offer\"]}"), "\"type\" must be a string");
  assert_contains (parse_err ("{\"type\":\"hello\"}"), "unknown message type \"hello\"");
  assert_contains (parse_err ("{\"type\":\"OFFER\",\"sdp\":\"v=0\"}"), "unknown message type");
  /* A huge type name gives a short error. */
  std::string big = "{\"type\":\"" + std::string (5000, 'x') + "\"}";
  std::string err = parse_err (big);
  assert_contains (err, "unknown message type");
  g_assert_cmpuint (err.size (), <, 100);
}

void
test_missing_or_wrong_fields ()
{
  assert_contains (parse_err ("{\"type\":\"offer\"}"), "\"offer\" message without \"sdp\"");
  assert_contains (parse_err ("{\"type\":\"answer\"}"), "\"answer\" message without \"sdp\"");
  assert_contains (parse_err ("{\"type\":\"answer\",\"sdp\":5}"), "\"sdp\" must be a string");
  assert_contains (parse_err ("{\"type\":\"answer\",\"sdp\":{}}"), "\"sdp\" must be a string");
  assert_contains (parse_err ("{\"type\":\"answer\",\"sdp\":\"\"}"), "\"sdp\" is empty");
  assert_contains (parse_err ("{\"type\":\"answer\",\"sdp\":\"hello\"}"), "start with \"v=\"");

  assert_contains (parse_err ("{\"type\":\"candidate\",\"candidate\":\"candidate:x\"}"),
                   "\"candidate\" message without \"mline\"");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":0}"),
                   "\"candidate\" message without \"candidate\"");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":\"0\",\"candidate\":\"\"}"),
                   "\"mline\" must be a whole number");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":0.5,\"candidate\":\"\"}"),
                   "\"mline\" must be a whole number");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":true,\"candidate\":\"\"}"),
                   "\"mline\" must be a whole number");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":-1,\"candidate\":\"\"}"),
                   "\"mline\" is out of range");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":256,\"candidate\":\"\"}"),
                   "\"mline\" is out of range");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":99999999999999999999,"
                              "\"candidate\":\"\"}"),
                   "mline");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":0,\"candidate\":null}"),
                   "\"candidate\" must be a string");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":0,\"candidate\":\"hello\"}"),
                   "must start with \"candidate:\"");
  assert_contains (parse_err ("{\"type\":\"candidate\",\"mline\":0,"
                              "\"candidate\":\"candidate:1\\r\\na=evil\"}"),
                   "single line");
  /* Candidates that would reach the ICE agent only to be logged as errors. */
  for (const char *bad :
       { "candidate:x", "candidate:", "candidate:1 1 UDP 1 10.0.0.1 9 host",
         "candidate:1 x UDP 1 10.0.0.1 9 typ host", "candidate:1 1 UDP -1 10.0.0.1 9 typ host",
         "candidate:1 1 UDP 1 10.0.0.1 70000 typ host", "candidate:1 1 UDP 1 10.0.0.1 9 type host",
         "candidate:1  1 UDP 1 10.0.0.1 9 typ host",
         "candidate:f\\u00e9 1 UDP 1 10.0.0.1 9 typ host",
         "candidate:1 1 UDP 1 10.0.0.1 9 typ host\\u0001" }) {
    std::string json
        = std::string ("{\"type\":\"candidate\",\"mline\":0,\"candidate\":\"") + bad + "\"}";
    assert_contains (parse_err (json), "not an ICE candidate");
  }
  std::string why;
  g_assert_true (gw::wsproto::check_candidate_line (
      "a=candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 0.0.0.0 rport 0 "
      "generation 0 ufrag Ab12 network-cost 999",
      why));
  g_assert_false (gw::wsproto::check_candidate_line (
      "candidate:1 1 udp 1 10.0.0.1 9 typ host " + std::string (1100, 'x'), why));

  /* json-glib takes octal escapes: they must not smuggle in bad bytes. */
  assert_contains (parse_err ("{\"type\":\"answer\",\"sdp\":\"v=0 \\264\"}"),
                   "\"sdp\" is not UTF-8");
  assert_contains (parse_err ("{\"type\":\"state\"}"), "\"state\" message without \"state\"");
  assert_contains (parse_err ("{\"type\":\"state\",\"state\":\"happy\"}"),
                   "unknown state \"happy\"");
  assert_contains (parse_err ("{\"type\":\"error\",\"reason\":\"x\"}"),
                   "\"error\" message without \"status\"");
  assert_contains (parse_err ("{\"type\":\"error\",\"status\":400}"),
                   "\"error\" message without \"reason\"");
  assert_contains (parse_err ("{\"type\":\"error\",\"status\":99,\"reason\":\"x\"}"),
                   "\"status\" is out of range");
  assert_contains (parse_err ("{\"type\":\"error\",\"status\":600,\"reason\":\"x\"}"),
                   "\"status\" is out of range");
}

void
test_too_large ()
{
  /* A valid offer just under the limit passes; one byte over is refused
   * before any JSON parsing. */
  std::string head = "{\"type\":\"offer\",\"sdp\":\"v=0 ";
  std::string tail = "\"}";
  gsize pad = gw::wsproto::MAX_FRAME_SIZE - head.size () - tail.size ();
  std::string at_limit = head + std::string (pad, 'a') + tail;
  g_assert_cmpuint (at_limit.size (), ==, gw::wsproto::MAX_FRAME_SIZE);
  Message m = parse_ok (at_limit);
  g_assert_cmpuint (m.sdp.size (), ==, pad + 4);

  std::string over = head + std::string (pad + 1, 'a') + tail;
  assert_contains (parse_err (over), "too large");
}

/* Mutated frames (fixed seed, bounded count): each is either a message that
 * survives a round trip or refused with a reason; never a crash. */
void
test_mutations ()
{
  const std::string seeds[] = {
    gw::wsproto::serialise (Message::offer (SDP)),
    gw::wsproto::serialise (Message::make_candidate (1, "candidate:1 1 udp 1 10.0.0.1 9 typ host")),
    gw::wsproto::serialise (Message::error (503, "not ready")),
    gw::wsproto::serialise (Message::make_state ("connected")),
    "{\"type\":\"close\"}",
  };
  g_autoptr (GRand) rand = g_rand_new_with_seed (20240611);
  guint accepted = 0, refused = 0;
  for (guint i = 0; i < 5000; i++) {
    std::string f = seeds[i % G_N_ELEMENTS (seeds)];
    guint edits = g_rand_int_range (rand, 1, 4);
    for (guint e = 0; e < edits && !f.empty (); e++) {
      gsize at = g_rand_int_range (rand, 0, (gint32)f.size ());
      switch (g_rand_int_range (rand, 0, 3)) {
      case 0:
        f[at] = (char)g_rand_int_range (rand, 0, 256);
        break;
      case 1:
        f.erase (at, 1);
        break;
      default: {
        static const char alphabet[] = "{}[]\":,\\0-9e";
        f.insert (at, 1, alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)]);
      } break;
      }
    }
    Message m;
    std::string error;
    if (gw::wsproto::parse (f, m, error)) {
      accepted++;
      Message again;
      std::string text = gw::wsproto::serialise (m);
      if (!gw::wsproto::parse (text, again, error)) {
        g_autofree gchar *in = g_strescape (f.c_str (), NULL);
        g_autofree gchar *out = g_strescape (text.c_str (), NULL);
        g_error ("accepted %s but refused its serialisation %s: %s", in, out, error.c_str ());
      }
      g_assert_true (again.type == m.type);
      g_assert_true (again.sdp == m.sdp && again.candidate == m.candidate && again.mline == m.mline
                     && again.reason == m.reason && again.status == m.status);
    } else {
      refused++;
      g_assert_false (error.empty ());
    }
  }
  /* Both outcomes happened: the mutations are neither all fatal nor all
   * harmless. */
  g_assert_cmpuint (accepted, >, 0);
  g_assert_cmpuint (refused, >, 0);
}

} // namespace

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wsproto/offer-answer", test_offer_answer);
  g_test_add_func ("/wsproto/candidate", test_candidate);
  g_test_add_func ("/wsproto/state-error-close", test_state_error_close);
  g_test_add_func ("/wsproto/not-json", test_not_json);
  g_test_add_func ("/wsproto/bad-type", test_bad_type);
  g_test_add_func ("/wsproto/missing-or-wrong-fields", test_missing_or_wrong_fields);
  g_test_add_func ("/wsproto/too-large", test_too_large);
  g_test_add_func ("/wsproto/mutations", test_mutations);
  return g_test_run ();
}
