/* libFuzzer target: an SDP offer from a client, as the WHEP and websocket
 * handlers get it, through gw_sdp_parse() and, when it parses, gw_sdp_choose()
 * for an H.264 + Opus stream (both orders), then the caps we would send with.
 * Besides memory errors it checks what the callers rely on: a refusal comes
 * with a GError, a choice names a distinct existing m-line and a valid PT. */
#include <gst/gst.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "gwsdp.h"

namespace {

GwStreamFormat h264, opus;

void
check (bool ok, const char *what)
{
  if (!ok) {
    fprintf (stderr, "fuzz_sdp: invariant broken: %s\n", what);
    abort ();
  }
}

GwStreamFormat
format_of (const char *caps_str)
{
  GwStreamFormat f;
  GstCaps *caps = gst_caps_from_string (caps_str);
  check (caps && gw_stream_format_from_caps (caps, &f), caps_str);
  gst_caps_unref (caps);
  return f;
}

bool
init ()
{
  /* No plugin is needed: skip the registry scan. A critical or warning from
   * GLib on any input is a bug (never g_assert on input). */
  g_setenv ("GST_REGISTRY_DISABLE", "yes", TRUE);
  gst_init (NULL, NULL);
  g_log_set_always_fatal (
      (GLogLevelFlags)(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING));
  h264 = format_of ("video/x-h264, stream-format=byte-stream, alignment=au, "
                    "profile=high, level=(string)4");
  opus = format_of ("audio/x-opus");
  return true;
}

void
choose (const GstSDPMessage *offer, const GwStreamFormat *streams, guint n)
{
  GwOfferChoice choices[2];
  gboolean chosen[2];
  memset (choices, 0xa5, sizeof (choices));
  guint placed = gw_sdp_choose (offer, streams, n, choices, chosen);
  check (placed <= n, "more streams placed than asked for");
  guint count = 0;
  for (guint i = 0; i < n; i++) {
    if (!chosen[i])
      continue;
    count++;
    check (choices[i].mline < gst_sdp_message_medias_len (offer), "m-line out of range");
    check (choices[i].pt <= 127, "payload type out of range");
    for (guint j = 0; j < i; j++)
      check (!chosen[j] || choices[j].mline != choices[i].mline, "m-line used twice");
    const gchar *plid = NULL;
    if (streams[i].codec == GW_CODEC_H264) {
      plid = choices[i].profile_level_id;
      check (strlen (plid) == 6 && strspn (plid, "0123456789abcdef") == 6,
             "profile-level-id is not 6 hex digits");
    }
    GstCaps *caps = gw_sdp_rtp_caps (&streams[i], choices[i].pt, plid);
    check (caps != NULL, "no RTP caps for a chosen stream");
    gst_caps_unref (caps);
  }
  check (count == placed, "return value does not match chosen[]");
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static bool inited = init ();
  (void)inited;

  /* The SDP reaches us as a C string (a JSON or HTTP body): up to a NUL. */
  std::string text (reinterpret_cast<const char *> (data), size);
  GError *err = NULL;
  GstSDPMessage *offer = gw_sdp_parse (text.c_str (), &err);
  if (!offer) {
    check (err != NULL && err->message && *err->message, "refused without a GError");
    g_error_free (err);
    return 0;
  }
  check (err == NULL, "parsed but set a GError");

  const GwStreamFormat av[2] = { h264, opus };
  const GwStreamFormat va[2] = { opus, h264 };
  choose (offer, av, 2);
  choose (offer, va, 2);
  gst_sdp_message_free (offer);
  return 0;
}
