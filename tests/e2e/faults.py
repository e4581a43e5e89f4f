"""Helpers for the camera fault tests (not a test).

The camera (gw-test-camera --fault MODE) plays a fault on SIGUSR1 for a
bounded time and reports it on stdout (FAULT-BEGIN MODE, FAULT-END MODE N
with N the RTP packets it altered); the gateway serves it as an on-demand
path. What a user sees is checked through webrtcbin viewers (frames decoded,
their size, one POST per viewer) and the gateway's API and log.
"""

import signal
import time

import gwtest as g
import test_gateway_lib as gl


def start(procs, camera_args, close_after=2):
    """A camera with `camera_args`, a gateway serving it as path "cam"."""
    cam, url = g.start_camera(procs, args=["--audio", "none"] +
                              list(camera_args))
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\non-demand=true\n"
                  "close-after=%d\n" % (url, close_after))
    gw.start()
    return cam, gw


def play_fault(cam, mode, max_s, min_hits):
    """Starts the camera's fault (SIGUSR1) and waits for its end; checks
    that it really altered at least `min_hits` packets. Returns the
    monotonic time the fault ended."""
    mark = cam.n_lines()
    cam.signal(signal.SIGUSR1)
    cam.wait_line(r"^FAULT-BEGIN %s$" % mode, 5, start=mark)
    t0 = time.monotonic()
    m = cam.wait_line(r"^FAULT-END %s (\d+)$" % mode, max_s, start=mark)
    hits = int(m.group(1))
    g.log("camera fault %s: %d RTP packets altered in %.1f s"
          % (mode, hits, time.monotonic() - t0))
    g.check(hits >= min_hits, "the camera altered only %d packets (%s): the "
            "fault did not happen" % (hits, mode))
    return time.monotonic()


def frames(viewer, i=0):
    s = viewer.latest_stats()
    return s["viewers"][i]["frames"] if s else 0


def check_same_connection(stats):
    for v in stats["viewers"]:
        g.check(v["posts"] == 1 and v["pc"] == "connected",
                "viewer %d: %d POSTs, connection %s (the same connection "
                "must carry on)" % (v["id"], v["posts"], v["pc"]))
