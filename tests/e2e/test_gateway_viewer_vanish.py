#!/usr/bin/python3
"""A viewer that vanishes without DELETE is cleaned up within a bound.

An on-demand path (close-after=2) with two viewers in two processes. The
first viewer's process is killed with SIGKILL: no DELETE, no DTLS close, its
ICE agent simply goes silent. User-visible checks:
- within 60 s GET /v1/paths and /metrics show one reader and one session,
  and the gateway logs that the viewer's connection failed or is gone.
  (ICE in GStreamer 1.22 notices a silent peer only through its keepalive
  connectivity checks, sent every 25 s, which then time out: about 48 s
  measured here. Without those checks (libnice's keepalive-conncheck) the
  connection stays "connected" forever and this test fails.)
- the other viewer keeps decoding all along;
- when the second viewer is killed too, readers and sessions go to 0 within
  60 s and the camera's RTSP session ends (the on-demand source closes);
- SIGTERM: the gateway exits 0 with no CRITICAL/ERROR in its log.
"""

import signal
import time

import gwtest as g
import test_gateway_lib as gl

BOUND_S = 60


def wait_readers(gw, n, t0, what):
    gw.wait_paths(lambda ps: ps["cam"]["readers"] == n,
                  BOUND_S - (time.monotonic() - t0), what)
    m = gw.metrics()
    g.check(m.get('gw_readers{path="cam"}') == n and m.get("gw_sessions") == n,
            "/metrics after %s: readers %s, sessions %s (want %d)"
            % (what, m.get('gw_readers{path="cam"}'), m.get("gw_sessions"), n))
    dt = time.monotonic() - t0
    g.log("%s: %.1f s" % (what, dt))
    return dt


def test(procs):
    cam, url = g.start_camera(procs, args=["--audio", "none"])
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\non-demand=true\nclose-after=2\n"
                  % url)
    gw.start()
    a = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewerA")
    b = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewerB")
    g.wait_frames(a, 15, 45)
    g.wait_frames(b, 15, 45)
    gw.wait_paths(lambda ps: ps["cam"]["readers"] == 2, 5, "2 readers")

    mark = gw.n_log()
    a.stop(sig=signal.SIGKILL)
    t0 = time.monotonic()
    b_frames = gl.frames(b)
    wait_readers(gw, 1, t0, "one reader left after SIGKILL of viewer A")
    gw.wait_log(r"viewer gone|: failed", 2, start=mark)
    g.check(gl.frames(b) > b_frames + 30,
            "viewer B stopped decoding while A's session was cleaned up "
            "(%d -> %d frames)" % (b_frames, gl.frames(b)))
    gl.wait_more_frames(b, 15, 10, "viewer B still decodes")

    cam_mark = cam.n_lines()
    b.stop(sig=signal.SIGKILL)
    t1 = time.monotonic()
    wait_readers(gw, 0, t1, "no reader after SIGKILL of viewer B")
    cam.wait_line(r"^SESSION-END 0$", 10, start=cam_mark)
    gw.wait_paths(lambda ps: ps["cam"]["state"] == "idle", 5, "path idle")
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=150)
