/* libFuzzer target: one websocket text frame from a client through
 * gw::wsproto::parse(). Besides memory errors it checks the codec's contract
 * (server/wsproto.h): a refusal carries a reason, and whatever is accepted
 * serialises to a frame that parses back to the same message. */
#include <glib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>

#include "wsproto.h"

using gw::wsproto::Message;

namespace {

void
check (bool ok, const char *what, const std::string &detail = "")
{
  if (!ok) {
    fprintf (stderr, "fuzz_wsproto: invariant broken: %s %s\n", what, detail.c_str ());
    abort ();
  }
}

bool
init ()
{
  g_log_set_always_fatal (
      (GLogLevelFlags)(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING));
  return true;
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static bool inited = init ();
  (void)inited;

  Message m;
  std::string error;
  if (!gw::wsproto::parse (reinterpret_cast<const char *> (data), size, m, error)) {
    check (!error.empty (), "refused without a reason");
    return 0;
  }
  std::string text = gw::wsproto::serialise (m);
  Message again;
  std::string error2;
  check (gw::wsproto::parse (text, again, error2),
         "accepted, but its serialisation is refused:", error2 + " in " + text);
  check (again.type == m.type && again.sdp == m.sdp && again.mline == m.mline
             && again.candidate == m.candidate && again.state == m.state && again.status == m.status
             && again.reason == m.reason,
         "round trip changed the message:", text);
  return 0;
}
