#!/usr/bin/python3
"""An aiortc viewer (an independent WebRTC stack) through gwsourcebin ! gwsink.

aiortc's default offer for audio+video is BUNDLE with its own ICE
credentials and candidates on each m-line (it gathers per m-line before it
knows whether the answer bundles); webrtcbin alone refuses such an offer.

User-visible checks, for a camera with H.264 video and Opus audio:
  - a video-only aiortc viewer decodes >= N H.264 frames of 320x240;
  - aiortc's default audio+video offer is answered 201 with both streams,
    and the viewer decodes >= N video frames of 320x240 and Opus audio.
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

    video_only = g.start_aiortc_viewer(procs, g.whep_url(port),
                                       name="aiortc-video")
    stats = g.wait_frames(video_only, FRAMES, 45)
    v = stats["viewers"][0]
    g.log("aiortc video-only: %d frames %dx%d codec %s, first frame after %s s"
          % (v["frames"], v["width"], v["height"], v["codec"],
             v["first_frame_s"]))
    g.check(v["codec"] == "H264", "negotiated codec %r" % v["codec"])
    video_only.stop()

    both = g.start_aiortc_viewer(procs, g.whep_url(port), audio=True,
                                 name="aiortc-av")
    stats = g.wait_frames(both, FRAMES, 45)
    stats = both.wait_stats(
        g.all_viewers(lambda v: v["audio_buffers"] >= AUDIO_FRAMES), 20,
        "%d decoded audio frames" % AUDIO_FRAMES)
    v = stats["viewers"][0]
    g.log("aiortc audio+video: HTTP %s, %d frames %dx%d codec %s, "
          "%d audio frames %s"
          % (v["http_status"], v["frames"], v["width"], v["height"],
             v["codec"], v["audio_buffers"], v["audio_codec"]))
    g.check(v["http_status"] == 201, "POST answered %r" % v["http_status"])
    g.check(v["codec"] == "H264", "negotiated video codec %r" % v["codec"])
    g.check(v["audio_codec"] == "OPUS",
            "negotiated audio codec %r" % v["audio_codec"])
    g.check(gw.alive(), "the gateway exited")


if __name__ == "__main__":
    g.run_test(test, timeout=110)
