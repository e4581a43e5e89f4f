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
    reports = g.ReportServer()
    try:
        page = "http://%s:%d/?report=%s" % (g.GW_IP, port, reports.url)
        browser = g.start_chromium(procs, page)
        r = reports.wait_for(
            lambda r: (r.get("framesDecoded") or 0) > 0
            and r.get("videoWidth") == 320,
            60, "framesDecoded > 0 and videoWidth 320", alive=browser.alive)
        g.log("player page: %s" % r)
        g.check(r.get("videoHeight") == 240, "videoHeight %r"
                % r.get("videoHeight"))
        g.check("h264" in str(r.get("codec")).lower(), "codec %r"
                % r.get("codec"))
        g.check(gw.alive(), "the gateway exited")
    finally:
        reports.close()


if __name__ == "__main__":
    g.run_test(test, timeout=100)
