/* gwsink: serves the encoded streams it is fed to browsers over WebRTC.
 *
 *   gst-launch-1.0 videotestsrc is-live=true ! x264enc tune=zerolatency ! h264parse ! gwsink
 *   then open http://HOST:8889/
 *
 * A bin with request sink pads video_%u (H.264 or H.265 byte-stream, one
 * access unit per buffer) and audio_%u (Opus, mu-law, A-law). Each input
 * goes through a fan-out (gwstream.h); each viewer is a gwreaderbin
 * attached to every fan-out. An embedded HTTP server (libsoup, on its own
 * thread and main context, so it works without a GMainLoop in the
 * application) serves:
 *
 *   GET    /            the player page (gwplayerpage.h)
 *   POST   /whep        WHEP: an SDP offer in, 201 + answer + Location out
 *   PATCH  /whep/<id>   trickle ICE (application/trickle-ice-sdpfrag)
 *   DELETE /whep/<id>   end of the session
 *   OPTIONS             CORS preflight
 *
 * Bus: an element message "gwsink-viewer" (event "joined"/"left", id,
 * viewers) on every viewer change. A failing viewer never posts an ERROR.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GW_TYPE_SINK (gw_sink_get_type ())
G_DECLARE_FINAL_TYPE (GwSink, gw_sink, GW, SINK, GstBin)

G_END_DECLS
