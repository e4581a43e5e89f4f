#!/usr/bin/python3
"""A webrtcbin viewer with bundle-policy=max-bundle, offering video and audio.

Its offer carries the audio m-line bundle-only (port 0, a=bundle-only,
RFC 8843): that m-line shares the video's transport and must be served like
any other, not taken for a refused one.

User-visible check, for a camera with H.264 video and Opus audio: the viewer
decodes >= N H.264 frames of 320x240 and Opus audio.
"""

import gwtest as g

FRAMES = 30
AUDIO_FRAMES = 50  # 20 ms Opus frames: one second of decoded audio


def test(procs):
    cam, url = g.start_camera(procs)  # H.264 + Opus
    port = g.free_port()
    gw = g.gst_launch(procs, "gateway",
                      "gwsourcebin name=src location=%s src. ! gwsink name=sink %s"
                      " src. ! sink." % (url, g.gwsink_props(port)), port)
    viewer = g.start_gst_viewers(procs, g.whep_url(port), audio=True)
    g.wait_frames(viewer, FRAMES, 45)
    stats = viewer.wait_stats(
        g.all_viewers(lambda v: v["audio_buffers"] >= AUDIO_FRAMES), 20,
        "%d decoded audio frames" % AUDIO_FRAMES)
    v = stats["viewers"][0]
    g.log("max-bundle webrtcbin: %d frames %dx%d %s, %d audio frames %s"
          % (v["frames"], v["width"], v["height"], v["codec"],
             v["audio_buffers"], v["audio_codec"]))
    g.check(v["codec"] == "H264", "negotiated video codec %r" % v["codec"])
    g.check(v["audio_codec"] == "OPUS",
            "negotiated audio codec %r" % v["audio_codec"])
    g.check(gw.alive(), "the gateway exited")


if __name__ == "__main__":
    g.run_test(test, timeout=90)
