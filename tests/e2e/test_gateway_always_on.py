#!/usr/bin/python3
"""An always-on path: connects without viewers, survives a camera crash.

The path (on-demand=false) points at a camera that is DOWN when the gateway
starts. User-visible checks:
- while the camera is down the path is not ready and the gateway serves;
- the camera is started 3 s later: it gets an RTSP session although nobody
  watches (readers 0), and the path becomes ready;
- a viewer decodes 320x240 frames;
- the camera is killed (SIGKILL: a crash, no TEARDOWN): the viewer's picture
  stops; the camera is started again on the same port: the SAME viewer
  connection (one POST) decodes new frames again, over one new RTSP
  session;
- stopped with SIGTERM while the viewer watches, the gateway exits 0,
  having logged no CRITICAL.
"""

import signal
import time

import gwtest as g
import test_gateway_lib as gl


def test(procs):
    cam_port = g.free_port()
    url = gl.camera_url_on(cam_port)
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\non-demand=false\n" % url)
    gw.start()
    gw.wait_log(r"path cam: starting its source", 5)

    time.sleep(3.0)
    p = gw.paths()["cam"]
    g.check(p["state"] != "ready" and p["readers"] == 0,
            "with the camera down the path is %s" % p)
    g.log("camera down: path %s" % p)

    cam, url2 = g.start_camera(procs, port=cam_port, name="camera1")
    g.check(url2 == url, "camera at %s, not %s" % (url2, url))
    cam.wait_line(r"^SESSION-NEW ", 40)
    g.log("the camera got a session with no viewer")
    gw.wait_paths(lambda ps: ps["cam"]["state"] == "ready"
                  and ps["cam"]["readers"] == 0, 15,
                  "the always-on path ready without readers")

    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"))
    before = g.wait_frames(viewer, 15, 30)
    g.check(g.camera_sessions(cam) == 1,
            "%d RTSP sessions at the camera" % g.camera_sessions(cam))

    rc, _ = cam.stop(timeout=5, sig=signal.SIGKILL)
    g.log("camera killed (rc=%s)" % rc)
    down = gl.assert_frozen(viewer, 1.5, "the camera is dead")
    g.check(gw.alive(), "the gateway exited when the camera died")

    cam2, url3 = g.start_camera(procs, port=cam_port, name="camera2")
    g.check(url3 == url, "camera back at %s, not %s" % (url3, url))
    after = g.wait_frames(viewer, 15, 40, after=down)
    v = after["viewers"][0]
    g.log("after the camera came back: %d frames (%d before the crash), "
          "pc=%s, posts=%d" % (v["frames"], before["viewers"][0]["frames"],
                               v["pc"], v["posts"]))
    g.check(v["posts"] == 1, "the viewer posted %d offers" % v["posts"])
    g.check(g.camera_sessions(cam2) == 1,
            "%d RTSP sessions at the restarted camera"
            % g.camera_sessions(cam2))
    p = gw.paths()["cam"]
    g.check(p["state"] == "ready" and p["readers"] == 1,
            "after the camera came back the path is %s" % p)
    # Stopped while a viewer watches.
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=110)
