#!/usr/bin/python3
"""An on-demand path whose camera is down: 503 after start-timeout, then OK.

The path points at a camera that is not running, with start-timeout=2.
User-visible checks:
- a WHEP POST waits for the source, then gets 503 with a reason naming
  start-timeout, 1.5 to 6.5 s after it was sent;
- the gateway keeps serving meanwhile and afterwards (GET / and
  GET /v1/paths answer 200; the path is idle with no reader);
- once the camera runs, the next viewer tries again: it decodes 320x240
  frames, over one RTSP session at the camera;
- stopped with SIGTERM while the viewer watches, the gateway exits 0,
  having logged no CRITICAL.
"""

import threading
import time

import gwtest as g
import test_gateway_lib as gl

START_TIMEOUT = 2


def test(procs):
    cam_port = g.free_port()
    url = gl.camera_url_on(cam_port)
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\non-demand=true\n"
                  "start-timeout=%d\nclose-after=2\n" % (url, START_TIMEOUT))
    gw.start()

    # The POST blocks (the main loop does not): GET / answers meanwhile.
    result = {}

    def post():
        try:
            result["r"] = gw.post_offer("cam", timeout=30)
        except Exception as e:  # reported below
            result["e"] = e
    t = threading.Thread(target=post, daemon=True)
    t.start()
    time.sleep(0.8)
    st, _, body = gw.get("/")
    g.check(st == 200, "GET / while a viewer waits for the source: %d" % st)
    p = gw.paths()["cam"]
    g.check(p["state"] == "starting" and p["readers"] == 1,
            "while the POST waits the path is %s" % p)
    t.join(35)
    g.check(not t.is_alive(), "the WHEP POST got no answer in 35 s")
    g.check("e" not in result, "the WHEP POST failed: %s" % result.get("e"))
    st, hdrs, text, dt = result["r"]
    g.log("POST with the camera down: %d %r after %.2f s" % (st, text, dt))
    g.check(st == 503, "POST with the camera down: %d %r (want 503)"
            % (st, text))
    g.check("start-timeout" in text,
            "the 503 reason does not mention start-timeout: %r" % text)
    g.check(START_TIMEOUT - 0.5 <= dt <= START_TIMEOUT + 4.5,
            "the 503 came %.2f s after the POST (start-timeout=%d)"
            % (dt, START_TIMEOUT))
    g.check(gw.alive(), "the gateway exited after the start timeout")
    st, _, body = gw.get("/")
    g.check(st == 200 and b"cam" in body,
            "GET / after the start timeout: %d" % st)
    gw.wait_paths(lambda ps: ps["cam"]["readers"] == 0
                  and ps["cam"]["state"] == "idle", 5,
                  "the path idle without readers after the timeout")

    # The camera comes up: the next reader starts the source again.
    cam, url2 = g.start_camera(procs, port=cam_port)
    g.check(url2 == url, "camera at %s, not %s" % (url2, url))
    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"))
    stats = g.wait_frames(viewer, 15, 40)
    v = stats["viewers"][0]
    g.log("viewer after the camera came up: %d frames %dx%d"
          % (v["frames"], v["width"], v["height"]))
    g.check(v["http_status"] == 201, "POST: %s" % v["http_status"])
    g.check(g.camera_sessions(cam) == 1,
            "%d RTSP sessions at the camera" % g.camera_sessions(cam))
    p = gw.paths()["cam"]
    g.check(p["state"] == "ready" and p["readers"] == 1,
            "with one viewer the path is %s" % p)
    # Stopped while a viewer watches.
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=80)
