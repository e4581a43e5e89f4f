#!/usr/bin/python3
"""The camera switches from 320x240 to 640x360 while viewers watch.

The camera (--fault resize) renegotiates its encoder to 640x360 on SIGUSR1:
new caps, a new SPS and an IDR. User-visible checks:
- two viewers decode 320x240 before the switch;
- within 20 s after it, both decode a fluid 640x360 picture on the same
  connections (one POST each), and the gateway kept one RTSP session;
- a viewer joining after the switch decodes 640x360;
- SIGTERM: the gateway exits 0 with no CRITICAL/ERROR in its log.
"""

import signal

import faults
import gwtest as g


def test(procs):
    cam, gw = faults.start(procs, ["--fault", "resize",
                                   "--resize", "640x360"])
    viewers = g.start_gst_viewers(procs, gw.whep_url("cam"), count=2,
                                  name="viewers")
    g.wait_frames(viewers, 15, 45)

    mark = cam.n_lines()
    cam.signal(signal.SIGUSR1)
    cam.wait_line(r"^FAULT-BEGIN resize$", 5, start=mark)
    stats = g.wait_frames(viewers, 30, 20, width=640, height=360,
                          after=max(v["frames"] for v in
                                    viewers.latest_stats()["viewers"]))
    faults.check_same_connection(stats)
    g.log("after the switch: %s" % ", ".join(
        "%dx%d" % (v["width"], v["height"]) for v in stats["viewers"]))

    late = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer3")
    g.wait_frames(late, 15, 30, width=640, height=360)
    g.check(g.camera_sessions(cam) == 1,
            "the gateway opened %d RTSP sessions" % g.camera_sessions(cam))
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=120)
