#!/usr/bin/python3
"""Headless Chromium on gwsink's player page.

User-visible checks: GET / serves an HTML page; on it, Chromium (reporting
its own getStats and the <video> element) decodes frames, 320x240, H.264.
"""

import gwtest as g


def test(procs):
    cam, url = g.start_camera(procs)
    port = g.free_port()
    gw = g.gst_launch(procs, "gateway", "gwsourcebin location=%s ! gwsink %s"
                      % (url, g.gwsink_props(port)), port)
    st, hdrs, body = g.http_request("GET", "http://%s:%d/" % (g.GW_IP, port))
    g.check(st == 200 and hdrs.get("content-type", "").startswith("text/html"),
            "GET / answered %s %r" % (st, hdrs.get("content-type")))
    g.chromium_plays(procs, "http://%s:%d/" % (g.GW_IP, port), 320, 240)
    g.check(gw.alive(), "the gateway exited")


if __name__ == "__main__":
    g.run_test(test, timeout=100)
