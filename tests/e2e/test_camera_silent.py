#!/usr/bin/python3
"""Cameras that connect and then say nothing: the gateway retries, then plays.

Two always-on paths, each on a camera that misbehaves at first:
- "hung": the camera's port accepts TCP connections and answers nothing for
  12 s (--silent-accept), then serves RTSP normally;
- "mute": the camera answers RTSP (DESCRIBE, SETUP, PLAY) but sends no RTP
  for 14 s (--fault mute --fault-now), then streams.
User-visible checks, for each:
- within 25 s the gateway logs that the source is retrying, with a reason
  (a timeout waiting for the camera), and the path is not ready;
- within 25 s after the camera turns normal the path is ready, and a viewer
  decodes a fluid 320x240 picture;
- SIGTERM: the gateway exits 0 with no CRITICAL/ERROR in its log.
"""

import re
import time

import gwtest as g
import test_gateway_lib as gl


def test(procs):
    hung, hung_url = g.start_camera(procs, name="hung", args=[
        "--audio", "none", "--silent-accept", "12"])
    mute, mute_url = g.start_camera(procs, name="mute", args=[
        "--audio", "none", "--fault", "mute", "--fault-now",
        "--fault-seconds", "14"])
    gw = gl.Gateway(procs)
    gw.write_path("hung", "[path]\nsource=%s\non-demand=false\n" % hung_url)
    gw.write_path("mute", "[path]\nsource=%s\non-demand=false\n" % mute_url)
    gw.start()

    reasons = {}
    for name in ("hung", "mute"):
        _, line = gw.wait_log(r"path %s: source retrying \((.+)\)" % name, 25)
        reasons[name] = re.search(r"source retrying \((.+)\)", line).group(1)
        g.log("path %s retries: %s" % (name, reasons[name]))
    g.check("no data" in reasons["mute"],
            "the mute camera's retry reason: %r" % reasons["mute"])
    ps = gw.paths()
    for name in ("hung", "mute"):
        g.check(ps[name]["state"] != "ready",
                "path %s is ready while its camera is silent: %s"
                % (name, ps[name]))

    hung.wait_line(r"^SILENT-END$", 20)
    t_hung = time.monotonic()
    mute.wait_line(r"^FAULT-END mute \d+$", 20)
    t_mute = time.monotonic()
    for name, t in (("hung", t_hung), ("mute", t_mute)):
        gw.wait_paths(lambda ps, n=name: ps[n]["state"] == "ready",
                      25 - (time.monotonic() - t),
                      "path %s ready within 25 s of its camera turning "
                      "normal" % name)
        g.log("path %s ready %.1f s after its camera turned normal"
              % (name, time.monotonic() - t))
    viewers = [g.start_gst_viewers(procs, gw.whep_url(n), name="viewer-" + n)
               for n in ("hung", "mute")]
    for v in viewers:
        g.wait_frames(v, 15, 30)
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=140)
