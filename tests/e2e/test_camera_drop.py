#!/usr/bin/python3
"""The camera goes away and comes back; the viewer's connection survives.

A viewer decodes frames; the camera is stopped (SIGTERM, by PID) for about
3 s, then started again on the same port. User-visible checks: while the
camera is down no new frame is decoded (it really was down), and afterwards
the SAME WebRTC connection (one POST, never a new one) decodes new frames of
320x240 again within a bounded time; the gateway reconnected upstream with
one new RTSP session.
"""

import time

import gwtest as g

FRAMES = 15
OUTAGE_S = 3.0


def frames_of(stats):
    return stats["viewers"][0]["frames"]


def test(procs):
    cam, url = g.start_camera(procs, name="camera1")
    cam_port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    port = g.free_port()
    gw = g.gst_launch(
        procs, "gateway",
        "gwsourcebin location=%s retry-initial=500 retry-max=1000 ! gwsink %s"
        % (url, g.gwsink_props(port)), port)
    viewer = g.start_gst_viewers(procs, g.whep_url(port))
    before = g.wait_frames(viewer, FRAMES, 45)
    g.log("before the drop: %d frames" % frames_of(before))

    rc, clean = cam.stop(timeout=5)
    g.check(clean, "the camera did not stop on SIGTERM")
    g.log("camera stopped (rc=%s)" % rc)
    time.sleep(OUTAGE_S / 2)
    mid = frames_of(viewer.latest_stats())
    time.sleep(OUTAGE_S / 2)
    down = viewer.latest_stats()
    g.log("during the outage: %d then %d frames" % (mid, frames_of(down)))
    g.check(frames_of(down) == mid,
            "frames kept coming while the camera was down (%d -> %d)"
            % (mid, frames_of(down)))
    g.check(gw.alive(), "the gateway exited when the camera went away")
    g.check(down["viewers"][0]["pc"] not in ("failed", "closed"),
            "the viewer's connection is %s" % down["viewers"][0]["pc"])

    cam2, url2 = g.start_camera(procs, port=cam_port, name="camera2")
    g.check(url2 == url, "camera came back at %s, not %s" % (url2, url))
    # A first new frame within 30 s, then a fluid picture again.
    after = g.wait_frames(viewer, FRAMES, 30, after=frames_of(down))
    v = after["viewers"][0]
    g.log("after the camera came back: %d frames, pc=%s, posts=%d"
          % (v["frames"], v["pc"], v["posts"]))
    g.check(v["posts"] == 1, "the viewer posted %d offers" % v["posts"])
    g.check(g.camera_sessions(cam2) == 1,
            "the gateway opened %d RTSP sessions on the restarted camera"
            % g.camera_sessions(cam2))


if __name__ == "__main__":
    g.run_test(test, timeout=110)
