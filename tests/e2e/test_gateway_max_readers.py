#!/usr/bin/python3
"""max-readers=1: the second viewer is refused until the first leaves.

User-visible checks:
- a first viewer decodes 320x240 frames;
- a second WHEP POST gets 503 with a reason naming max-readers, and the
  path still counts one reader (the refused one left nothing behind);
- the first viewer DELETEs its session (200): readers 0;
- a new viewer is then accepted (201) and decodes frames, still over one
  RTSP session at the camera;
- stopped with SIGTERM while the viewer watches, the gateway exits 0,
  having logged no CRITICAL.
"""

import gwtest as g
import test_gateway_lib as gl


def test(procs):
    cam, url = g.start_camera(procs)
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\nmax-readers=1\n" % url)
    gw.start()

    first = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer1")
    s1 = g.wait_frames(first, 15, 40)
    g.check(gw.paths()["cam"]["readers"] == 1, "readers != 1 with one viewer")

    st, _, text, dt = gw.post_offer("cam", timeout=10)
    g.log("second POST: %d %r (%.2f s)" % (st, text, dt))
    g.check(st == 503, "the second POST got %d %r (want 503)" % (st, text))
    g.check("max-readers" in text,
            "the 503 reason does not name max-readers: %r" % text)
    p = gw.paths()["cam"]
    g.check(p["readers"] == 1, "after the refusal GET /v1/paths says %s" % p)
    gl.wait_more_frames(first, 10, 10, "the first viewer keeps decoding")

    st = gw.delete(s1["viewers"][0]["location"])
    g.check(st == 200, "DELETE of the first session: %d" % st)
    gw.wait_paths(lambda ps: ps["cam"]["readers"] == 0, 3,
                  "readers == 0 after the DELETE")

    second = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer2")
    s2 = g.wait_frames(second, 15, 40)
    v = s2["viewers"][0]
    g.check(v["http_status"] == 201, "the new viewer's POST: %s"
            % v["http_status"])
    g.log("new viewer: %d frames %dx%d" % (v["frames"], v["width"],
                                           v["height"]))
    g.check(gw.paths()["cam"]["readers"] == 1, "readers != 1 at the end")
    g.check(g.camera_sessions(cam) == 1,
            "%d RTSP sessions at the camera" % g.camera_sessions(cam))
    # Stopped while a viewer watches.
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=80)
