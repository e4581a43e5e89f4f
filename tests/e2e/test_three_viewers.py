#!/usr/bin/python3
"""Three webrtcbin viewers of one camera through gwsourcebin ! gwsink.

User-visible checks: each viewer decodes >= N H.264 frames of 320x240, and
the camera saw exactly one RTSP session for the three (one upstream,
whatever the number of viewers). Each viewer's DELETE is accepted.
"""

import gwtest as g

FRAMES = 30


def test(procs):
    cam, url = g.start_camera(procs)
    port = g.free_port()
    gw = g.gst_launch(procs, "gateway", "gwsourcebin location=%s ! gwsink %s"
                      % (url, g.gwsink_props(port)), port)
    viewers = g.start_gst_viewers(procs, g.whep_url(port), count=3)
    stats = g.wait_frames(viewers, FRAMES, 45)
    for v in stats["viewers"]:
        g.log("viewer %d: %d frames %dx%d %s (%s), first frame after %s s"
              % (v["id"], v["frames"], v["width"], v["height"], v["codec"],
                 v["profile"], v["first_frame_s"]))
        g.check(v["codec"] == "H264", "viewer %d codec %r" % (v["id"],
                                                             v["codec"]))
        g.check(v["posts"] == 1 and v["http_status"] == 201,
                "viewer %d: posts=%s status=%s" % (v["id"], v["posts"],
                                                   v["http_status"]))
    g.check(gw.alive(), "the gateway exited")
    sessions = g.camera_sessions(cam)
    g.check(sessions == 1, "the camera saw %d RTSP sessions for three viewers"
            " (expected exactly one)" % sessions)

    # Leaving: each viewer DELETEs its session, which must be accepted.
    viewers.stop()
    final = viewers.latest_stats()
    for v in final["viewers"]:
        g.check(v["deleted"] in (200, 204),
                "viewer %d: DELETE %s answered %r" % (v["id"], v["location"],
                                                      v["deleted"]))
    g.check(gw.alive(), "the gateway exited after the viewers left")
    sessions = g.camera_sessions(cam)
    g.check(sessions == 1, "the camera saw %d RTSP sessions (expected one)"
            % sessions)


if __name__ == "__main__":
    g.run_test(test, timeout=100)
