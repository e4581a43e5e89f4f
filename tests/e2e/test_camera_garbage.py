#!/usr/bin/python3
"""A camera sends garbage RTP for 6 s; the gateway survives, viewers resume.

The camera (--fault garbage) mangles every third video RTP packet for 6 s,
in turn: RTP version 0, a header cut to 7 bytes, random payload bytes, an
unknown payload type, a FU-A start of random NAL bytes, an empty payload.
User-visible checks:
- a viewer decodes 320x240 before the garbage;
- the gateway does not crash and answers its API during the garbage;
- within 20 s after the garbage stops the SAME viewer connection (one POST)
  decodes a fluid 320x240 picture again;
- a viewer joining after the garbage decodes too;
- SIGTERM: the gateway exits 0 with no CRITICAL/ERROR in its log.
"""

import time

import faults
import gwtest as g


def test(procs):
    cam, gw = faults.start(procs, ["--fault", "garbage",
                                   "--fault-seconds", "6"])
    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer1")
    g.wait_frames(viewer, 15, 45)

    faults.play_fault(cam, "garbage", 15, min_hits=20)
    g.check(gw.alive(), "the gateway crashed on garbage RTP")
    p = gw.paths()["cam"]
    g.check(p["readers"] == 1, "after the garbage the path is %s" % p)

    base = faults.frames(viewer)
    stats = g.wait_frames(viewer, 30, 20, after=base)
    faults.check_same_connection(stats)
    g.log("after the garbage viewer1 decodes again: %d frames"
          % faults.frames(viewer))

    late = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer2")
    g.wait_frames(late, 15, 30)
    g.check(g.camera_sessions(cam) == 1,
            "the gateway opened %d RTSP sessions" % g.camera_sessions(cam))
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=120)
