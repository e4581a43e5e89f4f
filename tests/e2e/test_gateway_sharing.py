#!/usr/bin/python3
"""One on-demand path, three viewers, one RTSP session at the camera.

The gateway serves one camera as an on-demand path with close-after=2.
User-visible checks:
- before anyone watches, the camera sees no RTSP session (2 s of quiet) and
  the path is idle;
- three WebRTC viewers (webrtcbin, WHEP) each decode fluid 320x240 video,
  and the camera has exactly one RTSP session for the three of them;
- GET /v1/paths shows 3 readers, then 2, 1, 0 as each viewer DELETEs its
  session (200 each);
- the camera session ends after close-after (2 s) and not before (not
  earlier than 1.5 s after the last DELETE, at most 10 s after it), and the
  path is idle again;
- SIGTERM: the gateway exits 0, having logged no CRITICAL.
"""

import time

import gwtest as g
import test_gateway_lib as gl

CLOSE_AFTER = 2
VIEWERS = 3


def test(procs):
    cam, url = g.start_camera(procs)
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\non-demand=true\n"
                  "close-after=%d\n" % (url, CLOSE_AFTER))
    gw.start()

    # Nobody watches: an on-demand path leaves the camera alone.
    time.sleep(2.0)
    g.check(g.camera_sessions(cam) == 0,
            "the camera got %d RTSP sessions before any viewer"
            % g.camera_sessions(cam))
    p = gw.paths()["cam"]
    g.check(p["state"] == "idle" and p["readers"] == 0 and p["on_demand"],
            "before any viewer the path is %s" % p)

    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"), count=VIEWERS,
                                 extra=["--stagger", "0.3"])
    stats = g.wait_frames(viewer, 15, 45)
    for v in stats["viewers"]:
        g.check(v["http_status"] == 201 and v["posts"] == 1,
                "viewer %d: POST status %s after %d posts"
                % (v["id"], v["http_status"], v["posts"]))
    g.log("three viewers decode: %s" % ", ".join(
        "%d frames %dx%d" % (v["frames"], v["width"], v["height"])
        for v in stats["viewers"]))
    g.check(g.camera_sessions(cam) == 1,
            "%d RTSP sessions at the camera for %d viewers (want 1)"
            % (g.camera_sessions(cam), VIEWERS))
    p = gw.paths()["cam"]
    g.check(p["readers"] == VIEWERS and p["state"] == "ready",
            "with %d viewers GET /v1/paths says %s" % (VIEWERS, p))

    # Each viewer leaves (WHEP DELETE); the readers count goes down.
    cam_mark = cam.n_lines()
    t_last = None
    for i, v in enumerate(stats["viewers"]):
        g.check(v["location"], "viewer %d has no session URL" % v["id"])
        st = gw.delete(v["location"])
        t_last = time.monotonic()
        g.check(st == 200, "DELETE %s: %d" % (v["location"], st))
        want = VIEWERS - 1 - i
        gw.wait_paths(lambda ps, n=want: ps["cam"]["readers"] == n, 3,
                      "readers == %d after %d DELETEs" % (want, i + 1))
        g.log("after DELETE %d: readers %d" % (i + 1, want))

    # The camera session ends after close-after, not before.
    g.check(not any(l.startswith("SESSION-END")
                    for l in cam.lines()[cam_mark:]),
            "the camera session ended as soon as the viewers left")
    t_end = gl.wait_camera_line(cam, r"^SESSION-END ", CLOSE_AFTER + 8,
                                cam_mark)
    dt = t_end - t_last
    g.log("camera session ended %.2f s after the last DELETE "
          "(close-after=%d)" % (dt, CLOSE_AFTER))
    g.check(dt >= CLOSE_AFTER - 0.5,
            "the camera session ended %.2f s after the last viewer left, "
            "before close-after=%d s" % (dt, CLOSE_AFTER))
    g.check(g.camera_sessions(cam) == 1,
            "the camera saw %d sessions in all" % g.camera_sessions(cam))
    gw.wait_paths(lambda ps: ps["cam"]["state"] == "idle", 3,
                  "the path idle again")
    # The DELETEd viewers get nothing more.
    before = viewer.latest_stats()
    time.sleep(1.5)
    after = viewer.latest_stats()
    for a, b in zip(before["viewers"], after["viewers"]):
        g.check(a["frames"] == b["frames"],
                "viewer %d still decodes after its DELETE" % a["id"])
    g.check(gw.alive(), "the gateway exited")
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=100)
