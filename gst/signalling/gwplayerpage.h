/* The browser player page served by gwsink at "/" and by the gateway server
 * at "/NAME/".
 *
 * Plain HTML and JavaScript, no external resources. The page receives one
 * stream over WebRTC with WHEP: it POSTs its offer (with its gathered ICE
 * candidates) to the relative URL "whep" (so "/whep" from "/", and
 * "/NAME/whep" from "/NAME/"), applies the 201 answer, plays muted in a
 * <video>, shows the connection state and reconnects (DELETE of the old
 * session, then a new POST) a few seconds after the connection fails or the
 * picture stalls.
 *
 * Test hook: with "?report=URL" in the page address it POSTs, once a second,
 * a text/plain JSON body
 *   {"state": RTCPeerConnection.connectionState, "framesDecoded": N,
 *    "videoWidth": W, "videoHeight": H, "codec": "video/H264"}
 * to URL (fetch mode "no-cors", so no preflight).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The page, a static NUL-terminated UTF-8 string (text/html). */
const char *gw_player_page_html (void);

G_END_DECLS
