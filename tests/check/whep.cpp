/* The pure WHEP helpers of gst/signalling/gwwhep.h: request paths, offer
 * mids, trickle fragments and ICE Link headers. No network. */
#include "gwwhep.h"

#include <glib.h>

#include <string>
#include <vector>

namespace {

void
assert_contains (const std::string &s, const std::string &part)
{
  if (s.find (part) == std::string::npos)
    g_error ("\"%s\" does not contain \"%s\"", s.c_str (), part.c_str ());
}

void
test_pure_helpers ()
{
  std::vector<std::string> seg;
  g_assert_true (gw::whep::split_path ("/", seg));
  g_assert_cmpuint (seg.size (), ==, 1);
  g_assert_true (seg[0].empty ());
  seg.clear ();
  g_assert_true (gw::whep::split_path ("/c%61m/whep/", seg));
  g_assert_cmpuint (seg.size (), ==, 3);
  g_assert_cmpstr (seg[0].c_str (), ==, "cam");
  seg.clear ();
  g_assert_false (gw::whep::split_path ("/cam%2fx/", seg)); /* encoded slash */
  seg.clear ();
  g_assert_false (gw::whep::split_path ("/cam%zz/", seg)); /* bad escape */
  seg.clear ();
  g_assert_false (gw::whep::split_path ("cam/", seg));
  /* mids of the offer, then the m-line of each fragment candidate. */
  auto mids = gw::whep::sdp_mids ("v=0\r\nm=video 9 X 96\r\na=mid:v\r\nm=audio 9 X 0\r\n"
                                  "a=mid:a\r\n");
  g_assert_cmpuint (mids.size (), ==, 2);
  g_assert_cmpstr (mids[1].c_str (), ==, "a");
  auto c = gw::whep::frag_candidates (
      "a=ice-ufrag:x\r\na=candidate:0 1 udp 1 1.1.1.1 1 typ host\r\n"
      "m=audio 9 X 0\r\na=mid:a\r\na=candidate:1 1 udp 1 1.1.1.1 2 typ host\r\n"
      "a=end-of-candidates\r\na=mid:7\r\na=candidate:2\r\n",
      mids);
  g_assert_cmpuint (c.size (), ==, 4);
  g_assert_cmpuint (c[0].mline, ==, 0);
  g_assert_cmpstr (c[0].candidate.c_str (), ==, "candidate:0 1 udp 1 1.1.1.1 1 typ host");
  g_assert_cmpuint (c[1].mline, ==, 1);
  g_assert_cmpuint (c[2].mline, ==, 1);
  g_assert_true (c[2].candidate.empty ());
  g_assert_cmpuint (c[3].mline, ==, 7);

  /* What a PATCH must hold: SDP lines, well-formed candidates, at least
   * one candidate or end-of-candidates. */
  std::string error;
  g_assert_true (
      gw::whep::check_frag ("a=ice-ufrag:x\r\nm=video 9 X 96\r\na=mid:0\r\n"
                            "a=candidate:0 1 udp 1 1.1.1.1 1 typ host\r\na=end-of-candidates\r\n",
                            error));
  g_assert_true (gw::whep::check_frag ("a=end-of-candidates\n", error));
  g_assert_false (gw::whep::check_frag ("", error));
  assert_contains (error, "no a=candidate");
  g_assert_false (gw::whep::check_frag ("a=ice-ufrag:x\r\na=ice-pwd:y\r\n", error));
  g_assert_false (gw::whep::check_frag ("garbage\r\n", error));
  assert_contains (error, "line 1 is not an SDP line");
  g_assert_false (gw::whep::check_frag ("a=mid:0\r\na=candidate:2\r\n", error));
  assert_contains (error, "line 2 is not an ICE candidate");

  auto links = gw::whep::ice_links ({ "stun://127.0.0.1:3478" },
                                    { "turns://u%40x:p%22w@[::1]:5349?transport=tcp" });
  g_assert_cmpuint (links.size (), ==, 2);
  g_assert_cmpstr (links[0].c_str (), ==, "<stun:127.0.0.1:3478>; rel=\"ice-server\"");
  g_assert_cmpstr (links[1].c_str (), ==,
                   "<turns:[::1]:5349?transport=tcp>; "
                   "rel=\"ice-server\"; username=\"u@x\"; credential=\"p\\\"w\"; "
                   "credential-type=\"password\"");
}

/* Trickle fragments (RFC 8840) as browsers send them: candidates keep their
 * section and mid (even a mid that follows the candidate), and
 * a=end-of-candidates becomes "". */
void
test_trickle_fragment_parsing ()
{
  const gchar *frag
      = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
        "m=audio 9 RTP/AVP 0\r\na=mid:a0\r\n"
        "a=candidate:1 1 UDP 2130706431 10.0.0.1 8998 typ host\r\n"
        "m=video 9 RTP/AVP 0\r\n"
        "a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.0.1 rport 8998\r\n"
        "a=mid:v1\r\na=end-of-candidates\r\n";
  /* The offer's m-lines in the other order: the mids, not the order of the
   * fragment's sections, decide. */
  std::vector<std::string> mids = { "v1", "a0" };
  auto c = gw::whep::frag_candidates (frag, mids);
  g_assert_cmpuint (c.size (), ==, 3);
  g_assert_cmpuint (c[0].mline, ==, 1); /* a0 */
  g_assert_cmpstr (c[0].candidate.c_str (), ==,
                   "candidate:1 1 UDP 2130706431 10.0.0.1 8998 typ host");
  g_assert_cmpuint (c[1].mline, ==, 0); /* v1, given after the candidate */
  g_assert_true (g_str_has_suffix (c[1].candidate.c_str (), "rport 8998"));
  g_assert_cmpstr (c[2].candidate.c_str (), ==, "");
  std::string error;
  g_assert_true (gw::whep::check_frag (frag, error));

  /* Nothing usable is not a candidate (and the fragment is refused). */
  c = gw::whep::frag_candidates ("garbage\n\n\r\n", mids);
  g_assert_cmpuint (c.size (), ==, 0);
  g_assert_false (gw::whep::check_frag ("garbage\n\n\r\n", error));
}

} // namespace

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/whep/pure-helpers", test_pure_helpers);
  g_test_add_func ("/whep/trickle-fragment-parsing", test_trickle_fragment_parsing);
  return g_test_run ();
}
