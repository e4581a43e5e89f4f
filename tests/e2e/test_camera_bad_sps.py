#!/usr/bin/python3
"""A camera sends truncated SPS and PPS for 8 s; viewers resume after.

The camera (--fault bad-sps) cuts every SPS NAL unit to 4 bytes and every
PPS to its NAL header for 8 s (the slices in between are intact).
User-visible checks:
- a viewer decodes 320x240 before;
- a second viewer joins while only broken parameter sets arrive: the
  gateway answers it (201) and does not crash;
- within 20 s after valid SPS/PPS return, both viewers decode a fluid
  320x240 picture, each on its one connection (one POST);
- a second path whose camera sends only broken in-band SPS/PPS from its
  first packet on (--fault-now, 8 s) is started by a viewer in that time:
  the viewer decodes 320x240 within 25 s of the fault's end (in practice at
  once: the camera's SDP still carries valid sprop-parameter-sets, as real
  cameras' do, and the broken in-band ones do no harm);
- SIGTERM: the gateway exits 0 with no CRITICAL/ERROR in its log.
"""

import signal

import faults
import gwtest as g


def test(procs):
    cam, gw = faults.start(procs, ["--fault", "bad-sps",
                                   "--fault-seconds", "8"])
    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer1")
    g.wait_frames(viewer, 15, 45)

    mark = cam.n_lines()
    cam.signal(signal.SIGUSR1)
    cam.wait_line(r"^FAULT-BEGIN bad-sps$", 5, start=mark)
    # Joins while the parameter sets are broken.
    late = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer2")
    late.wait_stats(g.all_viewers(lambda v: v["http_status"] is not None),
                    20, "an answer to the POST during the bad SPS")
    m = cam.wait_line(r"^FAULT-END bad-sps (\d+)$", 20, start=mark)
    hits = int(m.group(1))
    g.check(hits >= 4, "the camera altered only %d SPS/PPS" % hits)
    g.log("camera cut %d SPS/PPS NAL units" % hits)
    g.check(gw.alive(), "the gateway crashed on a truncated SPS")
    s = late.latest_stats()["viewers"][0]
    g.check(s["http_status"] == 201, "viewer2 got HTTP %s" % s["http_status"])

    for v in (viewer, late):
        stats = g.wait_frames(v, 30, 20, after=faults.frames(v))
        faults.check_same_connection(stats)
    g.log("both viewers decode after valid SPS/PPS returned")

    # A source that starts while its parameter sets are broken.
    cam2, url2 = g.start_camera(procs, name="camera2", args=[
        "--audio", "none", "--fault", "bad-sps", "--fault-now",
        "--fault-seconds", "8"])
    gw.write_path("cam2", "[path]\nsource=%s\non-demand=true\n"
                  "start-timeout=20\n" % url2)
    gw.wait_paths(lambda ps: "cam2" in ps, 10, "path cam2 added")
    v3 = g.start_gst_viewers(procs, gw.whep_url("cam2"), name="viewer3")
    m = cam2.wait_line(r"^FAULT-END bad-sps (\d+)$", 30)
    g.check(int(m.group(1)) >= 4, "camera2 altered only %s SPS/PPS"
            % m.group(1))
    g.wait_frames(v3, 30, 25)
    s3 = v3.latest_stats()["viewers"][0]
    g.log("viewer3 (source started with broken SPS): HTTP %s, first frame "
          "after %.1f s" % (s3["http_status"], s3["first_frame_s"]))
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=120)
