#!/usr/bin/python3
"""An aiortc viewer (an independent WebRTC stack) through gwsourcebin ! gwsink.

User-visible check: it decodes >= N H.264 frames of 320x240.
"""

import gwtest as g

FRAMES = 30


def test(procs):
    cam, url = g.start_camera(procs)
    port = g.free_port()
    gw = g.gst_launch(procs, "gateway", "gwsourcebin location=%s ! gwsink %s"
                      % (url, g.gwsink_props(port)), port)
    viewer = g.start_aiortc_viewer(procs, g.whep_url(port))
    stats = g.wait_frames(viewer, FRAMES, 45)
    v = stats["viewers"][0]
    g.log("aiortc: %d frames %dx%d codec %s, first frame after %s s"
          % (v["frames"], v["width"], v["height"], v["codec"],
             v["first_frame_s"]))
    g.check(v["codec"] == "H264", "negotiated codec %r" % v["codec"])
    g.check(gw.alive(), "the gateway exited")


if __name__ == "__main__":
    g.run_test(test, timeout=80)
