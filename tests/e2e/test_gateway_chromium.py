#!/usr/bin/python3
"""Headless Chromium plays a camera through the gateway's player page.

User-visible checks: the index at / links the path; /cam/ is an HTML page;
on it, Chromium (reporting its own getStats and the <video> element)
decodes H.264 frames of the camera's 320x240, over one RTSP session. Then
both streams went out through the path's shared sender. Then
it plays the shipped demo path (pipelines/demo.pipeline, what the README's
quick start serves) at its 640x360.
"""

import os

import gwtest as g
import test_gateway_lib as gl


def test(procs):
    cam, url = g.start_camera(procs)
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\non-demand=true\n" % url)
    with open(os.path.join(os.environ["GW_SOURCE_DIR"], "pipelines", "demo.pipeline")) as f:
        gw.write_path("demo", f.read())
    gw.start()

    st, _, body = g.http_request("GET", gw.base_url() + "/")
    g.check(st == 200 and 'href="/cam/"' in body.decode(),
            "the index does not link /cam/: %s" % st)
    g.chromium_plays(procs, gw.base_url() + "/cam/", 320, 240)
    g.check(gw.paths()["cam"]["readers"] == 1,
            "the path does not count the browser as its reader")
    g.check(g.camera_sessions(cam) == 1,
            "%d camera sessions for one browser" % g.camera_sessions(cam))
    gw.check_no_criticals("while Chromium played")
    # The browser's packets came from the path's shared sender (one
    # packetizer and SRTP/UDP send loop for all viewers), not from a
    # per-viewer webrtcbin send path.
    shared = [l for l in gw.log() if "sent by the shared sender" in l]
    g.check(any("video_0" in l for l in shared) and any("audio_0" in l for l in shared),
            "the browser's video and audio were not sent by the shared sender: %s" % shared)

    g.chromium_plays(procs, gw.base_url() + "/demo/", 640, 360)
    gw.check_no_criticals("while Chromium played the demo")

if __name__ == "__main__":
    g.run_test(test, timeout=100)
